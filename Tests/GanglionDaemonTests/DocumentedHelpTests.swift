import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// docs/cli.md lists every subcommand's options "exactly as `--help` prints them": each help
/// block there is what the executable prints today.
@Suite struct DocumentedHelpTests {
  /// Each `## ganglion X` / `### ganglion log X` section's block that starts with `OVERVIEW:`,
  /// with the words of its heading (nil for the page's first block, the top-level help).
  static func helpBlocks() throws -> [(command: [String], lines: [String])] {
    let text = try FileSystem.readText(repositoryRoot + "/docs/cli.md")
    var blocks: [([String], [String])] = []
    var command: [String] = []
    var current: [String]?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
      if current == nil, line.hasPrefix("## ganglion ") || line.hasPrefix("### ganglion ") {
        command = line.split(separator: " ").dropFirst(2).map(String.init)
      } else if line == "```" {
        if let lines = current {
          if lines.first?.hasPrefix("OVERVIEW:") == true { blocks.append((command, lines)) }
          current = nil
        } else {
          current = []
        }
      } else if line.hasPrefix("```") {
        current = current == nil ? [] : nil
      } else if current != nil {
        current!.append(line)
      }
    }
    return blocks
  }

  @Test func everyHelpBlockInCliMdIsWhatTheCommandPrints() async throws {
    let blocks = try Self.helpBlocks()
    #expect(blocks.count >= 12, "the help blocks were found")
    for (command, lines) in blocks {
      let result = try await runGanglion(command + ["--help"])
      var printed = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      while printed.last == "" { printed.removeLast() }
      #expect(printed == lines, "ganglion \(command.joined(separator: " ")) --help differs from docs/cli.md")
    }
  }
}
