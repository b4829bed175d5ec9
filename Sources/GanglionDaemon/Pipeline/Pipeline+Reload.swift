import GanglionCore
import GanglionRules
import Logging

/// Reloading rules on the pipeline (SIGHUP, `ganglion reload`): all or nothing.
extension Pipeline {
  /// Reads and compiles the configuration's rules; if they check, swaps them in (state and
  /// the countdowns of unchanged rules survive), else keeps the running ones and records the
  /// rejection with every error.
  func reload() -> ReloadOutcome {
    var diagnostics = DiagnosticCollector()
    let sources = ConfigurationLoader.readRules(
      of: config, configPath: settings.loaded.configPath, diagnostics: &diagnostics)
    let (rules, ruleDiagnostics) = RuleCompiler.compile(sources, signals: config.catalog)
    diagnostics.append(contentsOf: ruleDiagnostics)
    let now = clock.now()
    guard !diagnostics.hasErrors, let rules else {
      let outcome = ReloadOutcome(
        accepted: false, ruleCount: settings.loaded.rules.names.count, diagnostics: diagnostics.diagnostics, time: now)
      status.update { $0.rejectedReload = outcome }
      for diagnostic in diagnostics.diagnostics { logger.error("reload rejected: \(diagnostic)") }
      record(system: .reloadRejected(errors: diagnostics.diagnostics.count))
      return outcome
    }
    for timer in engine.replaceRules(rules) {
      logger.notice("reload cancelled the running countdown of rule \(timer.rule)")
    }
    settings.loaded.rules = rules
    settings.loaded.ruleSources = sources
    status.update {
      $0.rejectedReload = nil
      $0.rules = rules.names
    }
    logger.notice("reloaded \(rules.names.count) rules")
    record(system: .reload(rules: rules.names.count))
    return ReloadOutcome(accepted: true, ruleCount: rules.names.count, diagnostics: diagnostics.diagnostics, time: now)
  }
}
