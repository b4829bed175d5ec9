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

/// `--config PATH`, shared by the commands that read a configuration.
struct ConfigOption: ParsableArguments {
  @Option(name: .long, help: "The configuration file (default: $GANGLION_CONFIG or /etc/ganglion/ganglion.yaml).")
  var config: String?

  var path: String { config ?? ConfigurationLoader.defaultConfigPath() }

  /// The configuration, decoded only (nothing it names is read): for commands that need
  /// where things are (the log, the HTTP listener) but not the rules. Nil when no `--config`
  /// was given and the default file does not exist.
  /// - Throws: `ExitCode.badConfig` after printing why the file cannot be used.
  func decodedIfPresent() throws -> Config? {
    if config == nil, FileSystem.kind(of: path) != .file { return nil }
    let text: String
    do {
      text = try FileSystem.readText(path)
    } catch {
      printError("\(error)")
      throw ExitCode.badConfig
    }
    let (decoded, diagnostics) = ConfigDecoder.decode(text: text, file: path)
    guard let decoded else {
      for diagnostic in diagnostics { printError(diagnostic.description) }
      throw ExitCode.badConfig
    }
    return decoded
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
    let code = Daemon.run(.init(configPath: options.path, simulate: simulate, printEvents: printEvents))
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
    let (loaded, loadDiagnostics) = ConfigurationLoader.load(
      configPath: options.path, rulePaths: rules.isEmpty ? nil : rules)
    var diagnostics = loadDiagnostics
    if hardware, let loaded { diagnostics += HardwareCheck.diagnostics(loaded) }
    for diagnostic in diagnostics { printError(diagnostic.description) }
    guard let loaded, !diagnostics.contains(where: { $0.severity == .error }) else {
      let errors = diagnostics.filter { $0.severity == .error }.count
      printError("\(errors) error\(errors == 1 ? "" : "s")")
      throw ExitCode.checkFailed
    }
    print(
      "ok: \(loaded.config.signals.count) signals, \(loaded.rules.names.count) rules in \(loaded.ruleSources.count) files"
    )
  }
}
