import GanglionCore

/// One condition of a rule as `explain` shows it: its text, its value when the rule fired,
/// and for a condition joined by `and` or `or`, each part the same way.
public struct ConditionValue: Sendable, Equatable, CustomStringConvertible {
  /// As written (a part: as written inside the condition).
  public var condition: String
  /// `.null` (unknown) also when the value cannot be known; `reason` then says why.
  public var value: Value
  /// Why the value is unknown when the log cannot tell it; nil otherwise.
  public var reason: String?
  /// The operands of a top-level `and` or `or` (parentheses around the whole dropped), each
  /// split the same way; empty for anything else.
  public var parts: [ConditionValue]

  public init(condition: String, value: Value, reason: String? = nil, parts: [ConditionValue] = []) {
    self.condition = condition
    self.value = value
    self.reason = reason
    self.parts = parts
  }

  public var description: String {
    "\(condition) => \(value.isNull ? "unknown" : JSON.encode(value))\(reason.map { " (\($0))" } ?? "")"
  }
}

/// What the event log tells of the signals at an instant (just before a rule fired): what
/// `RuleSet.explainConditions` evaluates a rule's conditions against.
public struct SignalSnapshot: Sendable {
  /// One event of a signal, as window functions see it.
  public struct Reading: Sendable {
    public var time: Timestamp
    public var value: Value
    /// Whether it changed the signal's value (`changed()`).
    public var changed: Bool

    public init(time: Timestamp, value: Value, changed: Bool) {
      self.time = time
      self.value = value
      self.changed = changed
    }
  }

  /// The signals' values; a signal missing here was unknown (or, without `start`, is not in
  /// the log any more).
  public var values: [String: Value] = [:]
  /// When each signal's last event was (`age()`).
  public var lastEventTimes: [String: Timestamp] = [:]
  /// Each signal's events since the daemon started, start-up readings excepted (what window
  /// functions read), oldest first. Events older than any window need may be left out.
  public var histories: [String: [Reading]] = [:]
  /// When the daemon's run started, if the log still holds its `start` event. Nil when the
  /// ring dropped it: then a signal without an event here is not known, and windows reach
  /// back only to `oldestTime`.
  public var start: Timestamp?
  /// The time of the oldest event the log holds.
  public var oldestTime: Timestamp?

  public init() {}
}

extension RuleSet {
  /// How far back window functions read over `signal` in any rule (zero for none): how much
  /// history a `SignalSnapshot` needs to keep of it.
  public func windowLength(ofSignal signal: String) -> Duration {
    guard let slot = slots[signal], slot < retention.count else { return .zero }
    return .microseconds(retention[slot])
  }

  /// A rule's `when` (if it has one) and `if` conditions as they were when it fired at
  /// `time`, with the signal values, event times and window histories of `snapshot`, in the
  /// zone of `context`; each condition joined by `and`/`or` with its parts.
  ///
  /// Never contradicts the log, which says the rule fired: a value that reads something the
  /// log no longer holds (a signal whose events the ring dropped, a window reaching before
  /// the oldest event, the `on` event that fired it) is unknown, with the reason; a `when` or
  /// `if` that does not hold with the rule as it is now is unknown, "the rule changed since
  /// it fired", and its parts are not shown.
  /// - Parameter binding: `value`, `previous`, `signal` of an `on` rule's trigger event; nil
  ///   when that event is not in the log any more.
  /// - Returns: nil for a rule of another name.
  public func explainConditions(
    ofRule name: String, firedAt time: Timestamp, snapshot: SignalSnapshot, context: EngineContext,
    binding: (value: Value, previous: Value, signal: String)? = nil
  ) -> [ConditionValue]? {
    guard let rule = rules.first(where: { $0.name == name }) else { return nil }
    let state = EvalState(slotCount: slotNames.count, context: context)
    state.now = time.microseconds
    for (signal, value) in snapshot.values {
      guard let slot = slots[signal] else { continue }
      state.values[slot] = value
      state.lastEventTime[slot] = snapshot.lastEventTimes[signal]?.microseconds ?? Int64.min
    }
    for (slot, window) in retention.enumerated() where window > 0 {
      let history = SignalHistory(retention: window)
      for reading in snapshot.histories[slotNames[slot]] ?? [] where reading.time <= time {
        history.append(time: reading.time.microseconds, value: reading.value, changed: reading.changed)
      }
      history.prune(now: time.microseconds)
      state.histories[slot] = history
    }
    if let binding {
      state.boundValue = binding.value
      state.boundPrevious = binding.previous
      state.boundSignal = .string(binding.signal)
    }
    state.ruleName = rule.name
    let explainer = ConditionExplainer(
      rules: self, rule: rule, state: state, snapshot: snapshot, time: time, hasBinding: binding != nil)
    var out: [ConditionValue] = []
    if let whenText = rule.whenText { out.append(explainer.explainFiring(whenText)) }
    for text in rule.summary.conditions { out.append(explainer.explainFiring(text)) }
    return out
  }
}

/// Evaluates the parts of one rule's conditions against a prepared state.
private struct ConditionExplainer {
  let rules: RuleSet
  let rule: Rule
  let state: EvalState
  let snapshot: SignalSnapshot
  let time: Timestamp
  let hasBinding: Bool

  /// A top-level `when` or `if`: it held when the rule fired, so it is shown as holding, or as
  /// unknown with the reason.
  func explainFiring(_ text: String) -> ConditionValue {
    var explained = explain(text)
    if explained.reason == nil, explained.value != .bool(true) {
      explained = ConditionValue(
        condition: text, value: .null,
        reason: "it held when the rule fired, but not with the rule as it is now: the rule changed since it fired")
    }
    return explained
  }

  func explain(_ text: String) -> ConditionValue {
    var compiler = ExpressionCompiler(
      scope: Scope(catalog: rules.catalog, slots: rules.slots, bindingType: rule.bindingType))
    guard
      let compiled = compiler.compile(
        text, origin: TextOrigin(base: SourceLocation(file: "", line: 1, column: 1)), role: "a condition")
    else {
      return ConditionValue(condition: text, value: .null, reason: "it does not compile with the rules as they are now")
    }
    let parts = ConditionParts.split(text).map(explain)
    if let reason = unknowable(compiler.dependencies, text: text) {
      return ConditionValue(condition: text, value: .null, reason: reason, parts: parts)
    }
    return ConditionValue(condition: text, value: compiled.eval(state), parts: parts)
  }

  /// Why what an expression reads is not in the log, if it is not.
  func unknowable(_ dependencies: Dependencies, text: String) -> String? {
    let read = dependencies.reads.union(dependencies.ages).union(dependencies.windows.map(\.slot))
    let lost = read.map { rules.slotNames[$0] }.filter { snapshot.start == nil && snapshot.values[$0] == nil }.sorted()
    if !lost.isEmpty {
      return "\(lost.joined(separator: ", ")) \(lost.count == 1 ? "is" : "are") no longer in the log "
        + "(the ring dropped the events before the rule fired)"
    }
    if snapshot.start == nil, let oldest = snapshot.oldestTime {
      for window in dependencies.windows.sorted(by: { $0.slot < $1.slot })
      where time.microseconds - window.microseconds < oldest.microseconds {
        let length = Duration.microseconds(window.microseconds).compactDescription
        return "the log no longer holds the \(length) of \(rules.slotNames[window.slot]) before the rule fired"
      }
    }
    if rule.bindingType != nil, !hasBinding, ConditionParts.readsBinding(text) {
      return "the event that fired the rule is no longer in the log"
    }
    return nil
  }
}

/// Splits a condition at its top-level `or`s, else its top-level `and`s, by its tokens.
enum ConditionParts {
  /// The operands as written, or none for a condition that is not an `and` or `or` (parentheses
  /// around the whole are looked through).
  static func split(_ text: String) -> [String] {
    let scalars = Array(text.unicodeScalars)
    guard let tokens = try? Lexer(text).tokenize() else { return [] }
    func substring(_ range: Range<Int>) -> String {
      String(String.UnicodeScalarView(scalars[range])).trimmingASCIIWhitespace()
    }
    for keyword in ["or", "and"] {
      var depth = 0
      var cuts: [Token] = []
      for token in tokens {
        switch token.kind {
        case .leftParen, .leftBracket: depth += 1
        case .rightParen, .rightBracket: depth -= 1
        case .identifier(let name) where name == keyword && depth == 0: cuts.append(token)
        default: break
        }
      }
      guard !cuts.isEmpty else { continue }
      var parts: [String] = []
      var start = 0
      for cut in cuts {
        parts.append(substring(start..<cut.offset))
        start = cut.offset + keyword.unicodeScalars.count
      }
      parts.append(substring(start..<scalars.count))
      return parts
    }
    // `(a or b)`: the parentheses enclose everything.
    guard tokens.count >= 3, case .leftParen = tokens[0].kind, case .end = tokens[tokens.count - 1].kind,
      case .rightParen = tokens[tokens.count - 2].kind
    else { return [] }
    var depth = 0
    for token in tokens.dropLast(2) {
      if case .leftParen = token.kind { depth += 1 }
      if case .rightParen = token.kind { depth -= 1 }
      if depth == 0 { return [] }  // the first parenthesis closes before the end
    }
    return split(substring(tokens[0].offset + 1..<tokens[tokens.count - 2].offset))
  }

  /// Whether the text names `value`, `previous` or `signal` (an `on` rule's trigger event).
  static func readsBinding(_ text: String) -> Bool {
    guard let tokens = try? Lexer(text).tokenize() else { return false }
    return tokens.contains { token in
      if case .identifier(let name) = token.kind { return ["value", "previous", "signal"].contains(name) }
      return false
    }
  }
}
