import GanglionCore
import GanglionLog
import GanglionRules

/// The chain of causes of one logged event, back to its input.
public struct Explanation: Sendable {
  /// A rule firing, with what its conditions saw.
  public struct Firing: Sendable {
    public var rule: String
    /// The rule's `fired` event, when it is still in the log.
    public var fired: Event?
    /// The rule as it is now; nil when the current rules have no rule of that name (its
    /// conditions are then not evaluated).
    public var summary: RuleSummary?
    /// The `when` expression (if any) and each `if` condition, as they were when the rule
    /// fired (the signal values, event times and windows as logged, local time in the
    /// device's zone), each `and`/`or` with its parts; unknown, with the reason, where the log
    /// cannot tell (`RuleSet.explainConditions`).
    public var conditions: [ConditionValue]
    /// The signals the rule reads, with those values.
    public var values: [(signal: String, value: Value)]
    /// Of those, the ones whose value the log no longer holds (the ring dropped their events).
    public var lostSignals: [String] = []
    /// Set when this is the firing of an `after` whose countdown ran out (`30s`): its actions
    /// run without checking conditions; the firing that started it is the next step.
    public var afterDelay: String?
  }

  public struct Step: Sendable {
    public var event: Event
    /// The firing that made this event; nil for inputs, system events, and events whose
    /// firing is the next step's (the `fired` event itself is in the chain).
    public var firing: Firing?
  }

  /// From the event asked about back to its input (or the timer that started the chain).
  public var steps: [Step]
  /// A cause the chain could not follow: no longer in the log (the ring wrapped).
  public var missingCause: UInt64?
  /// Why the event asked about was not (all) sent over MQTT: a rule publish refused for its
  /// topic, or the MQTT client's refusals recorded after it (`publish failed` events).
  public var notSent: [String] = []
  /// Whether rules were at hand to evaluate conditions with.
  public var hasRules: Bool
}

public struct ExplainError: Error, Sendable, CustomStringConvertible {
  public var description: String
}

/// Explains logged events by their `cause` chains and the rules behind them.
public struct Explainer: Sendable {
  /// The current rules; nil to explain without conditions (no configuration at hand).
  public let rules: RuleSet?
  public let device: String
  public let prefix: String?
  /// The device's zone (recorded beside its log), for the rules' local time.
  public let timeZone: any TimeZoneRules

  /// A chain longer than this is cut (causes always point back, so it ends anyway).
  public static let maximumSteps = 256
  /// How many events after the one asked about are searched for `publish failed` records
  /// naming it (the client refuses a message when the outbox hands it over, usually at once).
  public static let refusalSearchWindow: UInt64 = 10_000

  public init(
    rules: RuleSet?, device: String, prefix: String? = nil, timeZone: any TimeZoneRules = FixedOffsetZone.utc
  ) {
    self.rules = rules
    self.device = device
    self.prefix = prefix
    self.timeZone = timeZone
  }

  /// Blocks on file I/O (reads the log up to the event, once).
  /// - Throws: `ExplainError` if the log holds no event `seq`; the log's read errors.
  public func explain(seq: UInt64, reader: LogReader) throws -> Explanation {
    guard let target = try reader.events(fromSeq: seq, toSeq: seq).first else {
      let range = try Self.range(reader)
      throw ExplainError(description: "event #\(seq) is not in the log (it holds \(range))")
    }
    var chain = [target]
    var missing: UInt64?
    while chain.count < Self.maximumSteps, let cause = chain.last!.cause, cause < chain.last!.seq {
      guard let event = try reader.events(fromSeq: cause, toSeq: cause).first else {
        missing = cause
        break
      }
      chain.append(event)
    }

    // The `fired` event behind each rule-made event whose firing is not the next step.
    var firedEvents: [Int: Event] = [:]
    for (index, event) in chain.enumerated() where event.source == .rule && event.rule != nil && event.seq > 0 {
      if event.kind == .fired {
        firedEvents[index] = event
        continue
      }
      if index + 1 < chain.count, chain[index + 1].kind == .fired, chain[index + 1].rule == event.rule { continue }
      let from = event.cause ?? 0
      var found: Event?
      for candidate in try reader.events(fromSeq: from, toSeq: event.seq - 1)
      where candidate.kind == .fired && candidate.rule == event.rule && candidate.cause == event.cause {
        found = candidate
      }
      if let found { firedEvents[index] = found }
    }

    let snapshots = try snapshots(before: Set(firedEvents.values.map(\.seq)), reader: reader)
    var steps: [Explanation.Step] = []
    for (index, event) in chain.enumerated() {
      var step = Explanation.Step(event: event)
      if let rule = event.rule, event.source == .rule,
        !(event.kind != .fired && index + 1 < chain.count && chain[index + 1].kind == .fired
          && chain[index + 1].rule == rule)
      {
        let fired = firedEvents[index]
        let trigger = fired.flatMap { f in chain.first { $0.seq == f.cause } }
        step.firing = firing(rule: rule, fired: fired, trigger: trigger, snapshot: fired.flatMap { snapshots[$0.seq] })
      }
      steps.append(step)
    }
    var explanation = Explanation(steps: steps, missingCause: missing, hasRules: rules != nil)
    explanation.notSent = try Self.refusals(of: target, reader: reader)
    return explanation
  }

  /// Why `event`'s MQTT messages were not sent, if they were not: its own refusal (a rule
  /// publish to an invalid topic), and the `publish failed` events that name it as cause.
  static func refusals(of event: Event, reader: LogReader) throws -> [String] {
    var found: [String] = []
    if let refusal = event.publishRefusal {
      found.append("\"\(TopicName.display(event.value["topic"]?.stringValue ?? ""))\": \(refusal)")
    }
    let cursor = try reader.cursor(fromSeq: event.seq + 1, toSeq: event.seq + refusalSearchWindow)
    while let later = try cursor.next() {
      guard later.cause == event.seq, case .publishFailed(let topic, let error)? = later.systemEvent else { continue }
      found.append("\"\(TopicName.display(topic))\": \(error) (#\(later.seq))")
    }
    return found
  }

  private func firing(rule: String, fired: Event?, trigger: Event?, snapshot: SignalSnapshot?) -> Explanation.Firing {
    var firing = Explanation.Firing(
      rule: rule, fired: fired, summary: rules?.summary(ofRule: rule), conditions: [], values: [],
      afterDelay: fired?.value["after"]?.stringValue)
    guard firing.afterDelay == nil, let rules, let summary = firing.summary, let fired, let snapshot else {
      return firing
    }
    let context = EngineContext(
      device: device, prefix: prefix, startTime: snapshot.start ?? fired.time, timeZone: timeZone)
    var binding: (value: Value, previous: Value, signal: String)?
    if let trigger, trigger.kind == .signal, let signal = trigger.signal {
      binding = (trigger.value, trigger.previous, signal)
    }
    firing.conditions =
      rules.explainConditions(
        ofRule: rule, firedAt: fired.time, snapshot: snapshot, context: context, binding: binding) ?? []
    firing.values = summary.reads.map { ($0, snapshot.values[$0] ?? .null) }
    if snapshot.start == nil { firing.lostSignals = summary.reads.filter { snapshot.values[$0] == nil } }
    return firing
  }

  /// What the log tells of the signals just before each of `seqs`: their values, when their
  /// last events were, and (for signals the rules read over windows) their events since the
  /// daemon started, as long ago as the longest window needs. A daemon `start` clears them:
  /// the daemon logs the values it starts with right after.
  func snapshots(before seqs: Set<UInt64>, reader: LogReader) throws(LogError) -> [UInt64: SignalSnapshot] {
    guard let last = seqs.max() else { return [:] }
    var snapshots: [UInt64: SignalSnapshot] = [:]
    var current = SignalSnapshot()
    var windows: [String: Duration] = [:]
    let cursor = try reader.cursor(fromSeq: 0, toSeq: last)
    while let event = try cursor.next() {
      if current.oldestTime == nil { current.oldestTime = event.time }
      if seqs.contains(event.seq) { snapshots[event.seq] = current }
      if event.source == .system, event.systemEventName == .start {
        let oldest = current.oldestTime
        current = SignalSnapshot()
        current.start = event.time
        current.oldestTime = oldest
      } else if event.kind == .signal, let signal = event.signal {
        let previous = current.values[signal] ?? .null
        current.values[signal] = event.value
        current.lastEventTimes[signal] = event.time
        // Start-up readings are not in windows (the engine restores them).
        guard event.source != .system else { continue }
        if windows[signal] == nil { windows[signal] = rules?.windowLength(ofSignal: signal) ?? .zero }
        guard let window = windows[signal], window > .zero else { continue }
        var history = current.histories[signal] ?? []
        history.append(SignalSnapshot.Reading(time: event.time, value: event.value, changed: event.value != previous))
        // Keep what the longest window can still see (and drop in bulk, not one by one).
        if let first = history.first, first.time <= event.time - window - window {
          history.removeAll { $0.time <= event.time - window }
        }
        current.histories[signal] = history
      }
    }
    return snapshots
  }

  static func range(_ reader: LogReader) throws -> String {
    let first = try reader.cursor().next()
    let last = try reader.last(1).first
    guard let first, let last else { return "no events" }
    return "#\(first.seq) to #\(last.seq)"
  }
}

extension Explanation {
  /// For people: one block per step, from the event asked about back to its input.
  public func lines(device: String) -> [String] {
    var out: [String] = []
    for (index, step) in steps.enumerated() {
      let event = step.event
      var line = EventFormatter.line(event)
      if index == steps.count - 1, event.cause == nil {
        line += event.source == .rule ? "  <- timer" : event.source == .system ? "" : "  <- input"
      }
      out.append(line)
      if index == 0 { out += notSent.map { "    not sent to \($0)" } }
      guard let firing = step.firing else { continue }
      guard let summary = firing.summary else {
        out.append(
          hasRules
            ? "    rule \(firing.rule): not in the current rules (its conditions cannot be shown)"
            : "    rule \(firing.rule) (no configuration given: its conditions are not shown)")
        continue
      }
      if let delay = firing.afterDelay {
        out.append("    rule \(firing.rule) (\(summary.location)): its `after: \(delay)` ran out")
        continue
      }
      out.append("    rule \(firing.rule) (\(summary.location)): \(summary.trigger)")
      if firing.fired == nil { out.append("    (its fired event is no longer in the log)") }
      func show(_ condition: ConditionValue, indent: String) {
        var line = "\(indent)\(condition.condition)  =>  \(EventFormatter.display(condition.value))"
        if let reason = condition.reason { line += " (\(reason))" }
        out.append(line)
        for part in condition.parts { show(part, indent: indent + "  ") }
      }
      for condition in firing.conditions { show(condition, indent: "      ") }
      if !firing.values.isEmpty {
        out.append(
          "      with "
            + firing.values.map { value in
              firing.lostSignals.contains(value.signal)
                ? "\(value.signal) = unknown (no longer in the log)"
                : "\(value.signal) = \(EventFormatter.display(value.value))"
            }.joined(separator: ", "))
      }
    }
    if let missingCause {
      out.append("#\(missingCause) is no longer in the log (the log is a ring: older events were dropped)")
    }
    return out
  }

  /// `{"condition", "value"}`, with `"reason"` when the value cannot be known and `"parts"`
  /// for an `and` or `or`.
  static func json(_ condition: ConditionValue) -> Value {
    var object: [String: Value] = ["condition": .string(condition.condition), "value": condition.value]
    if let reason = condition.reason { object["reason"] = .string(reason) }
    if !condition.parts.isEmpty { object["parts"] = .array(condition.parts.map(json)) }
    return .object(object)
  }

  /// `{"seq", "chain": [{"event": {...}, "rule": {...} | null}], "missing_cause", "not_sent"}`.
  public func json(device: String) -> String {
    var chain: [Value] = []
    for step in steps {
      var item: [String: Value] = ["event": (try? JSON.parse(step.event.json(device: device))) ?? .null]
      if let firing = step.firing {
        var rule: [String: Value] = [
          "name": .string(firing.rule),
          "fired": firing.fired.map { .number(Double($0.seq)) } ?? .null,
          "conditions": .array(firing.conditions.map(Self.json)),
          "values": .object(Dictionary(firing.values.map { ($0.signal, $0.value) }, uniquingKeysWith: { a, _ in a })),
        ]
        if let delay = firing.afterDelay { rule["after"] = .string(delay) }
        if !firing.lostSignals.isEmpty { rule["lost"] = .array(firing.lostSignals.map(Value.string)) }
        if let summary = firing.summary {
          rule["trigger"] = .string(summary.trigger)
          rule["location"] = .string(summary.location.description)
        }
        item["rule"] = .object(rule)
      } else {
        item["rule"] = .null
      }
      chain.append(.object(item))
    }
    let document: Value = .object([
      "seq": steps.first.map { .number(Double($0.event.seq)) } ?? .null,
      "chain": .array(chain),
      "missing_cause": missingCause.map { .number(Double($0)) } ?? .null,
      "not_sent": .array(notSent.map(Value.string)),
    ])
    return JSON.encode(document)
  }
}
