import ArgumentParser
import GanglionAnalysis
import GanglionCore
import GanglionDaemon
import GanglionLog
import GanglionRules
import GanglionSystem

struct Explain: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The chain of causes of an event, back to its input, with each rule and its conditions' values.",
    discussion: """
      Each condition shows its value when the rule fired, and an `and` or `or` each of its parts: \
      the configuration's current rules, evaluated with the signal values, event times and windows \
      as logged, at the time of the firing, in the device's time zone. What the log cannot tell is \
      `unknown`, with the reason. Without a configuration \
      (only --log), the chain and rule names are shown without conditions.
      """)

  @OptionGroup var location: LogLocation
  @Argument(help: "The seq of the event to explain.") var seq: UInt64
  @Flag(help: "Print the explanation as one JSON document.") var json = false

  func run() throws {
    var rules: RuleSet?
    var device = "ganglion"
    var prefix: String?
    var configuredZone: DeviceTimeZone?
    var directory = location.log ?? ConfigurationLoader.defaultLogDirectory()
    if let configPath = location.options.locatedIfAny {
      let (loaded, diagnostics) = ConfigurationLoader.load(configPath: configPath)
      for diagnostic in diagnostics { printError(diagnostic.description) }
      guard let loaded else { throw ExitCode.badConfig }
      rules = loaded.rules
      device = loaded.config.device
      prefix = loaded.config.mqtt?.prefix
      configuredZone = loaded.timeZone
      directory = location.log ?? loaded.logDirectory
    }
    let reader = try LogLocation.reader(directory)
    let explainer = Explainer(
      rules: rules, device: device, prefix: prefix,
      timeZone: LogLocation.deviceTimeZone(directory: directory, configured: configuredZone).rules)
    let explanation: Explanation
    do {
      explanation = try explainer.explain(seq: seq, reader: reader)
    } catch let error as ExplainError {
      printError(error.description)
      throw ExitCode.badConfig
    } catch {
      printError("cannot read the event log: \(error)")
      throw ExitCode.runtimeFailure
    }
    if json {
      print(explanation.json(device: device))
    } else {
      for line in explanation.lines(device: device) { print(line) }
    }
  }
}
