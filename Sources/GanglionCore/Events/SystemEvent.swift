/// What a `system` event records (events.md: start, stop, reload, rule loop), as one type:
/// the daemon, the engine and the log readers make and recognize them here, never by
/// comparing strings of their own. On disk and on the wire a system event's `value` is
/// `{"event": NAME, ...fields}`.
public enum SystemEvent: Sendable, Equatable {
  /// The daemon started (`simulated`: on the simulated board; `rules`: how many rules).
  case start(simulated: Bool, rules: Int)
  /// The daemon stopped cleanly.
  case stop
  /// A reload was accepted.
  case reload(rules: Int)
  /// A reload was refused; the running rules stay.
  case reloadRejected(errors: Int)
  /// A chain of rule events was stopped (rules.md "Loops are stopped"), naming the rules.
  case ruleLoop(rules: [String])
  /// The kernel dropped edges of a GPIO input because they came faster than they were read:
  /// `count` of them (libgpiod 2.x counts exactly), or nil when only a full queue was seen
  /// (1.x: some may have been lost).
  case edgesLost(signal: String, count: Int?)

  /// The `event` name of each kind, as it appears in the log.
  public enum Name: String, Sendable, CaseIterable {
    case start, stop, reload
    case reloadRejected = "reload rejected"
    case ruleLoop = "rule loop"
    case edgesLost = "edges lost"
  }

  public var name: Name {
    switch self {
    case .start: .start
    case .stop: .stop
    case .reload: .reload
    case .reloadRejected: .reloadRejected
    case .ruleLoop: .ruleLoop
    case .edgesLost: .edgesLost
    }
  }

  /// The event's `value`.
  public var value: Value {
    var fields: [String: Value] = ["event": .string(name.rawValue)]
    switch self {
    case .start(let simulated, let rules):
      fields["simulated"] = .bool(simulated)
      fields["rules"] = .number(Double(rules))
    case .stop:
      break
    case .reload(let rules):
      fields["rules"] = .number(Double(rules))
    case .reloadRejected(let errors):
      fields["errors"] = .number(Double(errors))
    case .ruleLoop(let rules):
      fields["rules"] = .array(rules.map { .string($0) })
    case .edgesLost(let signal, let count):
      fields["signal"] = .string(signal)
      fields["count"] = count.map { .number(Double($0)) } ?? .null
    }
    return .object(fields)
  }

  /// Reads a system event's `value` back; nil for a value no known kind wrote.
  public init?(_ value: Value) {
    guard let text = value["event"]?.stringValue, let name = Name(rawValue: text) else { return nil }
    switch name {
    case .start:
      self = .start(
        simulated: value["simulated"]?.boolValue ?? false, rules: Int(value["rules"]?.numberValue ?? 0))
    case .stop:
      self = .stop
    case .reload:
      self = .reload(rules: Int(value["rules"]?.numberValue ?? 0))
    case .reloadRejected:
      self = .reloadRejected(errors: Int(value["errors"]?.numberValue ?? 0))
    case .ruleLoop:
      self = .ruleLoop(rules: value["rules"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    case .edgesLost:
      self = .edgesLost(
        signal: value["signal"]?.stringValue ?? "", count: value["count"]?.numberValue.map { Int($0) })
    }
  }
}

extension Event {
  /// A `system` event (source `system`) recording `happening`.
  public init(time: Timestamp, system happening: SystemEvent, cause: UInt64? = nil) {
    self.init(time: time, kind: .system, value: happening.value, source: .system, cause: cause)
  }

  /// What this event records, if it is a system event of a known kind.
  public var systemEvent: SystemEvent? {
    guard kind == .system else { return nil }
    return SystemEvent(value)
  }

  /// The name of the system event this is, without decoding its fields.
  public var systemEventName: SystemEvent.Name? {
    guard kind == .system, let text = value["event"]?.stringValue else { return nil }
    return SystemEvent.Name(rawValue: text)
  }
}
