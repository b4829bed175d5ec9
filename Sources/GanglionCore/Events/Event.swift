/// What an event records (events.md `kind`).
public enum EventKind: String, Sendable, Hashable, CaseIterable {
  /// A signal changed or was updated.
  case signal
  /// A rule fired: `rule` names it, `cause` the event that triggered it.
  case fired
  /// A rule's `publish` action; `value` is `{"topic", "payload", "qos", "retain"}`, plus
  /// `"sent": false` and `"error"` when the topic was refused and nothing was sent.
  case publish
  /// A rule's `log` action; `value` is the message.
  case log
  /// Start, stop, reload, rule loop...; `value` is `{"event": ..., ...}`.
  case system
  /// Rejected input; `value` is `{"topic", "payload", "reason"}`.
  case deadLetter = "dead_letter"
}

/// Where an event came from (events.md `source`).
public enum EventSource: String, Sendable, Hashable, CaseIterable {
  case gpio, mqtt, rule, command, simulator, system
}

/// One event: the unit of the log, the engine, and MQTT output.
///
/// `seq` is assigned by the event log when the event is appended; an event that has not
/// been appended yet has `seq == 0`.
public struct Event: Hashable, Sendable {
  public var seq: UInt64
  public var time: Timestamp
  public var kind: EventKind
  public var signal: String?
  public var value: Value
  public var previous: Value
  public var source: EventSource
  public var cause: UInt64?
  public var rule: String?
  /// On `fired` events: the timer that fired it was due while the daemon was down.
  public var late: Bool

  public init(
    seq: UInt64 = 0, time: Timestamp, kind: EventKind = .signal, signal: String? = nil,
    value: Value = .null, previous: Value = .null, source: EventSource, cause: UInt64? = nil,
    rule: String? = nil, late: Bool = false
  ) {
    self.seq = seq
    self.time = time
    self.kind = kind
    self.signal = signal
    self.value = value
    self.previous = previous
    self.source = source
    self.cause = cause
    self.rule = rule
    self.late = late
  }

  /// For a `publish` event that was refused before anything was sent (`"sent": false`): why.
  public var publishRefusal: String? {
    guard kind == .publish, value["sent"] == .bool(false) else { return nil }
    return value["error"]?.stringValue ?? "refused"
  }

  /// `<device>:<seq>`, the globally unique id subscribers deduplicate by.
  public func id(device: String) -> String { "\(device):\(seq)" }

  /// The JSON of events.md, keys in the documented order.
  public func json(device: String) -> String {
    var bytes: [UInt8] = []
    writeJSON(device: device, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Appends the UTF-8 of `json(device:)` to `out`, without building a String on the way.
  public func writeJSON(device: String, to out: inout [UInt8]) {
    out.reserveCapacity(out.count + 200)
    out.append(contentsOf: #"{"seq":"#.utf8)
    JSON.writeDecimal(seq, to: &out)
    out.append(contentsOf: #","id":""#.utf8)
    JSON.writeStringContent(device, to: &out)
    out.append(UInt8(ascii: ":"))
    JSON.writeDecimal(seq, to: &out)
    out.append(contentsOf: #"","time":""#.utf8)
    time.writeISO8601(to: &out)
    out.append(contentsOf: #"","kind":""#.utf8)
    out.append(contentsOf: kind.rawValue.utf8)
    out.append(contentsOf: #"","signal":"#.utf8)
    if let signal { JSON.writeString(signal, to: &out) } else { out.append(contentsOf: "null".utf8) }
    out.append(contentsOf: #","value":"#.utf8)
    JSON.write(value, to: &out)
    out.append(contentsOf: #","previous":"#.utf8)
    JSON.write(previous, to: &out)
    out.append(contentsOf: #","source":""#.utf8)
    out.append(contentsOf: source.rawValue.utf8)
    out.append(contentsOf: #"","cause":"#.utf8)
    if let cause { JSON.writeDecimal(cause, to: &out) } else { out.append(contentsOf: "null".utf8) }
    out.append(contentsOf: #","rule":"#.utf8)
    if let rule { JSON.writeString(rule, to: &out) } else { out.append(contentsOf: "null".utf8) }
    if late { out.append(contentsOf: #","late":true"#.utf8) }
    out.append(UInt8(ascii: "}"))
  }

  /// Reads the JSON that `json(device:)` writes.
  /// - Throws: `JSON.ParseError` for bad JSON, `EventDecodingError` for a bad record.
  public init(json text: String) throws {
    let value = try JSON.parse(text)
    try self.init(jsonValue: value)
  }

  public init(jsonValue value: Value) throws(EventDecodingError) {
    guard case .object(let o) = value else { throw EventDecodingError(reason: "not an object") }
    // UInt64(exactly:) rather than UInt64(_:), which traps on a negative, fractional or huge
    // number from a damaged record.
    guard let seq = o["seq"]?.numberValue.flatMap({ UInt64(exactly: $0) }) else {
      throw EventDecodingError(reason: "missing or bad seq")
    }
    guard let timeText = o["time"]?.stringValue, let time = Timestamp(iso8601: timeText) else {
      throw EventDecodingError(reason: "missing or bad time")
    }
    guard let kindText = o["kind"]?.stringValue, let kind = EventKind(rawValue: kindText) else {
      throw EventDecodingError(reason: "missing or bad kind")
    }
    guard let sourceText = o["source"]?.stringValue, let source = EventSource(rawValue: sourceText) else {
      throw EventDecodingError(reason: "missing or bad source")
    }
    self.init(
      seq: seq, time: time, kind: kind, signal: o["signal"]?.stringValue,
      value: o["value"] ?? .null, previous: o["previous"] ?? .null, source: source,
      cause: o["cause"]?.numberValue.flatMap { UInt64(exactly: $0) }, rule: o["rule"]?.stringValue,
      late: o["late"]?.boolValue ?? false)
  }
}

public struct EventDecodingError: Error, Sendable, CustomStringConvertible {
  public var reason: String
  public init(reason: String) { self.reason = reason }
  public var description: String { "bad event record: \(reason)" }
}

/// Signal names: lower-case dotted segments of `[a-z0-9_-]`, 1 to 128 characters.
public enum SignalName {
  public static func isValid(_ name: String) -> Bool {
    guard (1...128).contains(name.utf8.count) else { return false }
    var segmentLength = 0
    for byte in name.utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "_"), UInt8(ascii: "-"):
        segmentLength += 1
      case UInt8(ascii: "."):
        if segmentLength == 0 { return false }
        segmentLength = 0
      default:
        return false
      }
    }
    return segmentLength > 0
  }

  /// Device and rule names: `[a-z0-9_-]+`.
  public static func isValidIdentifier(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.count <= 128
      && name.utf8.allSatisfy {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
          || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
      }
  }
}
