import GanglionCore

/// A running `for` or `after` countdown, as the daemon persists it so that it survives a
/// restart (rules.md: "Timers survive restarts and reloads").
public struct PendingTimer: Sendable, Hashable {
  public enum Kind: Sendable, Hashable {
    /// The `for` of a `when` rule.
    case `for`
    /// The rule's `after` action number `n` (in the order they appear in the rule, nested included).
    case after(Int)
  }

  public var rule: String
  /// The rule's text hash when the countdown started: a rule whose text changed does not resume it.
  public var ruleHash: UInt64
  public var kind: Kind
  /// The absolute deadline.
  public var deadline: Timestamp
  /// `for`: the event that made the condition true; `after`: the rule's `fired` event.
  public var cause: UInt64?
  /// `after` in an `on` rule: the trigger event's `value`, `previous` and `signal`.
  public var value: Value
  public var previous: Value
  public var signal: String?

  public init(
    rule: String, ruleHash: UInt64, kind: Kind, deadline: Timestamp, cause: UInt64?, value: Value = .null,
    previous: Value = .null, signal: String? = nil
  ) {
    self.rule = rule
    self.ruleHash = ruleHash
    self.kind = kind
    self.deadline = deadline
    self.cause = cause
    self.value = value
    self.previous = previous
    self.signal = signal
  }

  /// As JSON, for the event log: `{"rule", "hash" (hex), "kind" ("for"/"after"), "after" (n),
  /// "deadline" (RFC 3339), "cause", "value", "previous", "signal"}`.
  public var jsonValue: Value {
    var members: [String: Value] = [
      "rule": .string(rule), "hash": .string(String(ruleHash, radix: 16)),
      "deadline": .string(deadline.iso8601), "cause": cause.map { .number(Double($0)) } ?? .null,
    ]
    switch kind {
    case .for: members["kind"] = "for"
    case .after(let n):
      members["kind"] = "after"
      members["after"] = .number(Double(n))
      members["value"] = value
      members["previous"] = previous
      members["signal"] = signal.map { .string($0) } ?? .null
    }
    return .object(members)
  }

  /// Reads what `jsonValue` writes; nil for anything else.
  public init?(jsonValue: Value) {
    guard let rule = jsonValue["rule"]?.stringValue, let hashText = jsonValue["hash"]?.stringValue,
      let hash = UInt64(hashText, radix: 16), let deadlineText = jsonValue["deadline"]?.stringValue,
      let deadline = Timestamp(iso8601: deadlineText), let kindText = jsonValue["kind"]?.stringValue
    else { return nil }
    let kind: Kind
    switch kindText {
    case "for": kind = .for
    case "after":
      guard let n = jsonValue["after"]?.numberValue.flatMap({ Int(exactly: $0) }), n >= 0 else { return nil }
      kind = .after(n)
    default: return nil
    }
    self.init(
      rule: rule, ruleHash: hash, kind: kind, deadline: deadline,
      cause: jsonValue["cause"]?.numberValue.flatMap { UInt64(exactly: $0) }, value: jsonValue["value"] ?? .null,
      previous: jsonValue["previous"] ?? .null, signal: jsonValue["signal"]?.stringValue)
  }
}
