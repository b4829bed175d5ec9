import GanglionTestSupport
import Testing

/// `ganglion check` on broken and hostile rule and config files, through the real
/// executable: exit status 1 and the error line a user would read, promptly.
@Suite struct BadInputCLITests {
  /// Writes a config naming `bad.yaml` as its rules, plus `bad.yaml` with these bytes, and
  /// runs `ganglion check` on it.
  func check(rules bytes: [UInt8]) async throws -> (code: Int32, output: String) {
    let folder = try TemporaryDirectory(prefix: "ganglion-bad-input")
    let config = try folder.write(
      "device: t\nrules: bad.yaml\nsignals:\n  hallway.motion:\n    type: bool\n", to: "ganglion.yaml")
    try writeFile(folder.path("bad.yaml"), bytes: bytes)
    return try await runGanglion(["check", "--config", config])
  }

  func check(rules text: String) async throws -> (code: Int32, output: String) {
    try await check(rules: Array(text.utf8))
  }

  @Test func ruleTextThatIsNotYAML() async throws {
    let (code, output) = try await check(rules: "rules:\n  - name: a\n    when: [unclosed\n")
    #expect(code == 1)
    #expect(output.contains("/bad.yaml:4:1: error: YAML syntax:"), "\(output)")
  }

  @Test func anEmptyRuleFileOnlyWarns() async throws {
    let (code, output) = try await check(rules: "# nothing yet\n")
    #expect(code == 0)
    #expect(output.contains("/bad.yaml:1:1: warning: the rule file is empty"), "\(output)")
  }

  @Test func aRuleFileOverOneMebibyte() async throws {
    let (code, output) = try await check(rules: "rules:\n" + String(repeating: "# padding\n", count: 110_000))
    #expect(code == 1)
    #expect(
      output.contains("/bad.yaml:1:1: error: file is 1100007 bytes; Ganglion reads YAML files of at most 1024 KiB"),
      "\(output)")
  }

  @Test func aRuleFileNestedTenThousandLevels() async throws {
    let (code, output) = try await check(
      rules: "rules: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000))
    #expect(code == 1)
    #expect(output.contains("/bad.yaml:1:71: error: nesting deeper than 64 levels"), "\(output)")
  }

  @Test func anAliasBomb() async throws {
    var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1...9 {
      text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
    }
    let (code, output) = try await check(rules: text + "rules: *a9\n")
    #expect(code == 1)
    #expect(output.contains("error: more than 100000 nodes (after expanding aliases)"), "\(output)")
  }

  @Test func aBinaryRuleFile() async throws {
    var bytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00]
    var state: UInt32 = 7
    for _ in 0..<100_000 {
      state = state &* 1_103_515_245 &+ 12345
      bytes.append(UInt8(truncatingIfNeeded: state >> 16))
    }
    let (code, output) = try await check(rules: bytes)
    #expect(code == 1)
    #expect(output.contains("/bad.yaml:1:1: error: YAML syntax:"), "\(output)")
  }

  @Test func rulesThatIsAScalar() async throws {
    let (code, output) = try await check(rules: "rules: hallway-light-on\n")
    #expect(code == 1)
    #expect(output.contains("/bad.yaml:1:8: error: 'rules' is a list of rules (each starting with '- name:')"))
  }

  @Test func aHundredThousandBrokenRulesGiveAHundredErrors() async throws {
    let (code, output) = try await check(rules: "rules:\n" + String(repeating: "  - x\n", count: 99_990))
    #expect(code == 1)
    #expect(
      output.contains(
        "/bad.yaml:102:5: error: more than 100 errors in this file; the rules from here on were not checked"),
      "\(output.suffix(500))")
    #expect(!output.contains("/bad.yaml:103:5:"), "the errors stop at the limit")
  }

  @Test func aBinaryConfig() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-bad-input")
    try writeFile(
      folder.path("ganglion.yaml"), bytes: [0x00, 0xFF, 0xFE, 0x01, 0x02] + Array(repeating: 0, count: 1000))
    let (code, output) = try await runGanglion(["check", "--config", folder.path("ganglion.yaml")])
    #expect(code == 1)
    #expect(output.contains("/ganglion.yaml:1:1: error: YAML syntax:"), "\(output)")
  }
}
