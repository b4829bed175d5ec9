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
      Each test file runs with the configuration given by --config, else the ganglion.yaml in its \
      folder or above. Its rules are the configuration's rules and the rule files beside it.
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
    guard !testFiles.isEmpty else {
      printError("no *.test.yaml files in \(paths.isEmpty ? "." : paths.joined(separator: " "))")
      throw ExitCode.badConfig
    }

    // Group the test files by the configuration they run with.
    var groups: [String: [String]] = [:]
    for file in testFiles {
      guard let config = options.config ?? Self.findConfig(near: file) else {
        printError("\(file): no configuration; give --config or put a ganglion.yaml in its folder or above")
        throw ExitCode.badConfig
      }
      groups[config, default: []].append(file)
    }

    var passed = 0
    var failed = 0
    for (configPath, files) in groups.sorted(by: { $0.key < $1.key }) {
      let (loaded, diagnostics) = ConfigurationLoader.load(configPath: configPath)
      for diagnostic in diagnostics { printError(diagnostic.description) }
      guard let loaded else {
        failed += files.count
        continue
      }
      var collector = DiagnosticCollector()
      var rules = loaded.ruleSources
      var known = Set(rules.map { FileSystem.normalize($0.file) })
      for folder in Set(files.map(FileSystem.directory(of:))).sorted() {
        for source in ConfigurationLoader.readRules(
          [(folder, nil)], excluding: configPath, diagnostics: &collector)
        where known.insert(FileSystem.normalize(source.file)).inserted {
          rules.append(source)
        }
      }
      var tests: [RuleSource] = []
      for file in files {
        do {
          tests.append(RuleSource(file: file, text: try FileSystem.readText(file)))
        } catch {
          printError("\(error)")
          failed += 1
        }
      }
      let config = loaded.config
      let report = RuleTestRunner.run(
        tests: tests, rules: rules, signals: config.catalog,
        context: EngineContext(
          device: config.device, prefix: config.mqtt?.prefix, startTime: Timestamp(seconds: 1_767_225_600)))
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

  /// `ganglion.yaml` in the file's folder or the nearest folder above it.
  static func findConfig(near file: String) -> String? {
    var folder = FileSystem.directory(of: file)
    for _ in 0..<32 {
      let candidate = FileSystem.normalize(folder + "/ganglion.yaml")
      if FileSystem.kind(of: candidate) == .file { return candidate }
      if folder == "/" { return nil }
      let parent = FileSystem.normalize(folder + "/..")
      if parent == folder || parent.hasSuffix("..") && FileSystem.kind(of: parent) != .directory { return nil }
      folder = parent
    }
    return nil
  }
}
