import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// `ganglion test` as a new user runs it: from the configuration's folder, from inside the
/// rules folder, and exactly as Rules/README.md writes it.
@Suite struct RuleTestCommandTests {
  static let config = """
    device: porch-pi
    rules: rules/
    signals:
      porch.button:
        mqtt: { topic: porch/button, type: string }
      porch.lamp:
        type: bool
        initial: false
    """

  static let rules = """
    rules:
      - name: lamp-on
        on: porch.button
        do:
          - set: { porch.lamp: on }
    """

  static let tests = """
    tests:
      - name: a press lights the lamp
        rules: lamp.yaml
        steps:
          - input: { porch.button: single }
          - expect: { porch.lamp: on }
    """

  /// A folder with `ganglion.yaml` and `rules/` holding a rule file and its test.
  static func project() throws -> TemporaryDirectory {
    let folder = try TemporaryDirectory(prefix: "ganglion-rules-folder")
    try FileSystem.makeDirectories(folder.path("rules"))
    try folder.write(config, to: "ganglion.yaml")
    try folder.write(rules, to: "rules/lamp.yaml")
    try folder.write(tests, to: "rules/lamp.test.yaml")
    return folder
  }

  /// The same rule file reached as `../rules/lamp.yaml` (through the config) and as
  /// `lamp.yaml` (beside the test) is one file, not a duplicate of every rule in it.
  @Test func testsRunFromInsideTheRulesFolderLoadEachRuleFileOnce() async throws {
    let folder = try Self.project()
    for arguments in [["test", "--config", "../ganglion.yaml"], ["test"], ["test", "."], ["test", "lamp.test.yaml"]] {
      let result = try await runGanglion(arguments, in: folder.path("rules"))
      #expect(result.code == 0, "\(arguments): \(result.output)")
      #expect(result.output.hasSuffix("1 passed, 0 failed\n"), "\(arguments): \(result.output)")
      #expect(!result.output.contains("duplicate"), "\(arguments): \(result.output)")
    }
    let fromAbove = try await runGanglion(["test", "rules/"], in: folder.path)
    #expect(fromAbove.code == 0 && fromAbove.output.hasSuffix("1 passed, 0 failed\n"), "\(fromAbove.output)")
  }

  /// A counter with `initial: 0` counts in `ganglion test` as it does in the daemon, and an
  /// output with `initial: off` is off before anything sets it.
  @Test func testsStartFromTheConfigurationsInitialValues() async throws {
    let folder = try Self.project()
    try folder.write(
      Self.config + """

          clicks:
            type: number
            initial: 0
        """, to: "ganglion.yaml")
    try folder.write(
      """
      rules:
        - name: count
          on: porch.button
          do:
            - set: { clicks: clicks + 1 }
      """, to: "rules/count.yaml")
    try folder.write(
      """
      tests:
        - name: two presses count two
          rules: count.yaml
          steps:
            - expect: { porch.lamp: off, clicks: 0 }
            - input: { porch.button: single }
            - input: { porch.button: double }
            - expect: { clicks: 2 }
      """, to: "rules/count.test.yaml")
    let result = try await runGanglion(["test"], in: folder.path("rules"))
    #expect(result.code == 0 && result.output.hasSuffix("2 passed, 0 failed\n"), "\(result.output)")
  }

  /// Every `ganglion` command in a shell block of Rules/README.md, run from the repository's
  /// root as written, succeeds; every line of the output block after them is in their output.
  @Test func theCommandsOfTheRulesReadmeWorkAsWritten() async throws {
    let readme = try FileSystem.readText(repositoryRoot + "/Rules/README.md")
    let blocks = Self.codeBlocks(readme)
    guard let commandsIndex = blocks.firstIndex(where: { $0.language == "sh" }) else {
      Issue.record("Rules/README.md has no sh block")
      return
    }
    let commands = blocks[commandsIndex].lines.map { line in
      String(line.split(separator: "#", maxSplits: 1).first ?? "").trimmingASCIIWhitespace()
    }.filter { !$0.isEmpty }
    #expect(commands.count >= 3, "\(commands)")
    var output = ""
    for command in commands {
      let result = try await runShell(command, in: repositoryRoot)
      #expect(result.code == 0, "`\(command)` exited \(result.code): \(result.output)")
      output += result.output
    }
    let expected = blocks.dropFirst(commandsIndex + 1).first { $0.language.isEmpty }?.lines ?? []
    #expect(!expected.isEmpty, "an output block follows the commands")
    for line in expected {
      #expect(output.contains(line), "the README shows '\(line)'; the commands printed:\n\(output)")
    }
  }

  /// The fenced code blocks of a Markdown text: their language tag and lines.
  static func codeBlocks(_ text: String) -> [(language: String, lines: [String])] {
    var blocks: [(String, [String])] = []
    var current: (String, [String])?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("```") {
        if let block = current {
          blocks.append(block)
          current = nil
        } else {
          current = (String(line.dropFirst(3)), [])
        }
      } else if current != nil {
        current!.1.append(String(line))
      }
    }
    return blocks
  }

  /// Runs a shell command line from `directory` with `ganglion` on the PATH and without
  /// `$GANGLION_CONFIG`.
  func runShell(_ command: String, in directory: String) async throws -> (code: Int32, output: String) {
    let binFolder = FileSystem.directory(of: ganglionExecutable)
    let path = binFolder + ":" + (CurrentProcess.environment("PATH") ?? "/usr/bin:/bin")
    return try await runProgram(["/bin/sh", "-c", command], in: directory, environment: ["PATH": path])
  }
}
