import ArgumentParser
import GanglionCore
import GanglionDaemon
import GanglionGPIO
import GanglionMQTT
import GanglionRules
import GanglionSystem

@main
struct Ganglion: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ganglion",
    abstract: "A device-side event daemon: GPIO and MQTT in, rules, GPIO and MQTT out, an event log on disk.",
    version: versionText,
    subcommands: [
      Run.self, Check.self, RuleTest.self, Replay.self, Explain.self, Inject.self, Status.self, Reload.self,
      LogCommand.self, GPIOCommand.self,
    ])

  /// `ganglion --version`: this build and the C libraries it runs with.
  static let versionText =
    "ganglion \(GanglionVersion.version)\n\(HardwareGPIO.libraryDescription)\n\(MQTTClient.libraryDescription)"

  /// Exit codes follow cli.md: usage errors are 2 (ArgumentParser would say 64).
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch let exit as ExitCode {
      CurrentProcess.exit(exit.rawValue)
    } catch {
      let code = exitCode(for: error)
      let message = fullMessage(for: error)
      if code == .success {
        print(message)
        CurrentProcess.exit(0)
      }
      printError(message)
      CurrentProcess.exit(code == .validationFailure ? GanglionExitCode.badUsageOrConfig.rawValue : code.rawValue)
    }
  }
}

/// `--config PATH`, shared by the commands that read a configuration. Every command finds
/// its configuration the same way (cli.md, `ConfigurationSearch`).
struct ConfigOption: ParsableArguments {
  @Option(name: .long, help: ArgumentHelp(ConfigOption.help))
  var config: String?

  static let help =
    "The configuration file (default: $GANGLION_CONFIG, else ganglion.yaml here or in the nearest folder above, else /etc/ganglion/ganglion.yaml)."

  /// The configuration's path for a command that needs one.
  /// - Throws: `failure` after printing the paths that were tried, when there is none.
  /// - Parameter folders: where the search for `ganglion.yaml` starts (`ganglion test`: a
  ///   test file's folder, then the current one).
  func located(from folders: [String] = ["."], failure: ExitCode = .badConfig) throws -> String {
    switch ConfigurationSearch.locate(option: config, from: folders) {
    case .success(let path): return path
    case .failure(let notFound):
      printError("error: \(notFound)")
      throw failure
    }
  }

  /// The configuration's path for a command that can do without one (it then uses its
  /// defaults: the daemon at 127.0.0.1:9120, the log in the default folder); nil when there
  /// is none.
  var locatedIfAny: String? { try? ConfigurationSearch.locate(option: config).get() }

  /// The configuration, decoded only (nothing it names is read): for commands that need
  /// where things are (the log, the HTTP listener) but not the rules. Nil when there is no
  /// configuration to find.
  /// - Throws: `ExitCode.badConfig` after printing why the file cannot be used.
  func decodedIfPresent() throws -> (config: Config, path: String)? {
    guard let path = locatedIfAny else { return nil }
    let text: String
    do {
      text = try FileSystem.readText(path)
    } catch {
      printError("error: cannot read the configuration: \(error)")
      throw ExitCode.badConfig
    }
    let (decoded, diagnostics) = ConfigDecoder.decode(text: text, file: path)
    guard let decoded else {
      for diagnostic in diagnostics { printError(diagnostic.description) }
      throw ExitCode.badConfig
    }
    return (decoded, path)
  }
}

/// cli.md's exit codes (`GanglionExitCode`, shared with the daemon) as ArgumentParser's.
extension ExitCode {
  init(_ code: GanglionExitCode) { self.init(code.rawValue) }

  static let checkFailed = ExitCode(GanglionExitCode.failedCheck)
  static let badConfig = ExitCode(GanglionExitCode.badUsageOrConfig)
  static let runtimeFailure = ExitCode(GanglionExitCode.runtimeFailure)
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Run the daemon in the foreground.")

  @OptionGroup var options: ConfigOption
  @Flag(help: "Serve every GPIO line in-process (the simulated board); drive inputs with `ganglion inject`.")
  var simulate = false
  @Flag(help: "Print every event to standard output as it happens.")
  var printEvents = false

  func run() throws {
    let code = Daemon.run(.init(configPath: try options.located(), simulate: simulate, printEvents: printEvents))
    if code != .success { throw ExitCode(code) }
  }
}

struct Check: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Validate the configuration and rules; print every error; exit 1 if there are any.")

  @OptionGroup var options: ConfigOption
  @Flag(
    help:
      "Also open every GPIO chip and line the configuration names (without driving outputs) and report missing chips, lines in use and permission problems."
  )
  var hardware = false
  @Argument(help: "Rule files or folders to check instead of the configuration's `rules:`.")
  var rules: [String] = []

  func run() throws {
    // A check that finds no configuration failed, like one that cannot read it (exit 1).
    let (loaded, loadDiagnostics) = ConfigurationLoader.load(
      configPath: try options.located(failure: .checkFailed), rulePaths: rules.isEmpty ? nil : rules)
    var diagnostics = loadDiagnostics
    if hardware, let loaded { diagnostics += HardwareCheck.diagnostics(loaded) }
    for diagnostic in diagnostics { printError(diagnostic.description) }
    guard let loaded, !diagnostics.contains(where: { $0.severity == .error }) else {
      let errors = diagnostics.filter { $0.severity == .error }.count
      printError("\(errors) error\(errors == 1 ? "" : "s")")
      throw ExitCode.checkFailed
    }
    func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
    print(
      "ok: \(count(loaded.config.signals.count, "signal")), \(count(loaded.rules.names.count, "rule")) "
        + "in \(count(loaded.ruleSources.count, "file"))")
  }
}
