import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// The reed switch of the examples is wired one way everywhere: between GPIO22 and ground
/// with a pull-up, closed by the magnet while the door is shut, so the line is high and
/// `hallway.door` is `true` while the door is open (Rules/night.yaml's "door opened"), with no
/// `active_low`. `/status` says that `simulated_lines` are line levels.
@Suite struct DoorContactTests {
  /// The `gpio:` settings of `hallway.door` in a YAML text that declares it (the first
  /// `hallway.door:` mapping found, at any depth).
  static func doorSettings(_ yaml: String, file: String) throws -> YAMLFields? {
    guard let root = try YAMLParser.parse(yaml, file: file) else { return nil }
    func find(_ node: YAMLNode) -> YAMLNode? {
      for pair in node.mapping ?? [] {
        if pair.key.scalar == "hallway.door" { return pair.value }
        if let found = find(pair.value) { return found }
      }
      return nil
    }
    guard let door = find(root), let gpio = door.mapping?.first(where: { $0.key.scalar == "gpio" })?.value else {
      return nil
    }
    var reader = YAMLFieldReader()
    return reader.mapping(gpio, "gpio", allowed: ["pin", "chip", "line", "bias", "active_low", "debounce"])
  }

  /// The YAML code blocks of a Markdown file that mention `hallway.door:`.
  static func yamlBlocks(_ path: String) throws -> [String] {
    let text = try FileSystem.readText(repositoryRoot + "/" + path)
    return RuleTestCommandTests.codeBlocks(text).filter { $0.language == "yaml" }.map {
      $0.lines.joined(separator: "\n")
    }.filter { $0.contains("hallway.door:") }
  }

  @Test func theReedSwitchIsWiredTheSameWayInTheDemoTheDocsAndTheHardwareNotes() throws {
    var places: [(String, String)] = [
      ("Hardware/demo.yaml", try FileSystem.readText(repositoryRoot + "/Hardware/demo.yaml"))
    ]
    for path in ["Hardware/README.md", "docs/rules.md"] {
      let blocks = try Self.yamlBlocks(path)
      #expect(!blocks.isEmpty, "\(path) shows the door contact")
      places += blocks.map { (path, $0) }
    }
    for (path, yaml) in places {
      let gpio = try #require(try Self.doorSettings(yaml, file: path), "\(path): hallway.door's gpio settings")
      #expect(gpio["bias"]?.scalar == "pull-up", "\(path)")
      #expect(gpio["active_low"].map { $0.jsonValue == false } ?? true, "\(path): no active_low: true = open")
    }
    // The example rule reads `true` as the door opening.
    let night = try FileSystem.readText(repositoryRoot + "/Rules/night.yaml")
    #expect(night.contains("when: hallway.door") && night.contains("hallway door opened"))
  }

  @Test func statusSaysSimulatedLinesAreLineLevelsNotLogicalValues() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(
        device: "door-pi",
        signals: """
          hallway.door:
            gpio: { pin: GPIO22, bias: pull-up }
          hallway.button:
            gpio: { pin: GPIO5, bias: pull-up, active_low: true }
          """), files: ["rules.yaml": "rules: []\n"])
    _ = try await daemon.cli(["inject", "hallway.door", "on"])
    _ = try await daemon.cli(["inject", "hallway.button", "on"])
    let status = try await waitFor("both inputs in /status", timeout: .seconds(10)) { () -> Value? in
      let status = try await daemon.status()
      return status["signals"]?["hallway.button"]?["value"] == true ? status : nil
    }
    #expect(status["signals"]?["hallway.door"]?["value"] == true)
    #expect(status["simulated_lines"]?["hallway.door"] == true, "open door: the pull-up holds the line high")
    #expect(status["simulated_lines"]?["hallway.button"] == false, "pressed: the line is low, active_low makes it true")
    #expect(
      status["simulated_lines_are"]?.stringValue?.hasPrefix("line levels") == true, "\(status)")

    let human = try await daemon.cli(["status"])
    #expect(human.output.contains("simulated lines (line levels, not logical values):"), "\(human.output)")
    #expect(human.output.contains("  hallway.button = low"), "\(human.output)")
    #expect(human.output.contains("  hallway.door = high"), "\(human.output)")
    _ = await daemon.stop()
  }
}
