import GanglionCore
import GanglionRules
import GanglionSystem
import Logging
import Synchronization

/// Reloading rules on the pipeline (SIGHUP, `ganglion reload`): all or nothing. The rule
/// files were read and compiled on the reload thread (`RuleReloader`); here the new set is
/// only swapped in, so a reload never holds up events for a file.
extension Pipeline {
  /// If the prepared rules check, swaps them in (state and the countdowns of unchanged rules
  /// survive), else keeps the running ones and records the rejection with every error.
  func apply(_ prepared: PreparedRules) -> ReloadOutcome {
    let now = clock.now()
    let errors = prepared.diagnostics.filter { $0.severity == .error }
    guard errors.isEmpty, let rules = prepared.rules else {
      let outcome = ReloadOutcome(
        accepted: false, ruleCount: settings.loaded.rules.names.count, diagnostics: prepared.diagnostics, time: now)
      status.update { $0.rejectedReload = outcome }
      for diagnostic in prepared.diagnostics { logger.error("reload rejected: \(diagnostic)") }
      record(system: .reloadRejected(errors: max(1, errors.count)))
      return outcome
    }
    for timer in engine.replaceRules(rules) {
      logger.notice("reload cancelled the running countdown of rule \(timer.rule)")
    }
    settings.loaded.rules = rules
    settings.loaded.ruleSources = prepared.sources
    everyEventSignals.withLock { $0 = rules.signalsWithEveryEventRead }
    status.update {
      $0.rejectedReload = nil
      $0.rules = rules.names
    }
    logger.notice("reloaded \(rules.names.count) rules")
    record(system: .reload(rules: rules.names.count))
    return ReloadOutcome(accepted: true, ruleCount: rules.names.count, diagnostics: prepared.diagnostics, time: now)
  }

  /// A reloader for this pipeline: it reads the configuration's rule files on its own thread
  /// and hands the result to the pipeline's queue.
  func makeReloader(minimumInterval: Duration = .seconds(1)) -> RuleReloader {
    let config = config
    let configPath = settings.loaded.configPath
    return RuleReloader(
      minimumInterval: minimumInterval, prepare: { PreparedRules.load(config: config, configPath: configPath) },
      apply: { [weak self] prepared, ticket in
        // The queue may be full for a moment (a burst): try for up to a second.
        for _ in 0..<200 {
          guard let self else { return false }
          if self.inbox.offer(.applyRules(prepared, ticket)) { return true }
          if self.inbox.isClosed { return false }
          sleepOnThisThread(.milliseconds(5))
        }
        return false
      })
  }
}
