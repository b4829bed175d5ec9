import GanglionCore
import Glibc
import Testing

@testable import GanglionRules

/// The signals the demo configuration declares for the example rules in Rules/.
let exampleSignals = SignalCatalog([
  SignalInfo(name: "hallway.motion", type: .bool, role: .input),
  SignalInfo(name: "hallway.light", type: .bool, role: .output, initial: false),
  SignalInfo(name: "hallway.lux", type: .number, role: .input),
  SignalInfo(name: "hallway.door", type: .bool, role: .input),
  SignalInfo(name: "living.temperature", type: .number, role: .input),
  SignalInfo(name: "doorbell.press", type: .string, role: .input),
  SignalInfo(name: "porch.light", type: .bool, role: .output, initial: false),
  SignalInfo(name: "house.night", type: .bool, role: .virtual, persist: true, initial: false),
])

let exampleContext = EngineContext(device: "demo", startTime: t0)

/// Reads a file of the repository (tests only).
func readRepositoryFile(_ relativePath: String) throws -> String {
  let root = String(#filePath.split(separator: "/Tests/").first!)
  let path = root + "/" + relativePath
  guard let file = fopen(path, "r") else { throw TestFileError(path: path) }
  defer { fclose(file) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let n = fread(&buffer, 1, buffer.count, file)
    if n <= 0 { break }
    bytes += buffer[0..<n]
  }
  return String(decoding: bytes, as: UTF8.self)
}

struct TestFileError: Error { var path: String }

@Suite struct RuleTestRunnerTests {
  static let examples = ["motion-light", "heat-alert", "doorbell", "night", "heartbeat"]

  @Test(arguments: examples)
  func exampleRulesPassTheirTests(_ name: String) throws {
    let rules = [RuleSource(file: "Rules/\(name).yaml", text: try readRepositoryFile("Rules/\(name).yaml"))]
    let tests = [RuleSource(file: "Rules/\(name).test.yaml", text: try readRepositoryFile("Rules/\(name).test.yaml"))]
    let report = RuleTestRunner.run(tests: tests, rules: rules, signals: exampleSignals, context: exampleContext)
    #expect(report.succeeded, "\(report)")
    #expect(report.results.count >= 1)
    #expect(report.failedCount == 0)
  }

  @Test func allExamplesCompileTogether() throws {
    let sources = try Self.examples.map {
      RuleSource(file: "Rules/\($0).yaml", text: try readRepositoryFile("Rules/\($0).yaml"))
    }
    let (rules, diagnostics) = RuleCompiler.compile(sources, signals: exampleSignals)
    #expect(diagnostics.isEmpty, "\(diagnostics)")
    #expect(rules?.names.count == 9)
  }

  static let rules = [
    RuleSource(
      file: "rules/hall.yaml",
      text: """
        rules:
          - name: light-on
            when: hallway.motion
            do:
              - set: { hallway.light: on }
              - publish: { topic: home/light, payload: { state: "${hallway.light}", n: 1 } }
        """)
  ]

  /// The publish renders the light before the set runs (sets run after all rules of the
  /// event), so `state` is still the light's `initial`: false.
  @Test func failuresNameFileLineExpectedAndActual() {
    let test = """
      tests:
        - name: wrong on purpose
          rules: hall.yaml
          steps:
            - input: { hallway.motion: on }
            - expect: { hallway.light: off }
            - expect_published: { topic: home/light, payload: { state: true, n: 1 } }
            - expect_not_fired: light-on
            - expect_fired: light-onn
            - wait: 1s
            - expect_published: { topic: home/light }
        - name: right
          rules: hall.yaml
          steps:
            - input: { hallway.motion: on }
            - expect: { hallway.light: on }
            - expect_published: { topic: home/light, payload: '{"n": 1, "state": false}' }
            - expect_fired: light-on
      """
    let report = RuleTestRunner.run(
      tests: [RuleSource(file: "t.test.yaml", text: test)], rules: Self.rules, signals: exampleSignals)
    #expect(report.summary == "1 passed, 1 failed")
    let lines = report.results[0].failures.map(\.description)
    #expect(
      lines == [
        "t.test.yaml:6: test 'wrong on purpose': expect hallway.light: expected false, got true",
        "t.test.yaml:7: test 'wrong on purpose': expect_published: expected topic home/light payload {\"n\":1,\"state\":true}, got home/light {\"n\":1,\"state\":false}",
        "t.test.yaml:8: test 'wrong on purpose': expect_not_fired light-on: expected 'light-on' not fired, got it fired",
        "t.test.yaml:9: test 'wrong on purpose': unknown rule 'light-onn'; did you mean 'light-on'?",
        "t.test.yaml:11: test 'wrong on purpose': expect_published: expected topic home/light, got nothing was published",
      ])
    #expect(report.description.hasSuffix("1 passed, 1 failed"))
  }

  @Test func problemsInTestFilesAreReported() {
    let report = RuleTestRunner.run(
      tests: [
        RuleSource(file: "a.test.yaml", text: "tests:\n  - name: x\n    stpes: []\n"),
        RuleSource(file: "b.test.yaml", text: "tests:\n  - name: y\n    rules: nothere.yaml\n    steps: []\n"),
        RuleSource(
          file: "c.test.yaml",
          text:
            "tests:\n  - name: z\n    steps:\n      - inptu: { hallway.motion: on }\n      - input: { hallway.motion: on }\n"
        ),
        RuleSource(
          file: "d.test.yaml", text: "tests:\n  - name: w\n    steps:\n      - input: { hallway.motoin: on }\n"),
      ], rules: Self.rules, signals: exampleSignals)
    #expect(!report.succeeded)
    // Keys are read before a test runs, as in the config: a misspelt step is a file error.
    #expect(
      report.diagnostics.map(\.description) == [
        "a.test.yaml:3:5: error: unknown key 'stpes' in a test; did you mean 'steps'?",
        "c.test.yaml:4:9: error: unknown key 'inptu' in a step; did you mean 'input'?",
      ])
    #expect(report.failedCount == 4)
    #expect(
      report.results[1].failures.map(\.description) == [
        "b.test.yaml:3: test 'y': no rule file 'nothere.yaml' among the rules given"
      ])
    #expect(report.results[2].failures.map(\.description) == ["c.test.yaml:2: test 'z': the test has errors"])
    // Values are checked as the test runs.
    #expect(
      report.results[3].failures.map(\.description) == [
        "d.test.yaml:4: test 'w': unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?"
      ])
  }

  @Test func testFilesReadKeysLikeTheConfig() {
    let report = RuleTestRunner.run(
      tests: [
        RuleSource(
          file: "t.test.yaml",
          text: """
            tests:
              - name: duplicates
                rules: hall.yaml
                steps:
                  - expect: { hallway.light: on, hallway.light: off }
                  - input: { hallway.motion: on }
                    input: { hallway.motion: off }
                  - expect_published: { topic: home/light, topik: home/light }
                  - wait: 1s
                    expect: { hallway.light: on }
            """)
      ], rules: Self.rules, signals: exampleSignals)
    #expect(
      report.diagnostics.map(\.description) == [
        "t.test.yaml:5:38: error: duplicate key 'hallway.light' in 'expect'; the first is at line 5, column 19",
        "t.test.yaml:7:9: error: duplicate key 'input' in a step; the first is at line 6, column 9",
        "t.test.yaml:8:48: error: unknown key 'topik' in 'expect_published'; did you mean 'topic'?",
        "t.test.yaml:10:9: error: one step per list item: 'wait' and 'expect'; start another with '-'",
      ])
    #expect(report.results.map(\.passed) == [false])
  }

  @Test func mergeKeysWorkInTestsAsInTheConfig() {
    let report = RuleTestRunner.run(
      tests: [
        RuleSource(
          file: "t.test.yaml",
          text: """
            tests:
              - name: merged
                rules: hall.yaml
                given: &dark { hallway.lux: 10 }
                steps:
                  - input: { <<: *dark, hallway.motion: on }
                  - expect: { <<: *dark, hallway.light: on }
                  - expect_published: { <<: { topic: home/light }, payload: { n: 1, state: false } }
              - name: merged wrong on purpose
                rules: hall.yaml
                steps:
                  - input: { hallway.motion: on }
                  - expect: { <<: { hallway.light: off } }
            """)
      ], rules: Self.rules, signals: exampleSignals)
    #expect(report.diagnostics.isEmpty, "\(report.diagnostics)")
    #expect(report.summary == "1 passed, 1 failed")
    #expect(
      report.results[1].failures.map(\.description) == [
        "t.test.yaml:13: test 'merged wrong on purpose': expect hallway.light: expected false, got true"
      ])
  }

  @Test func aTestFileMayNameItsConfig() {
    let file = RuleSource(
      file: "t.test.yaml",
      text:
        "config: ../ganglion.yaml\ntests:\n  - name: x\n    rules: hall.yaml\n    steps:\n      - input: { hallway.motion: on }\n      - expect: { hallway.light: on }\n"
    )
    #expect(RuleTestRunner.configPath(of: file) == "../ganglion.yaml")
    let report = RuleTestRunner.run(tests: [file], rules: Self.rules, signals: exampleSignals)
    #expect(report.summary == "1 passed, 0 failed")
    let typo = RuleTestRunner.run(
      tests: [RuleSource(file: "u.test.yaml", text: "confg: x\ntests: []\n")], rules: [], signals: exampleSignals)
    #expect(
      typo.diagnostics.map(\.description) == [
        "u.test.yaml:1:1: error: unknown key 'confg' in a test file; did you mean 'config'?"
      ])
  }

  @Test func rulesWithErrorsFailTheTest() {
    let report = RuleTestRunner.run(
      tests: [RuleSource(file: "t.test.yaml", text: "tests:\n  - name: x\n    steps: []\n")],
      rules: [RuleSource(file: "bad.yaml", text: "rules:\n  - name: a\n    when: nope\n    do: []\n")],
      signals: exampleSignals)
    #expect(report.summary == "0 passed, 1 failed")
    #expect(report.results[0].failures.first?.actual?.contains("bad.yaml:3:11: error: unknown signal 'nope'") == true)
  }

  /// rules.md "Rule tests": a test starts from the state the daemon has just after start-up:
  /// outputs and virtual signals at their `initial`, inputs unknown; `given` overrides.
  @Test func aTestStartsWhereTheDaemonStartsOutputsAndVirtualsAtTheirInitial() {
    let signals = SignalCatalog([
      SignalInfo(name: "button", type: .string, role: .input),
      SignalInfo(name: "lamp", type: .bool, role: .output, initial: false),
      SignalInfo(name: "clicks", type: .number, role: .virtual, initial: 0),
      SignalInfo(name: "mode", type: .string, role: .virtual, initial: "home"),
      SignalInfo(name: "note", type: .string, role: .virtual),
    ])
    let rules = RuleSource(
      file: "count.yaml",
      text: """
        rules:
          - name: count
            on: button
            do:
              - set: { clicks: clicks + 1, lamp: not lamp }
        """)
    let tests = RuleSource(
      file: "count.test.yaml",
      text: """
        tests:
          - name: before anything happens
            steps:
              - expect: { lamp: off, clicks: 0, mode: home, note: unknown, button: unknown }
          - name: counting starts from initial
            steps:
              - input: { button: single }
              - input: { button: single }
              - expect: { clicks: 2, lamp: off }
          - name: given overrides initial
            given: { clicks: 10, lamp: on }
            steps:
              - input: { button: single }
              - expect: { clicks: 11, lamp: off }
        """)
    let report = RuleTestRunner.run(tests: [tests], rules: [rules], signals: signals, context: exampleContext)
    #expect(report.succeeded, "\(report)")
    #expect(report.passedCount == 3)
  }
}
