import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// What a new user reads: counts in words that agree, errors that point at the mistake made
/// (not at its consequences), `status` that lists every signal, and printed events that say
/// why their times are out of order.
@Suite struct MessagesTests {
  /// `ganglion check` in a folder with `ganglion.yaml` (its `signals:` block as given) and
  /// `rules.yaml`; returns the exit code and output.
  static func check(signals: String, rules: String = "rules: []\n") async throws -> (code: Int32, output: String) {
    let folder = try TemporaryDirectory(prefix: "ganglion-messages")
    try folder.write(
      "device: words\nhardware: \(repositoryRoot)/Hardware/simulated.yaml\nrules: rules.yaml\nsignals:\n" + signals,
      to: "ganglion.yaml")
    try folder.write(rules, to: "rules.yaml")
    return try await runGanglion(["check"], in: folder.path)
  }

  static let phone = "  phone:\n    mqtt: { topic: phone }\n  light:\n    type: bool\n  visits:\n    type: number\n"

  @Test func checkCountsInWordsThatAgree() async throws {
    let one = try await Self.check(
      signals: "  light:\n    type: bool\n",
      rules: "rules:\n  - name: on\n    every: 1m\n    do: [{ set: { light: on } }]\n")
    #expect(one.output == "ok: 1 signal, 1 rule in 1 file\n", "\(one.output)")
    let more = try await Self.check(signals: Self.phone)
    #expect(more.output == "ok: 3 signals, 0 rules in 1 file\n", "\(more.output)")
  }

  @Test func aBareWordComparedWithATextSignalSuggestsQuotingIt() async throws {
    let result = try await Self.check(
      signals: Self.phone,
      rules: """
        rules:
          - name: home
            when: phone == home
            if: away != phone and phone in [work, "gym"]
            do: [{ set: { light: on } }]
        """)
    let lines = result.output.split(separator: "\n").map(String.init)
    #expect(
      lines.contains(#"rules.yaml:3:20: error: unknown signal 'home'; a text goes in quotes: "home""#), "\(lines)")
    #expect(lines.contains(#"rules.yaml:4:9: error: unknown signal 'away'; a text goes in quotes: "away""#), "\(lines)")
    #expect(
      lines.contains(#"rules.yaml:4:37: error: unknown signal 'work'; a text goes in quotes: "work""#), "\(lines)")
  }

  @Test func aWordSetOnABoolOrANumberSaysWhatFits() async throws {
    let result = try await Self.check(
      signals: Self.phone,
      rules: """
        rules:
          - name: set
            every: 1m
            do: [{ set: { light: "yes", visits: many } }]
        """)
    let lines = result.output.split(separator: "\n").map(String.init)
    #expect(
      lines.contains(
        "rules.yaml:4:27: error: 'yes' is not a value for 'light', a bool: write on or off (true or false), or an expression"
      ), "\(lines)")
    #expect(
      lines.contains(
        "rules.yaml:4:41: error: 'many' is not a value for 'visits', a number: write a number like 21.5, or an expression"
      ), "\(lines)")
  }

  @Test func pinsWrittenAsNumbersOrInOtherCaseSuggestTheProfilesName() async throws {
    let result = try await Self.check(
      signals:
        "  a.one:\n    gpio: { pin: 17 }\n  a.two:\n    gpio: { pin: gpio18 }\n  a.three:\n    gpio: { pin: Gpio_19 }\n"
    )
    #expect(result.output.contains("unknown pin '17' on Simulated board"), "\(result.output)")
    #expect(
      result.output.contains(
        "'17' on Simulated board (profile \(repositoryRoot)/Hardware/simulated.yaml); did you mean 'GPIO17'?"),
      "\(result.output)")
    #expect(result.output.contains("did you mean 'GPIO18'?"), "\(result.output)")
    #expect(result.output.contains("did you mean 'GPIO19'?"), "\(result.output)")
  }

  @Test func aSignalWithAnErrorIsReportedOnceNotAgainByEveryRuleThatUsesIt() async throws {
    let result = try await Self.check(
      signals: "  a.door:\n    gpio: { pin: GPIO22, bias: pull-sideways }\n  light:\n    type: bool\n",
      rules: """
        rules:
          - name: one
            when: a.door and known(a.door)
            do: [{ set: { light: on } }]
          - name: two
            on: a.door
            if: count(a.door, 5m) > 2
            do: [{ set: { light: off } }]
        """)
    #expect(result.code == 1)
    let errors = result.output.split(separator: "\n").filter { $0.contains("error:") }
    #expect(errors.count == 1, "\(result.output)")
    #expect(errors.first?.contains("`bias` expects one of") == true, "\(result.output)")
    #expect(result.output.hasSuffix("1 error\n"), "\(result.output)")
  }

  @Test func statusListsSignalsWithoutAValueAsUnknown() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "quiet-pi", signals: "hallway.lux:\n  mqtt: { topic: lux, type: number }"),
      files: ["rules.yaml": "rules: []\n"])
    let status = try await daemon.status()
    #expect(status["signals"]?["hallway.lux"]?["value"] == .null, "\(status)")
    #expect(status["signals"]?["hallway.lux"]?["time"] == .null, "\(status)")
    let human = try await daemon.cli(["status"])
    #expect(human.output.contains("  hallway.lux = unknown  (no value yet)"), "\(human.output)")
    #expect(human.output.contains("  hallway.light = false  ("), "\(human.output)")
    _ = await daemon.stop()
  }

  /// A debounced edge keeps its first edge's time, so its line can come after an event with a
  /// later time: the line says so. (The lux reading is handled within the door's 3 s debounce,
  /// so it is logged first.)
  @Test func printedEventsSayWhyTheirTimeIsEarlierThanTheLineBefore() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(
        device: "debounce-pi",
        signals:
          "hallway.door:\n  gpio: { pin: GPIO22, bias: pull-down, debounce: 3s }\nhallway.lux:\n  mqtt: { topic: lux, type: number }"
      ),
      files: ["rules.yaml": "rules: []\n"], arguments: ["--print-events"])
    _ = try await daemon.cli(["inject", "hallway.door", "on"])
    _ = try await daemon.cli(["inject", "hallway.lux", "12"])
    let line = try await waitFor("the door's event on stdout", timeout: .seconds(10)) {
      daemon.output.split(separator: "\n").first { $0.contains("hallway.door = true") }
    }
    let lux = try #require(daemon.output.split(separator: "\n").first { $0.contains("hallway.lux = 12") })
    let luxSeq = String(lux.prefix { $0 != " " })
    #expect(line.contains("(earlier than \(luxSeq) by "), "\(line)")
    #expect(line.hasSuffix(": the time of its first edge, kept through debounce)"), "\(line)")
    _ = await daemon.stop()
  }
}
