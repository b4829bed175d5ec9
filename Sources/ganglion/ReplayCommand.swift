import ArgumentParser
import GanglionAnalysis
import GanglionCore
import GanglionDaemon
import GanglionLog
import GanglionRules
import GanglionSystem

struct Replay: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Feed the logged inputs through rules on a virtual clock and print what the rules would have done.",
    discussion: """
      Touches no hardware and no broker. The rules are the configuration's, or those given with --rules. \
      The signal values as logged before the first replayed event are restored without firing; \
      where the daemon restarted, the replay restarts too; a reload in the log changes nothing \
      (the chosen rules apply throughout). \
      With --diff, prints only where the replay differs from the log: `-` lines were logged but not \
      replayed, `+` lines replayed but not logged, each group after the input it followed; exit 1 if \
      there is any difference.
      """)

  @OptionGroup var location: LogLocation
  @Option(name: .customLong("rules"), help: "Rule files or folders to use instead of the configuration's `rules:`.")
  var rulePaths: [String] = []
  @OptionGroup var range: SelectionOptions
  @Flag(help: "JSON lines: each event (or difference), then a summary.") var json = false
  @Flag(help: "Show only where the replay differs from what was logged.") var diff = false

  func run() throws {
    let selection = try range.selection()
    let configPath = try location.options.located()
    let (loaded, diagnostics) = ConfigurationLoader.load(
      configPath: configPath, rulePaths: rulePaths.isEmpty ? nil : rulePaths)
    for diagnostic in diagnostics { printError(diagnostic.description) }
    guard let loaded else { throw ExitCode.badConfig }
    let directory = location.log ?? loaded.logDirectory
    let reader = try LogLocation.reader(directory)
    let config = loaded.config
    let replayer = Replayer(
      rules: loaded.rules, signals: config.catalog, device: config.device, prefix: config.mqtt?.prefix,
      timeZone: LogLocation.deviceTimeZone(directory: directory, configured: loaded.timeZone).rules)
    var printer = ReplayPrinter(diff: diff, json: json, device: config.device)
    let report: ReplayReport
    do {
      report = try replayer.run(
        reader: reader, selection: selection, retainEvents: false, progressInterval: Progress.interval,
        progress: Progress.reporter("replay")
      ) { output in
        let lines = printer.lines(for: output)
        if !lines.isEmpty {
          Progress.clear()
          for line in lines { print(line) }
        }
      }
      Progress.clear()
    } catch {
      Progress.clear()
      printError("cannot read the event log: \(error)")
      throw ExitCode.runtimeFailure
    }
    for line in printer.closingLines(report) { print(line) }
    if diff, report.differenceCount > 0 { throw ExitCode.checkFailed }
  }
}
