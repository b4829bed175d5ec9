import GanglionCore
import GanglionRules
import GanglionSystem

/// Rules read and compiled for a reload: the new rule set, or the errors that reject it.
struct PreparedRules: Sendable {
  /// Nil when there are errors.
  var rules: RuleSet?
  var sources: [RuleSource]
  var diagnostics: [Diagnostic]

  /// Reads and compiles the rule files the configuration names. Reads files (regular ones
  /// only, opened without waiting): call it off the pipeline's thread.
  static func load(config: Config, configPath: String) -> PreparedRules {
    var diagnostics = DiagnosticCollector()
    let sources = ConfigurationLoader.readRules(of: config, configPath: configPath, diagnostics: &diagnostics)
    let (rules, ruleDiagnostics) = RuleCompiler.compile(
      sources, signals: config.catalog, ownCommands: ConfigurationLoader.ownCommandTopics(of: config))
    diagnostics.append(contentsOf: ruleDiagnostics)
    return PreparedRules(
      rules: diagnostics.hasErrors ? nil : rules, sources: sources, diagnostics: diagnostics.diagnostics)
  }
}

/// One reload, shared by every request that arrived while it waited to start, from request
/// to outcome: queued, loading (reading and compiling, off the pipeline's thread), applying
/// (the swap on the pipeline's thread), done. When every caller that waits for it has given
/// up before it was applied, it is cancelled and never applied (a SIGHUP's reload, which no
/// one waits for, is `pinned`: it always runs).
///
/// Thread safety: every method may be called from any thread.
final class ReloadTicket: @unchecked Sendable {
  private enum Phase { case queued, loading, applying, done, cancelled }

  private let mutex = PosixMutex()
  private var phase = Phase.queued
  private var outcome: ReloadOutcome?
  /// Callers that asked for it and have not given up; a pinned ticket is never cancelled.
  private var holders: Int
  private var pinned: Bool

  init(pinned: Bool) {
    self.pinned = pinned
    holders = pinned ? 0 : 1
  }

  /// Adds a caller to a ticket that has not started yet; false when it has (or was
  /// cancelled): a new reload is needed then, since the files may have changed since.
  func join(pinned: Bool) -> Bool {
    mutex.withLock {
      guard phase == .queued else { return false }
      if pinned { self.pinned = true } else { holders += 1 }
      return true
    }
  }

  /// For the reload thread: starts reading, unless it was cancelled meanwhile.
  func startLoading() -> Bool { move(from: .queued, to: .loading) }

  /// For the pipeline: starts the swap, unless it was cancelled; from then on it is not.
  func beginApplying() -> Bool { move(from: .loading, to: .applying) }

  /// The reload is over (applied, rejected, or it could not be handed to the pipeline).
  func finish(_ outcome: ReloadOutcome) {
    mutex.withLock {
      guard phase != .cancelled else { return }
      self.outcome = outcome
      phase = .done
      mutex.broadcast()
    }
  }

  var isCancelled: Bool { mutex.withLock { phase == .cancelled } }

  /// Blocks up to `timeout` for the outcome (call once per `request` that returned it). A
  /// caller that times out gives up; when every caller has and the swap has not begun, the
  /// reload is cancelled. Returns nil when it timed out or was cancelled.
  func wait(timeout: Duration) -> ReloadOutcome? {
    let deadline = SystemMonotonicClock.nowMicroseconds() + timeout.microseconds
    return mutex.withLock {
      while phase != .done, phase != .cancelled, SystemMonotonicClock.nowMicroseconds() < deadline {
        mutex.wait(untilMonotonic: deadline)
      }
      if phase == .applying {
        // The swap has begun and is quick (no file is read): its outcome is a moment away.
        let grace = SystemMonotonicClock.nowMicroseconds() + 2_000_000
        while phase == .applying, SystemMonotonicClock.nowMicroseconds() < grace { mutex.wait(untilMonotonic: grace) }
      }
      if phase != .done {
        holders -= 1
        if holders <= 0, !pinned, phase == .queued || phase == .loading {
          phase = .cancelled
          mutex.broadcast()
        }
      }
      return outcome
    }
  }

  private func move(from: Phase, to: Phase) -> Bool {
    mutex.withLock {
      guard phase == from else { return false }
      phase = to
      return true
    }
  }
}

/// Reloads rules off the pipeline's thread (SIGHUP, `POST /reload`): its own thread reads
/// and compiles the rule files, and the pipeline only swaps the compiled set in, so a slow or
/// stuck file never holds up events. Requests that arrive while one waits to start join it
/// (one reading, one outcome for all), and reloads start at most once per
/// `minimumInterval`: a flood of requests costs one reload per interval.
///
/// Thread safety: `request` may be called from any thread.
final class RuleReloader: @unchecked Sendable {
  private let mutex = PosixMutex()
  private var queued: ReloadTicket?
  private var lastStart: Int64?
  private var stopped = false
  private let minimumInterval: Int64
  private let prepare: @Sendable () -> PreparedRules
  private let apply: @Sendable (PreparedRules, ReloadTicket) -> Bool

  /// - Parameters:
  ///   - prepare: reads and compiles the rules (on the reload thread).
  ///   - apply: hands the prepared rules to the pipeline, which calls `beginApplying` and
  ///     `finish`; false when it could not take them (the ticket is then finished here).
  init(
    minimumInterval: Duration = .seconds(1), prepare: @escaping @Sendable () -> PreparedRules,
    apply: @escaping @Sendable (PreparedRules, ReloadTicket) -> Bool
  ) {
    self.minimumInterval = minimumInterval.microseconds
    self.prepare = prepare
    self.apply = apply
  }

  /// Starts the reload thread.
  func start() throws(SystemError) {
    try PosixThread.detached(name: "rule reload") { [self] in run() }
  }

  /// Ends the reload thread after the reload in progress (if any); queued ones are dropped.
  func stop() {
    mutex.withLock {
      stopped = true
      mutex.broadcast()
    }
  }

  /// Asks for a reload: joins the one waiting to start, or queues a new one. `pinned`: no
  /// caller will wait for it (SIGHUP), so it is never cancelled.
  func request(pinned: Bool = false) -> ReloadTicket {
    mutex.withLock {
      if let queued, queued.join(pinned: pinned) { return queued }
      let ticket = ReloadTicket(pinned: pinned)
      queued = ticket
      mutex.broadcast()
      return ticket
    }
  }

  private func run() {
    while let ticket = next() {
      guard ticket.startLoading() else { continue }  // its callers gave up while it waited
      let prepared = prepare()
      if ticket.isCancelled { continue }
      if !apply(prepared, ticket) {
        ticket.finish(
          ReloadOutcome(
            accepted: false, ruleCount: 0,
            diagnostics: [
              Diagnostic(.error, at: nil, "the daemon is overloaded or stopping; the reload was not applied")
            ],
            time: Timestamp(microseconds: 0)))
      }
    }
  }

  /// The next ticket to load, at most one start per `minimumInterval`; nil once stopped.
  private func next() -> ReloadTicket? {
    mutex.withLock {
      while !stopped {
        let now = SystemMonotonicClock.nowMicroseconds()
        if queued != nil, let lastStart, now < lastStart + minimumInterval {
          mutex.wait(untilMonotonic: lastStart + minimumInterval)
          continue
        }
        if let ticket = queued {
          queued = nil
          lastStart = now
          return ticket
        }
        mutex.wait(untilMonotonic: nil)
      }
      return nil
    }
  }
}
