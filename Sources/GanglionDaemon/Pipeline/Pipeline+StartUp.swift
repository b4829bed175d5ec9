import GanglionCore
import GanglionRules
import Logging

/// Start-up on the pipeline: what the daemon knows when it starts is recorded before the
/// first input, without firing rules.
extension Pipeline {
  /// Records the start-up state without firing rules (rules.md "Restart is not a trigger"):
  /// the `start` event, restored `persist` values, outputs at `initial`, inputs read once;
  /// then resumes the countdowns that were running. Call before `run()`, on its thread.
  func startUp(initialInputs: [String: Bool], restored: [String: Value]) {
    delivery?.enqueueBacklog()
    let now = clock.now()
    // At the instant the engine counts its `every` timers from (`EngineContext.startTime`), so
    // that a replay, which starts its engine at this event's time, fires them when they fired.
    record(
      system: .start(simulated: settings.simulate, rules: settings.loaded.rules.names.count),
      at: status.snapshot.startTime)
    // Outputs were driven first (to `initial`, or their persisted value), then inputs read.
    for role in [SignalRole.output, .input, .virtual] {
      for signal in config.signals where signal.role == role {
        let value: Value?
        if let persisted = restored[signal.name] {
          value = persisted
        } else if case .gpio(let gpio) = signal.source, gpio.count == nil {
          value = gpio.isOutput ? .bool(gpio.initial) : initialInputs[signal.name].map(Value.bool)
        } else {
          value = signal.initial
        }
        guard let value else { continue }
        engine.restore(signal: signal.name, value: value, time: now)
        var event = Event(time: now, kind: .signal, signal: signal.name, value: value, source: .system)
        record(&event)
        announce([event])
      }
    }
    resumeTimers()
    syncIfAlways()
  }

  /// Resumes the `for`/`after` countdowns that were running when the daemon stopped
  /// (rules.md: a countdown whose deadline passed fires now, with `late: true`).
  func resumeTimers() {
    do {
      for timer in engine.restoreTimers(try stateFiles.readTimers()) {
        logger.notice("the countdown of rule \(timer.rule) was not resumed: the rule changed or is gone")
      }
      stateFiles.noteTimersSaved(revision: engine.timerRevision)
    } catch {
      logger.error("cannot read the saved countdowns: \(error)")
    }
  }
}
