/// One human line per event, for the console (`run --print-events`, `log tail`).
public enum EventFormatter {
  public static func line(_ event: Event) -> String {
    let head = "#\(event.seq) \(event.time.iso8601)"
    let cause = event.cause.map { " (cause #\($0))" } ?? ""
    switch event.kind {
    case .signal:
      let by = event.rule.map { "rule \($0)" } ?? event.source.rawValue
      return "\(head) \(event.signal ?? "?") = \(display(event.value)) [\(by)]\(cause)"
    case .fired:
      return "\(head) fired \(event.rule ?? "?")\(event.late ? " (late)" : "")\(cause)"
    case .publish:
      let topic = TopicName.display(event.value["topic"]?.stringValue ?? "?")
      let payload = display(event.value["payload"] ?? .null)
      if let refusal = event.publishRefusal {
        return "\(head) publish NOT SENT \(topic) \(payload): \(refusal)\(cause)"
      }
      return "\(head) publish \(topic) \(payload)\(cause)"
    case .log:
      return "\(head) log [\(event.rule ?? "?")] \(event.value.plainText)\(cause)"
    case .system:
      return "\(head) system \(JSON.encode(event.value))"
    case .deadLetter:
      return
        "\(head) dead letter \(TopicName.display(event.value["topic"]?.stringValue ?? "?")): \(event.value["reason"]?.plainText ?? "?")"
    }
  }

  public static func display(_ value: Value) -> String {
    switch value {
    case .null: "unknown"
    case .string(let s): JSON.encode(.string(s))
    default: value.plainText
    }
  }
}

/// Prints events one per line in `seq` order (`run --print-events`, `log tail`), and says so
/// when an event's time is earlier than an event printed before it: a debounced GPIO edge
/// keeps the time of its first edge (config.md, `debounce`), and is logged only once the
/// debounce period has passed, after events that happened meanwhile.
public struct EventLines: Sendable {
  /// The event with the latest time printed so far.
  private var latest: (seq: UInt64, time: Timestamp)?

  public init() {}

  /// The line of `event` (`EventFormatter.line`), with `(earlier than #N by D: ...)` when an
  /// event printed before it has a later time.
  public mutating func line(_ event: Event) -> String {
    var line = EventFormatter.line(event)
    if let latest, event.time < latest.time {
      line += "  (earlier than #\(latest.seq) by \((latest.time - event.time).compactDescription)"
      let debounced = event.kind == .signal && (event.source == .gpio || event.source == .simulator)
      line += debounced ? ": the time of its first edge, kept through debounce)" : ")"
    } else {
      latest = (event.seq, event.time)
    }
    return line
  }
}
