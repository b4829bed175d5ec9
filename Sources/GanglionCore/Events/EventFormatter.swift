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
