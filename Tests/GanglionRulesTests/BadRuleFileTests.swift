import GanglionCore
import Testing

@testable import GanglionRules

/// Hostile and broken rule files: each must give a clear diagnostic (at `file:line:column`
/// where there is a place to point at) and return promptly, never crash or hang.
@Suite struct BadRuleFileTests {
  /// The error lines of compiling one file; the file must not compile.
  func failures(_ text: String) -> [String] {
    let (rules, diagnostics) = RuleCompiler.compile([RuleSource(file: "bad.yaml", text: text)], signals: demoSignals)
    #expect(rules == nil, "a broken file must not produce rules")
    return diagnostics.filter { $0.severity == .error }.map(\.description)
  }

  @Test func textThatIsNotYAMLIsASyntaxErrorAtItsPlace() {
    let lines = failures("rules:\n  - name: a\n    when: [unclosed\n")
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("bad.yaml:4:1: error: YAML syntax:") == true, "\(lines)")
  }

  @Test func proseIsNotARuleFile() {
    let lines = failures("Dear Ganglion,\nplease turn on the light.\n")
    #expect(lines == ["bad.yaml:1:1: error: a rule file is a mapping with 'rules:', a list of rules; found a scalar"])
  }

  @Test func anEmptyFileOrOneOfOnlyCommentsWarnsThatItHoldsNoRules() {
    for text in ["", "\n\n", "# rules come later\n# really\n"] {
      let (rules, diagnostics) = RuleCompiler.compile(
        [RuleSource(file: "empty.yaml", text: text)], signals: demoSignals)
      #expect(rules?.rules.isEmpty == true)
      #expect(
        diagnostics.map(\.description) == [
          "empty.yaml:1:1: warning: the rule file is empty; expected 'rules:', a list of rules"
        ])
    }
  }

  @Test func aFileOverOneMebibyteIsRefusedBeforeParsing() {
    let rule = "  - name: r\n    every: 1m\n    do: [{ log: hello }]\n"
    let text = "rules:\n" + String(repeating: rule, count: (1 << 20) / rule.utf8.count + 1)
    let lines = failures(text)
    #expect(
      lines == ["bad.yaml:1:1: error: file is \(text.utf8.count) bytes; Ganglion reads YAML files of at most 1024 KiB"])
  }

  @Test func tenThousandLevelsOfNestingStopAtTheLimit() {
    let flow = "rules: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
    #expect(failures(flow) == ["bad.yaml:1:71: error: nesting deeper than 64 levels"])

    var block = "rules:\n"
    for level in 0..<100 { block += String(repeating: "  ", count: level + 1) + "- \n" }
    let lines = failures(block)
    #expect(lines.count == 1)
    #expect(lines.first?.hasSuffix("error: nesting deeper than 64 levels") == true, "\(lines)")
  }

  @Test func anAliasBombIsStoppedByTheNodeLimit() {
    var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1...9 {
      let previous = "*a\(level - 1)"
      text += "a\(level): &a\(level) [" + Array(repeating: previous, count: 10).joined(separator: ", ") + "]\n"
    }
    text += "rules: *a9\n"
    let lines = failures(text)
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("bad.yaml:") == true)
    #expect(lines.first?.hasSuffix("error: more than 100000 nodes (after expanding aliases)") == true, "\(lines)")
  }

  @Test func aBinaryFileIsASyntaxErrorNotACrash() {
    var bytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00]  // an ELF header
    var state: UInt32 = 12345
    for _ in 0..<4096 {
      state = state &* 1_103_515_245 &+ 12345
      bytes.append(UInt8(truncatingIfNeeded: state >> 16))
    }
    let lines = failures(String(decoding: bytes, as: UTF8.self))
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("bad.yaml:1:1: error: YAML syntax:") == true, "\(lines)")
  }

  @Test func rulesThatIsAScalarOrAMappingSaysWhatItShouldBe() {
    #expect(
      failures("rules: hallway-light-on\n") == [
        "bad.yaml:1:8: error: 'rules' is a list of rules (each starting with '- name:')"
      ])
    #expect(
      failures("rules:\n  name: a\n  when: hallway.motion\n") == [
        "bad.yaml:2:3: error: 'rules' is a list of rules (each starting with '- name:')"
      ])
  }

  @Test func aListAtTheTopIsNotARuleFile() {
    #expect(
      failures("- name: a\n  when: hallway.motion\n") == [
        "bad.yaml:1:1: error: a rule file is a mapping with 'rules:', a list of rules; found a list"
      ])
  }

  @Test func aSecondDocumentIsAnError() {
    let lines = failures("rules: []\n---\nrules: []\n")
    #expect(lines == ["bad.yaml:2:1: error: a file holds one YAML document; found a second '---'"])
  }

  @Test func fiveThousandRulesCompile() throws {
    var text = "rules:\n"
    for i in 0..<5_000 { text += "  - { name: r\(i), when: hallway.lux > \(i), do: [{ set: { counter: \(i) } }] }\n" }
    let rules = try compileRules(text)
    #expect(rules.rules.count == 5_000)
  }

  @Test func aHundredThousandRulesAreRefusedWithOneError() {
    // Written with aliases so that the text stays under the size limit.
    var text = "rules:\n  - &r { name: r, every: 1m, do: [{ log: hi }] }\n"
    text += String(repeating: "  - *r\n", count: 99_999)
    let lines = failures(text)
    #expect(lines.count == 1)
    #expect(lines.first?.hasSuffix("error: more than 100000 nodes (after expanding aliases)") == true, "\(lines)")
  }

  @Test func anExpressionNestedAThousandLevelsIsRefusedAtTheLevelOverTheLimit() {
    let deep = String(repeating: "(", count: 1_000) + "hallway.motion" + String(repeating: ")", count: 1_000)
    let lines = failures("rules:\n  - name: a\n    when: \(deep)\n    do: [{ log: hi }]\n")
    // `when: ` ends at column 10; the 101st parenthesis is the first too deep.
    #expect(lines == ["bad.yaml:3:111: error: expression nested more than 100 levels deep"])
  }

  @Test func anExpressionNestedTenThousandLevelsIsTooLong() {
    let deep = String(repeating: "(", count: 10_000) + "hallway.motion" + String(repeating: ")", count: 10_000)
    let lines = failures("rules:\n  - name: a\n    when: \(deep)\n    do: [{ log: hi }]\n")
    #expect(lines.count == 1)
    #expect(
      lines.first?.hasSuffix(
        "error: expression too long: more than 4096 tokens; split it over several rules or signals") == true, "\(lines)"
    )
  }

  @Test func anExpressionOfAHundredThousandTokensIsRefused() {
    let long = Array(repeating: "hallway.motion", count: 50_000).joined(separator: " or ")
    let lines = failures("rules:\n  - name: a\n    when: \(long)\n    do: [{ log: hi }]\n")
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("bad.yaml:3:") == true, "\(lines)")
    #expect(
      lines.first?.hasSuffix("expression too long: more than 4096 tokens; split it over several rules or signals")
        == true)
  }

  @Test func deepUnaryChainsAreRefusedToo() {
    for deep in [
      String(repeating: "not ", count: 5_000) + "hallway.motion",
      String(repeating: "-", count: 5_000) + "hallway.lux > 1",
      "living.sensor" + String(repeating: "[\"a\"]", count: 3_000) + " == 1",
    ] {
      let lines = failures("rules:\n  - name: a\n    when: \(deep)\n    do: [{ log: hi }]\n")
      #expect(lines.count == 1, "\(lines)")
      #expect(lines.first?.hasPrefix("bad.yaml:3:") == true, "\(lines)")
    }
  }

  @Test func tabsForIndentationAreASyntaxErrorAtTheTab() {
    let lines = failures("rules:\n\t- name: a\n")
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("bad.yaml:2:1: error: YAML syntax:") == true, "\(lines)")
  }
}

@Suite struct ManyErrorsTests {
  @Test func aFileOfManyBrokenRulesStopsAfterOneHundredErrors() {
    let text = "rules:\n" + String(repeating: "  - x\n", count: 50_000)
    let lines = RuleCompiler.compile([RuleSource(file: "bad.yaml", text: text)], signals: demoSignals).diagnostics
      .map(\.description)
    #expect(lines.count == 101)
    #expect(lines.first == "bad.yaml:2:5: error: a rule is a mapping with 'name', a trigger and 'do'; found a scalar")
    #expect(
      lines.last
        == "bad.yaml:102:5: error: more than 100 errors in this file; the rules from here on were not checked")
  }
}
