import ArgumentParser
import GanglionCore
import GanglionDaemon
import GanglionRules
import GanglionSystem

struct RuleTest: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "test",
    abstract: "Run rule tests (*.test.yaml) on a virtual clock; print each failure and `N passed, N failed`.",
    discussion: """
      Each test file runs with the configuration it names with `config:` (relative to the file), \
      else --config, else $GANGLION_CONFIG, else the ganglion.yaml in the test file's folder or above, \
      else in the current folder or above, else /etc/ganglion/ganglion.yaml. Its rules are the configuration's rules and the rule files \
      beside it, each file once.
      """)

  @OptionGroup var options: ConfigOption
  @Argument(help: "Test files, or folders holding *.test.yaml files (default: the current folder).")
  var paths: [String] = []

  func run() throws {
    var testFiles: [String] = []
    for path in paths.isEmpty ? ["."] : paths {
      switch FileSystem.kind(of: path) {
      case .directory:
        let names = (try? FileSystem.list(path)) ?? []
        testFiles += names.filter { $0.hasSuffix(".test.yaml") || $0.hasSuffix(".test.yml") }
          .map { FileSystem.normalize(path + "/" + $0) }
      case .file:
        testFiles.append(path)
      default:
        printError("\(path): no such file or folder")
        throw ExitCode.badConfig
      }
    }
    var seen: Set<FileSystem.Identity> = []
    testFiles = testFiles.filter { FileSystem.identity(of: $0).map { seen.insert($0).inserted } ?? true }
    guard !testFiles.isEmpty else {
      printError("no *.test.yaml files in \(paths.isEmpty ? "." : paths.joined(separator: " "))")
      throw ExitCode.badConfig
    }

    // Group the test files by the configuration they run with: the one a file names with
    // `config:` (relative to the file), else the one given. Configurations are told apart by
    // identity, not by how their path is spelled.
    var groups: [(configPath: String, identity: FileSystem.Identity?, tests: [RuleSource])] = []
    var passed = 0
    var failed = 0
    var found: [String: String] = [:]  // by test folder: the configuration the search finds
    for file in testFiles {
      let test: RuleSource
      do {
        test = RuleSource(file: file, text: try FileSystem.readText(file))
      } catch {
        printError("\(error)")
        failed += 1
        continue
      }
      let configPath: String
      if let named = RuleTestRunner.configPath(of: test) {
        configPath = FileSystem.resolve(named, relativeTo: FileSystem.directory(of: file))
      } else {
        let folder = FileSystem.directory(of: file)
        if found[folder] == nil { found[folder] = try options.located(from: [folder, "."]) }
        configPath = found[folder]!
      }
      let identity = FileSystem.identity(of: configPath)
      if let index = groups.firstIndex(where: {
        identity == nil ? $0.configPath == configPath : $0.identity == identity
      }) {
        groups[index].tests.append(test)
      } else {
        groups.append((configPath, identity, [test]))
      }
    }

    for group in groups {
      let (loaded, diagnostics) = ConfigurationLoader.load(configPath: group.configPath)
      for diagnostic in diagnostics { printError(diagnostic.description) }
      guard let loaded else {
        failed += group.tests.count
        continue
      }
      // The configuration's rules, and the rule files beside the tests: each file once.
      var collector = DiagnosticCollector()
      var rules = loaded.ruleSources
      var read = Set(rules.compactMap { FileSystem.identity(of: $0.file) })
      let folders = Set(group.tests.map { FileSystem.directory(of: $0.file) }).sorted()
      rules += ConfigurationLoader.readRules(
        folders.map { ($0, nil) }, excluding: group.configPath, alreadyRead: &read, diagnostics: &collector)
      // Local time is the configuration's `timezone:`, else UTC, never this machine's zone; the
      // clock starts at 2026-01-01T00:00:00 local (rules.md "Rule tests").
      let config = loaded.config
      let zone = (loaded.timeZone ?? .utc).rules
      let start = zone.instant(localDay: CivilDate.toDays(year: 2026, month: 1, day: 1), secondOfDay: 0)
      let report = RuleTestRunner.run(
        tests: group.tests, rules: rules, signals: config.catalog,
        context: EngineContext(
          device: config.device, prefix: config.mqtt?.prefix, startTime: Timestamp(seconds: start), timeZone: zone))
      for diagnostic in collector.diagnostics + report.diagnostics { printError(diagnostic.description) }
      for result in report.results {
        for failure in result.failures { print(failure.description) }
      }
      passed += report.passedCount
      failed += report.failedCount + report.diagnostics.filter { $0.severity == .error }.count
    }
    print("\(passed) passed, \(failed) failed")
    if failed > 0 { throw ExitCode.checkFailed }
  }
}
