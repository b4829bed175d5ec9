import GanglionCore

/// A reading of an input signal (or a command/injection), before it becomes an event.
public struct Reading: Sendable {
  public var signal: String
  public var value: Value
  /// When it was read (for GPIO: the kernel's edge timestamp).
  public var time: Timestamp
  public var source: EventSource

  public init(signal: String, value: Value, time: Timestamp, source: EventSource) {
    self.signal = signal
    self.value = value
    self.time = time
    self.source = source
  }

  /// The reading a logged signal event came from, for `replay`: nil for events that rules
  /// made (source `rule`) and for events that are not signal events.
  public init?(event: Event) {
    guard event.kind == .signal, event.source != .rule, let signal = event.signal else { return nil }
    self.init(signal: signal, value: event.value, time: event.time, source: event.source)
  }
}

/// What the daemon must do to the hardware after an event was processed: the engine's one
/// output besides the events it records. Everything else that leaves the daemon (MQTT
/// messages, rule publishes included) is derived from the recorded events, which the
/// daemon's outbox delivers in seq order and can read back from the log after a restart.
public enum Effect: Sendable, Equatable {
  /// Set an output signal's GPIO line. `cause` is the seq of the signal event.
  case drive(signal: String, value: Value, cause: UInt64)
}

/// What rules see of the world besides signals.
public struct EngineContext: Sendable {
  /// `${device}`
  public var device: String
  /// `${prefix}`: the MQTT prefix, `ganglion/<device>` by default.
  public var prefix: String
  /// The daemon's start: `${uptime}` counts from here, `every` timers start here.
  public var startTime: Timestamp
  /// The zone local time follows, for `time`, `weekday` and `at` (the engine's own time is
  /// given to it; the zone only turns it into local time).
  public var timeZone: any TimeZoneRules

  public init(device: String, prefix: String? = nil, startTime: Timestamp, timeZone: any TimeZoneRules) {
    self.device = device
    self.prefix = prefix ?? "ganglion/\(device)"
    self.startTime = startTime
    self.timeZone = timeZone
  }

  /// A context whose zone is a fixed UTC offset (no daylight saving changes).
  public init(device: String, prefix: String? = nil, startTime: Timestamp, utcOffsetSeconds: Int = 0) {
    self.init(
      device: device, prefix: prefix, startTime: startTime, timeZone: FixedOffsetZone(offsetSeconds: utcOffsetSeconds))
  }

  /// Seconds east of UTC of local time at `instant`.
  public func utcOffset(_ instant: Timestamp) -> Int { timeZone.utcOffset(atUTC: instant.seconds) }
}

/// The engine: processes one event at a time in seq order, runs derived events breadth-first,
/// stops rule loops, and keeps the rules' timers.
///
/// Not thread-safe: owned by one thread (the daemon's pipeline), and not re-entrant: the
/// `record` closure must not call back into the engine. Never reads a clock: time comes in
/// with readings and `advance(to:)`; the engine's time only moves forward.
///
/// Exclusivity: the engine's state is only touched from its own methods, one call at a time
/// (it is owned by one thread and `record` cannot reach it), so the dynamic exclusivity
/// checks of its properties are turned off: they cost a third of the per-event time.
public final class Engine {
  /// A chain of causes deeper than this is a rule loop.
  public static let maximumDepth = 32
  /// More derived events than this from one input event is a rule loop.
  public static let maximumEventsPerInput = 1000
  /// A rule that fires more than this many times within `breakerWindow` (engine time) is
  /// paused for `breakerPause`: a loop that runs through the world (a rule publishing to the
  /// daemon's own `set/` topic, which comes back as a command) is a new input each turn, so
  /// the chain limits above never see it.
  public static let breakerFirings = 2000
  public static let breakerWindow: Duration = .seconds(10)
  public static let breakerPause: Duration = .seconds(60)

  @exclusivity(unchecked) private var ruleSet: RuleSet
  private let state: EvalState
  @exclusivity(unchecked) private var slotNames: [String]
  @exclusivity(unchecked) private var slotOf: [String: Int]
  @exclusivity(unchecked) private var roles: [SignalRole?]
  @exclusivity(unchecked) private var ruleStates: [RuleState]
  @exclusivity(unchecked) private var timers = TimerHeap()
  @exclusivity(unchecked) private var nextGeneration: UInt64 = 1
  private let context: EngineContext

  // The chain being processed (one input or one timer and everything it causes).
  @exclusivity(unchecked) private var queue: [PendingSet] = []
  @exclusivity(unchecked) private var queueHead = 0
  @exclusivity(unchecked) private var chainEvents = 0
  @exclusivity(unchecked) private var chainRules: [String] = []
  @exclusivity(unchecked) private var chainRoot: UInt64?
  @exclusivity(unchecked) private var chainStopped = false
  @exclusivity(unchecked) private var effects: [Effect] = []

  public init(rules: RuleSet, signals: SignalCatalog, context: EngineContext) {
    self.context = context
    ruleSet = rules
    var names = rules.slotNames
    for name in signals.names where rules.slots[name] == nil { names.append(name) }
    slotNames = names
    slotOf = [:]
    for (i, name) in names.enumerated() { slotOf[name] = i }
    roles = names.map { rules.catalog[$0]?.role ?? signals[$0]?.role }
    state = EvalState(slotCount: names.count, context: context)
    ruleStates = Array(repeating: RuleState(), count: rules.rules.count)
    setUpHistories()
    for index in ruleSet.rules.indices { startRule(index, fresh: true) }
  }

  /// Current value of a signal (`.null` = unknown).
  public func value(of signal: String) -> Value {
    guard let slot = slotOf[signal] else { return .null }
    return state.values[slot]
  }

  /// The engine's current time: the latest reading or `advance(to:)` seen.
  public var now: Timestamp { Timestamp(microseconds: state.now) }

  /// The names of the loaded rules.
  public var ruleNames: [String] { ruleSet.names }

  /// Sets a value without firing anything (initial values, persist restore, test `given`).
  /// `when` rules that read the signal take the new value as their current state, so a
  /// later event makes an edge only if the condition really changes.
  public func restore(signal: String, value: Value, time: Timestamp) {
    let slot = slot(for: signal)
    state.values[slot] = value
    state.lastEventTime[slot] = time.microseconds
    guard slot < ruleSet.triggeredBySlot.count else { return }
    for index in ruleSet.triggeredBySlot[slot] {
      let rule = ruleSet.rules[index]
      guard let eval = rule.whenEval else { continue }
      let truth = isTrue(eval(state))
      ruleStates[index].whenTrue = truth
      if !truth, ruleStates[index].hold != nil {
        ruleStates[index].hold = nil
        timerRevision &+= 1
      }
      if rule.dependsOnTime { scheduleRecheck(index) }
    }
  }

  /// Processes one input reading: builds its event (previous = current value), hands it to
  /// `record` (which assigns `seq`, e.g. appends it to the log), evaluates the rules it
  /// triggers, records every derived event through `record` in order, breadth-first, and
  /// returns the effects to perform in the world, in order.
  ///
  /// Timers due before the reading's time run first. A reading from `.command` or `.rule`
  /// that sets a signal to its current value is no event. Readings with source `.system`
  /// (start-up reads, restored values) are events but fire no `when` edge and no `on` rule.
  /// Every event of an output signal, whatever its source, yields a `.drive` effect.
  public func ingest(_ reading: Reading, record: (inout Event) -> Void) -> [Effect] {
    effects = []
    runTimers(upTo: reading.time.microseconds, record: record)
    state.now = max(state.now, reading.time.microseconds)
    let slot = slot(for: reading.signal)
    let current = state.values[slot]
    if reading.source == .command || reading.source == .rule, reading.value == current {
      return takeEffects()
    }
    beginChain()
    var event = Event(
      time: reading.time, kind: .signal, signal: reading.signal, value: reading.value, previous: current,
      source: reading.source)
    record(&event)
    chainRoot = event.seq
    apply(slot: slot, value: reading.value, changed: reading.value != current)
    if roles[slot] == .output {
      effects.append(.drive(signal: reading.signal, value: reading.value, cause: event.seq))
    }
    signalEvent(
      slot: slot, seq: event.seq, previous: current, depth: 0, silent: reading.source == .system, record: record)
    drainQueue(record: record)
    return takeEffects()
  }

  /// Fires timers and time-based triggers due at or before `now` (`for`, `after`, `every`,
  /// `at`, moving windows), in deadline order, each at its own deadline.
  public func advance(to now: Timestamp, record: (inout Event) -> Void) -> [Effect] {
    effects = []
    runTimers(upTo: now.microseconds, record: record)
    state.now = max(state.now, now.microseconds)
    return takeEffects()
  }

  /// Entries in the timer heap, live or not (for tests of its bound).
  var timerHeapCount: Int { timers.count }

  /// The earliest pending deadline, for the daemon to sleep until. A method, not a property:
  /// it drops cancelled timers from the top of the heap on the way (what fires and when is
  /// unchanged).
  public func nextDeadline() -> Timestamp? {
    while let top = timers.peek {
      if isValid(top) { return Timestamp(microseconds: top.deadline) }
      timers.pop()
    }
    return nil
  }

  /// Swaps rules on reload. Signal values survive; so do the state and timers of rules whose
  /// name and text did not change. Rules that are new or changed start fresh (a `when` that
  /// is already true does not fire because of the reload).
  /// - Returns: the `for`/`after` countdowns that were cancelled because their rule changed or
  ///   went away, for the daemon to log.
  @discardableResult
  public func replaceRules(_ rules: RuleSet) -> [PendingTimer] {
    let before = pendingTimers
    // Re-slot signal state to the new rules' layout.
    var oldRoles: [String: SignalRole] = [:]
    for (i, name) in slotNames.enumerated() { oldRoles[name] = roles[i] }
    var names = rules.slotNames
    for name in slotNames where rules.slots[name] == nil { names.append(name) }
    if names != slotNames {
      var values = [Value](repeating: .null, count: names.count)
      var times = [Int64](repeating: Int64.min, count: names.count)
      var histories = [SignalHistory?](repeating: nil, count: names.count)
      for (i, name) in names.enumerated() {
        guard let old = slotOf[name] else { continue }
        values[i] = state.values[old]
        times[i] = state.lastEventTime[old]
        histories[i] = state.histories[old]
      }
      state.values = values
      state.lastEventTime = times
      state.histories = histories
      slotNames = names
      slotOf = [:]
      for (i, name) in names.enumerated() { slotOf[name] = i }
    }
    roles = names.map { rules.catalog[$0]?.role ?? oldRoles[$0] }
    var oldStates: [String: (UInt64, RuleState)] = [:]
    for (i, rule) in ruleSet.rules.enumerated() { oldStates[rule.name] = (rule.textHash, ruleStates[i]) }
    ruleSet = rules
    ruleStates = Array(repeating: RuleState(), count: rules.rules.count)
    timers = TimerHeap()
    setUpHistories()
    for (index, rule) in rules.rules.enumerated() {
      if let (hash, old) = oldStates[rule.name], hash == rule.textHash {
        ruleStates[index] = old
        reschedule(index)
      } else {
        startRule(index, fresh: false)
      }
    }
    let kept = Set(pendingTimers)
    let cancelled = before.filter { !kept.contains($0) }
    if !cancelled.isEmpty { timerRevision &+= 1 }
    return cancelled
  }

  // MARK: - Timers for persistence

  /// Changes whenever a `for` or `after` countdown starts, is cancelled or runs out: the
  /// daemon compares it after each call to know when to persist `pendingTimers`.
  @exclusivity(unchecked) public private(set) var timerRevision: UInt64 = 0

  /// The running `for` and `after` countdowns, by deadline, with what is needed to resume
  /// them after a restart.
  public var pendingTimers: [PendingTimer] {
    var out: [PendingTimer] = []
    for (index, rule) in ruleSet.rules.enumerated() {
      let s = ruleStates[index]
      if let hold = s.hold {
        out.append(
          PendingTimer(
            rule: rule.name, ruleHash: rule.textHash, kind: .for, deadline: Timestamp(microseconds: hold.deadline),
            cause: hold.cause))
      }
      for (id, pending) in s.afters.sorted(by: { $0.key < $1.key }) {
        let f = pending.firing
        out.append(
          PendingTimer(
            rule: rule.name, ruleHash: rule.textHash, kind: .after(id),
            deadline: Timestamp(microseconds: pending.deadline),
            cause: f.firedSeq == 0 ? f.cause : f.firedSeq, value: f.value, previous: f.previous,
            signal: f.signal.stringValue))
      }
    }
    return out.sorted { $0.deadline < $1.deadline }
  }

  /// Resumes countdowns saved before a restart. Call after restoring signal values, before
  /// the first `advance(to:)`. A countdown whose rule is gone or whose text changed is not
  /// resumed (it is returned); one whose deadline has passed fires at the next `advance`,
  /// with `late: true` on its `fired` event. A `for` countdown fires only if its condition
  /// is still true then.
  /// - Returns: the timers that were not resumed.
  @discardableResult
  public func restoreTimers(_ saved: [PendingTimer]) -> [PendingTimer] {
    var dropped: [PendingTimer] = []
    for timer in saved {
      guard let index = ruleSet.rules.firstIndex(where: { $0.name == timer.rule }),
        ruleSet.rules[index].textHash == timer.ruleHash, ruleSet.rules[index].enabled
      else {
        dropped.append(timer)
        continue
      }
      let rule = ruleSet.rules[index]
      let deadline = timer.deadline.microseconds
      let late = deadline <= state.now
      let generation = newGeneration()
      switch timer.kind {
      case .for:
        guard rule.hold != nil else {
          dropped.append(timer)
          continue
        }
        ruleStates[index].hold = PendingHold(deadline: deadline, generation: generation, cause: timer.cause, late: late)
        timers.push(TimerEntry(deadline: deadline, rule: index, kind: .hold, generation: generation))
      case .after(let id):
        guard id < rule.afters.count else {
          dropped.append(timer)
          continue
        }
        let firing = Firing(
          cause: timer.cause, value: timer.value, previous: timer.previous,
          signal: timer.signal.map { .string($0) } ?? .null,
          firedSeq: timer.cause ?? 0)
        ruleStates[index].afters[id] = PendingAfter(
          deadline: deadline, generation: generation, firing: firing, late: late)
        timers.push(TimerEntry(deadline: deadline, rule: index, kind: .after(id), generation: generation))
      }
    }
    timerRevision &+= 1
    return dropped
  }

  // MARK: - Set-up

  private func slot(for signal: String) -> Int {
    if let slot = slotOf[signal] { return slot }
    let slot = slotNames.count
    slotNames.append(signal)
    slotOf[signal] = slot
    roles.append(nil)
    state.values.append(.null)
    state.lastEventTime.append(Int64.min)
    state.histories.append(nil)
    return slot
  }

  private func setUpHistories() {
    for slot in state.histories.indices {
      let retention = slot < ruleSet.retention.count ? ruleSet.retention[slot] : 0
      if retention == 0 {
        state.histories[slot] = nil
      } else if let history = state.histories[slot] {
        history.retention = retention
      } else {
        state.histories[slot] = SignalHistory(retention: retention)
      }
    }
  }

  /// Also drops cancelled and restarted timers from the heap once they pile up (an `age()`
  /// rule reschedules on every event of its signal), so the heap stays proportional to the
  /// live timers.
  private func newGeneration() -> UInt64 {
    nextGeneration += 1
    if timers.count >= compactionThreshold {
      timers.filter { isValid($0) }
      compactionThreshold = max(1024, 2 * timers.count)
    }
    return nextGeneration
  }

  @exclusivity(unchecked) private var compactionThreshold = 1024

  /// Initial state of a rule: `when` takes the current truth silently; periodic timers start.
  private func startRule(_ index: Int, fresh: Bool) {
    let rule = ruleSet.rules[index]
    guard rule.enabled else { return }
    switch rule.trigger {
    case .when(let expr, _, let dependencies):
      ruleStates[index].whenTrue = isTrue(expr.eval(state))
      if dependencies.dependsOnTime { scheduleRecheck(index) }
    case .every(let interval):
      let base = fresh ? context.startTime.microseconds : state.now
      setPeriodic(index, deadline: max(base, state.now - interval) + interval)
    case .at(let times):
      setPeriodic(index, deadline: nextLocalOccurrence(of: times, after: state.now))
    case .on:
      break
    }
  }

  /// Pushes heap entries for a rule's pending timers (after a reload rebuilt the heap).
  private func reschedule(_ index: Int) {
    let s = ruleStates[index]
    if let hold = s.hold {
      timers.push(TimerEntry(deadline: hold.deadline, rule: index, kind: .hold, generation: hold.generation))
    }
    for (id, pending) in s.afters {
      timers.push(TimerEntry(deadline: pending.deadline, rule: index, kind: .after(id), generation: pending.generation))
    }
    if let p = s.periodic {
      timers.push(TimerEntry(deadline: p.deadline, rule: index, kind: .periodic, generation: p.generation))
    }
    if ruleSet.rules[index].dependsOnTime { scheduleRecheck(index) }
  }

  private func setPeriodic(_ index: Int, deadline: Int64) {
    let generation = newGeneration()
    ruleStates[index].periodic = Scheduled(deadline: deadline, generation: generation)
    timers.push(TimerEntry(deadline: deadline, rule: index, kind: .periodic, generation: generation))
  }

  // MARK: - Chains

  private func beginChain() {
    chainEvents = 0
    chainRules.removeAll(keepingCapacity: true)
    chainRoot = nil
    chainStopped = false
    queue.removeAll(keepingCapacity: true)
    queueHead = 0
  }

  private func takeEffects() -> [Effect] {
    let out = effects
    effects = []
    return out
  }

  private func apply(slot: Int, value: Value, changed: Bool) {
    state.values[slot] = value
    state.lastEventTime[slot] = state.now
    if let history = state.histories[slot] {
      history.append(time: state.now, value: value, changed: changed)
      history.prune(now: state.now)
    }
  }

  /// Evaluates the rules an event of `slot` triggers.
  @inline(__always)
  private func signalEvent(
    slot: Int, seq: UInt64, previous: Value, depth: Int, silent: Bool, record: (inout Event) -> Void
  ) {
    guard slot < ruleSet.triggeredBySlot.count else { return }
    for index in ruleSet.triggeredBySlot[slot] {
      if chainStopped { return }
      if ruleSet.rules[index].isOn {
        guard !silent else { continue }
        let firing = Firing(
          cause: seq, value: state.values[slot], previous: previous,
          signal: .string(slotNames[slot]), firedSeq: 0)
        fireIfConditionsHold(index, firing: firing, depth: depth, record: record)
      } else {
        evaluateWhen(index, cause: seq, depth: depth, silent: silent, record: record)
      }
    }
  }

  private func evaluateWhen(_ index: Int, cause: UInt64?, depth: Int, silent: Bool, record: (inout Event) -> Void) {
    let rule = ruleSet.rules[index]
    guard let eval = rule.whenEval else { return }
    let truth = isTrue(eval(state))
    let was = ruleStates[index].whenTrue
    ruleStates[index].whenTrue = truth
    if truth, !was, !silent {
      if let hold = rule.hold {
        let generation = newGeneration()
        let deadline = state.now + hold
        ruleStates[index].hold = PendingHold(deadline: deadline, generation: generation, cause: cause)
        timers.push(TimerEntry(deadline: deadline, rule: index, kind: .hold, generation: generation))
        timerRevision &+= 1
      } else {
        let firing = Firing(cause: cause, value: .null, previous: .null, signal: .null, firedSeq: 0)
        fireIfConditionsHold(index, firing: firing, depth: depth, record: record)
      }
    } else if !truth, ruleStates[index].hold != nil {
      ruleStates[index].hold = nil
      timerRevision &+= 1
    }
    if rule.dependsOnTime { scheduleRecheck(index) }
  }

  private func bind(_ firing: Firing, rule: Rule) {
    state.boundValue = firing.value
    state.boundPrevious = firing.previous
    state.boundSignal = firing.signal
    state.ruleName = rule.name
  }

  private func fireIfConditionsHold(
    _ index: Int, firing: Firing, depth: Int, late: Bool = false, record: (inout Event) -> Void
  ) {
    let rule = ruleSet.rules[index]
    bind(firing, rule: rule)
    for condition in rule.conditions where !isTrue(condition.eval(state)) { return }
    fire(index, firing: firing, depth: depth, late: late, record: record)
  }

  private func fire(_ index: Int, firing: Firing, depth: Int, late: Bool, record: (inout Event) -> Void) {
    guard !chainStopped else { return }
    let rule = ruleSet.rules[index]
    if chainEvents >= Engine.maximumEventsPerInput {
      stopLoop(record: record)
      return
    }
    guard admitFiring(index, cause: firing.cause, record: record) else { return }
    if !chainRules.contains(rule.name) { chainRules.append(rule.name) }
    var event = Event(
      time: Timestamp(microseconds: state.now), kind: .fired, source: .rule, cause: firing.cause, rule: rule.name,
      late: late)
    record(&event)
    chainEvents += 1
    var firing = firing
    firing.firedSeq = event.seq
    run(rule.actions, rule: index, firing: firing, cause: firing.cause ?? event.seq, depth: depth, record: record)
  }

  /// Runs `actions` of rule `index` for `firing`, in order, each through an `ActionContext`.
  private func run(
    _ actions: [any RuleAction], rule index: Int, firing: Firing, cause: UInt64, depth: Int,
    record: (inout Event) -> Void
  ) {
    // `fireIfConditionsHold` and `runAfter` bound the firing; the context reads it from there.
    assert(
      state.boundValue == firing.value && state.boundPrevious == firing.previous
        && state.boundSignal == firing.signal)
    let context = ActionContext(engine: self, state: state, rule: index, firing: firing, cause: cause, depth: depth)
    for action in actions { action.run(in: context, recording: record) }
  }

  private func drainQueue(record: (inout Event) -> Void) {
    while queueHead < queue.count, !chainStopped {
      let item = queue[queueHead]
      queueHead += 1
      if item.depth > Engine.maximumDepth || chainEvents >= Engine.maximumEventsPerInput {
        stopLoop(record: record)
        break
      }
      let current = state.values[item.slot]
      if item.value == current { continue }
      let name = slotNames[item.slot]
      var event = Event(
        time: Timestamp(microseconds: state.now), kind: .signal, signal: name, value: item.value, previous: current,
        source: .rule, cause: item.cause, rule: ruleSet.rules[item.rule].name)
      record(&event)
      chainEvents += 1
      apply(slot: item.slot, value: item.value, changed: true)
      if roles[item.slot] == .output { effects.append(.drive(signal: name, value: item.value, cause: event.seq)) }
      signalEvent(
        slot: item.slot, seq: event.seq, previous: current, depth: item.depth, silent: false, record: record)
    }
    queue.removeAll(keepingCapacity: true)
    queueHead = 0
  }

  /// The rule's firing-rate breaker: false while the rule is paused, and for the firing that
  /// trips it (which records a `rule breaker` system event, caused by `cause`).
  private func admitFiring(_ index: Int, cause: UInt64?, record: (inout Event) -> Void) -> Bool {
    let now = state.now
    var breaker = ruleStates[index].breaker
    defer { ruleStates[index].breaker = breaker }
    if let until = breaker.pausedUntil {
      guard now >= until else { return false }
      breaker = FiringBreaker()
    }
    if breaker.firings == 0 || now - breaker.windowStart >= Engine.breakerWindow.microseconds {
      breaker.windowStart = now
      breaker.firings = 0
    }
    guard breaker.firings < Engine.breakerFirings else {
      breaker.pausedUntil = now + Engine.breakerPause.microseconds
      var event = Event(
        time: Timestamp(microseconds: now),
        system: .ruleBreaker(
          rule: ruleSet.rules[index].name, firings: breaker.firings,
          withinSeconds: Int(Engine.breakerWindow.microseconds / 1_000_000),
          pausedSeconds: Int(Engine.breakerPause.microseconds / 1_000_000)),
        cause: cause)
      record(&event)
      return false
    }
    breaker.firings += 1
    return true
  }

  private func stopLoop(record: (inout Event) -> Void) {
    guard !chainStopped else { return }
    chainStopped = true
    var event = Event(time: Timestamp(microseconds: state.now), system: .ruleLoop(rules: chainRules), cause: chainRoot)
    record(&event)
    queue.removeAll(keepingCapacity: true)
    queueHead = 0
  }

  // MARK: - Timers

  private func isValid(_ entry: TimerEntry) -> Bool {
    guard entry.rule < ruleStates.count else { return false }
    let s = ruleStates[entry.rule]
    switch entry.kind {
    case .hold: return s.hold?.generation == entry.generation
    case .after(let id): return s.afters[id]?.generation == entry.generation
    case .periodic: return s.periodic?.generation == entry.generation
    case .recheck: return s.recheck?.generation == entry.generation
    }
  }

  private func runTimers(upTo target: Int64, record: (inout Event) -> Void) {
    while let top = timers.peek, top.deadline <= target {
      timers.pop()
      guard isValid(top) else { continue }
      state.now = max(state.now, top.deadline)
      beginChain()
      let index = top.rule
      let rule = ruleSet.rules[index]
      switch top.kind {
      case .hold:
        let hold = ruleStates[index].hold!
        ruleStates[index].hold = nil
        timerRevision &+= 1
        chainRoot = hold.cause
        // A countdown restored after a restart fires only if its condition still holds.
        guard ruleStates[index].whenTrue else { break }
        let firing = Firing(cause: hold.cause, value: .null, previous: .null, signal: .null, firedSeq: 0)
        fireIfConditionsHold(index, firing: firing, depth: 0, late: hold.late, record: record)
      case .after(let id):
        let pending = ruleStates[index].afters.removeValue(forKey: id)!
        timerRevision &+= 1
        runAfter(index, id: id, firing: pending.firing, late: pending.late, record: record)
      case .periodic:
        switch rule.trigger {
        case .every(let interval):
          setPeriodic(index, deadline: top.deadline + interval)
        case .at(let times):
          setPeriodic(index, deadline: nextLocalOccurrence(of: times, after: top.deadline))
        default:
          break
        }
        let firing = Firing(cause: nil, value: .null, previous: .null, signal: .null, firedSeq: 0)
        fireIfConditionsHold(index, firing: firing, depth: 0, record: record)
      case .recheck:
        ruleStates[index].recheck = nil
        evaluateWhen(index, cause: nil, depth: 0, silent: false, record: record)
      }
      drainQueue(record: record)
    }
  }

  /// An `after` countdown ran out: log it as a firing of the rule and run the nested actions.
  private func runAfter(_ index: Int, id: Int, firing: Firing, late: Bool = false, record: (inout Event) -> Void) {
    let rule = ruleSet.rules[index]
    guard id < rule.afters.count else { return }
    let after = rule.afters[id]
    bind(firing, rule: rule)
    var event = Event(
      time: Timestamp(microseconds: state.now), kind: .fired,
      value: .object(["after": .string(Duration.microseconds(after.delay).compactDescription)]),
      source: .rule, cause: firing.firedSeq == 0 ? firing.cause : firing.firedSeq, rule: rule.name, late: late)
    record(&event)
    chainRoot = event.seq
    chainEvents += 1
    if !chainRules.contains(rule.name) { chainRules.append(rule.name) }
    var nested = firing
    nested.firedSeq = event.seq
    run(after.actions, rule: index, firing: nested, cause: event.seq, depth: 0, record: record)
  }

  /// The next instant after `now` at which a time-dependent `when` may change, if any.
  private func scheduleRecheck(_ index: Int) {
    guard case .when(_, _, let dependencies) = ruleSet.rules[index].trigger else { return }
    let now = state.now
    var next = Int64.max
    func consider(_ candidate: Int64) { if candidate > now, candidate < next { next = candidate } }
    for window in dependencies.windows {
      if let exit = state.histories[window.slot]?.nextExit(now: now, window: window.microseconds) { consider(exit) }
    }
    for slot in dependencies.ages {
      let last = state.lastEventTime[slot]
      guard last != Int64.min else { continue }
      for d in dependencies.durations {
        consider(last + d)
        consider(last + d + 1)
      }
    }
    if dependencies.readsLocalTime {
      var instants = dependencies.timesOfDay.flatMap { [$0, $0 + 1] }
      instants.append(0)
      consider(nextLocalOccurrence(of: instants.map { $0 % 86_400 }, after: now))
    }
    if next == Int64.max {
      ruleStates[index].recheck = nil
      return
    }
    if ruleStates[index].recheck?.deadline == next { return }
    let generation = newGeneration()
    ruleStates[index].recheck = Scheduled(deadline: next, generation: generation)
    timers.push(TimerEntry(deadline: next, rule: index, kind: .recheck, generation: generation))
  }

  /// The first instant after `after` (µs) at which local time is one of `secondsOfDay`.
  private func nextLocalOccurrence(of secondsOfDay: [Int], after: Int64) -> Int64 {
    var best = Int64.max
    // Try today and tomorrow (local), with the offset valid at each candidate.
    let offset = Int64(context.utcOffset(Timestamp(microseconds: after)))
    let localSeconds = (after / 1_000_000) + offset
    var day = localSeconds / 86_400
    if localSeconds < 0, localSeconds % 86_400 != 0 { day -= 1 }
    for dayDelta in Int64(0)...2 {
      for s in secondsOfDay {
        let localInstant = (day + dayDelta) * 86_400 + Int64(s)
        let guess = (localInstant - offset) * 1_000_000
        let corrected = (localInstant - Int64(context.utcOffset(Timestamp(microseconds: guess)))) * 1_000_000
        if corrected > after, corrected < best { best = corrected }
      }
      if best != Int64.max { break }
    }
    return best
  }
}

// MARK: - What actions do (through ActionContext)

/// The engine's side of `ActionContext`; nothing else calls these.
extension Engine {
  @inline(__always)
  func queueSet(_ set: PendingSet) { queue.append(set) }

  func recordActionEvent(
    kind: EventKind, value: Value, cause: UInt64, rule index: Int, record: (inout Event) -> Void
  ) -> UInt64 {
    var event = Event(
      time: Timestamp(microseconds: state.now), kind: kind, value: value, source: .rule, cause: cause,
      rule: ruleSet.rules[index].name)
    record(&event)
    chainEvents += 1
    return event.seq
  }

  func emit(_ effect: Effect) { effects.append(effect) }

  func startAfterCountdown(rule index: Int, id: Int, delay: Int64, firing: Firing) {
    let generation = newGeneration()
    let deadline = state.now + delay
    ruleStates[index].afters[id] = PendingAfter(deadline: deadline, generation: generation, firing: firing)
    timerRevision &+= 1
    timers.push(TimerEntry(deadline: deadline, rule: index, kind: .after(id), generation: generation))
  }
}

// MARK: - Engine state types

/// `when` and `if` treat unknown (and anything but `true`) as false.
@inline(__always)
func isTrue(_ value: Value) -> Bool {
  if case .bool(true) = value { return true }
  return false
}

struct Firing {
  /// The event that triggered the rule (nil for `every`/`at`).
  var cause: UInt64?
  var value: Value
  var previous: Value
  var signal: Value
  /// The seq of the rule's `fired` event (0 before it is recorded).
  var firedSeq: UInt64
}

struct PendingSet {
  var slot: Int
  var value: Value
  var cause: UInt64
  var rule: Int
  var depth: Int
}
