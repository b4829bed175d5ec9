import GanglionCore

/// What a running action may do, and all it may touch of the engine: read the state its
/// expressions and templates evaluate against, queue a `set`, record an event the firing
/// caused, hand an effect to the daemon, and start an `after` countdown. Built by the
/// engine for one run of one rule's action list; an action must not keep it.
///
/// The caller's `record` closure is not part of the context but passed next to it: it is
/// non-escaping, and making it escape for the context's sake costs an allocation per firing.
struct ActionContext {
  /// The engine's state, with the firing's `value`, `previous`, `signal` and `rule` bound.
  /// Unowned: the engine outlives every run of its actions.
  unowned(unsafe) let state: EvalState
  private unowned(unsafe) let engine: Engine
  private let rule: Int
  /// The firing's trigger event and `fired` event, for an `after` countdown; its bindings
  /// are in `state`. (Copying the whole `Firing` here cost a tenth of a firing.)
  private let firingCause: UInt64?
  private let firedSeq: UInt64
  /// The event the actions' events are caused by.
  private let cause: UInt64
  /// The depth of the firing in its chain of causes.
  private let depth: Int

  /// `firing` must be the one bound into `state` (`Engine.bind`).
  init(engine: Engine, state: EvalState, rule: Int, firing: borrowing Firing, cause: UInt64, depth: Int) {
    self.engine = engine
    self.state = state
    self.rule = rule
    firingCause = firing.cause
    firedSeq = firing.firedSeq
    self.cause = cause
    self.depth = depth
  }

  /// An expression's or a template's value now.
  @inline(__always)
  func evaluate(_ evaluation: Eval) -> Value { evaluation(state) }

  /// Sets `slot` to `value` once the current event's rules have all run (breadth-first):
  /// an event caused by `cause`, one level deeper in the chain.
  func queueSet(slot: Int, value: Value) {
    engine.queueSet(PendingSet(slot: slot, value: value, cause: cause, rule: rule, depth: depth + 1))
  }

  /// Records an event of `kind` by the rule, caused by the firing, at the engine's time,
  /// through `record` (the one `RuleAction.run` was given); it counts towards the chain's
  /// limit. Returns its seq.
  @discardableResult
  func recordEvent(_ kind: EventKind, value: Value, through record: (inout Event) -> Void) -> UInt64 {
    engine.recordActionEvent(kind: kind, value: value, cause: cause, rule: rule, record: record)
  }

  /// Hands `effect` to the daemon, after the effects before it.
  func emit(_ effect: Effect) { engine.emit(effect) }

  /// Starts (or restarts) the rule's `after` countdown `id`: in `delay` µs the engine runs
  /// that `after`'s actions with this firing's bindings.
  func startAfterCountdown(id: Int, delay: Int64) {
    let firing = Firing(
      cause: firingCause, value: state.boundValue, previous: state.boundPrevious, signal: state.boundSignal,
      firedSeq: firedSeq)
    engine.startAfterCountdown(rule: rule, id: id, delay: delay, firing: firing)
  }
}
