import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// cli.md: the log records the device's time zone, and `replay`, `explain` and `test` use it,
/// never the reading machine's zone; rules.md: local time follows `timezone:` in the config,
/// else the system's zone; rule tests use the config's `timezone`, else UTC.
@Suite struct TimeZoneTests {
  /// Logs the local time at every motion event: a replay in another zone would log other text.
  static let rules = """
    rules:
      - name: stamp
        on: hallway.motion
        do:
          - log: "motion at ${time} on ${weekday}"
    """

  /// The local time of day at `time` in a zone `offset` seconds east of UTC, as `${time}` prints it.
  static func localTime(_ time: Timestamp, offset: Int64) -> String {
    let seconds = (time.microseconds / 1_000_000 + offset) % 86_400
    func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
  }

  /// The `log` events of the daemon's log, oldest first.
  static func loggedLines(_ daemon: DaemonHarness) async throws -> [(time: Timestamp, text: String)] {
    let export = try await daemon.cli(["log", "export"])
    return try export.output.split(separator: "\n").compactMap { line in
      let event = try JSON.parse(String(line))
      guard event["kind"]?.stringValue == "log", let text = event["value"]?.stringValue,
        let time = event["time"]?.stringValue.flatMap(Timestamp.init(iso8601:))
      else { return nil }
      return (time, text)
    }
  }

  @Test func theDaemonUsesTheSystemZoneAndReplayReadsItFromTheLogOnAnyMachine() async throws {
    // India has no daylight saving time: +05:30 all year, never the test machine's UTC.
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "tz-pi"), files: ["rules.yaml": Self.rules],
      environment: ["TZ": "Asia/Kolkata"])
    for value in ["on", "off", "on"] { _ = try await daemon.cli(["inject", "hallway.motion", value]) }
    try await waitUntil("three stamps in the log", timeout: .seconds(10)) {
      try await Self.loggedLines(daemon).count == 3
    }
    #expect(await daemon.stop() == .exited(code: 0))
    for (time, text) in try await Self.loggedLines(daemon) {
      #expect(text.hasPrefix("motion at \(Self.localTime(time, offset: 19_800)) on "), "\(text) at \(time)")
    }
    #expect(readTextFile(daemon.folder.path("log/timezone"))?.hasPrefix("Asia/Kolkata") == true)

    for readerZone in ["UTC", "America/New_York", "Asia/Kolkata"] {
      let replay = try await runGanglion(
        ["replay", "--diff", "--config", daemon.configPath], in: daemon.folder.path, environment: ["TZ": readerZone])
      #expect(replay.code == 0, "replay under TZ=\(readerZone): \(replay.output)")
      #expect(replay.output.contains("no differences: "), "TZ=\(readerZone): \(replay.output)")
    }
  }

  @Test func theConfigsTimezoneBeatsTheSystemZone() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "tz-config-pi", sections: "timezone: Asia/Kolkata\n"),
      files: ["rules.yaml": Self.rules], environment: ["TZ": "America/New_York"])
    _ = try await daemon.cli(["inject", "hallway.motion", "on"])
    try await waitUntil("a stamp in the log", timeout: .seconds(10)) { try await Self.loggedLines(daemon).count == 1 }
    let (time, text) = try await Self.loggedLines(daemon)[0]
    #expect(text.hasPrefix("motion at \(Self.localTime(time, offset: 19_800)) on "), "\(text) at \(time)")
    #expect(await daemon.stop() == .exited(code: 0))
  }

  @Test func anUnknownTimezoneIsAnErrorAtItsLineWithTheNearestName() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-tz-config")
    try folder.write(
      "device: tz\nsignals:\n  a.b: { type: bool }\ntimezone: Europe/Amsterdm\n", to: "ganglion.yaml")
    let check = try await runGanglion(["check"], in: folder.path)
    #expect(check.code == 1)
    #expect(
      check.output.contains(
        "ganglion.yaml:4:11: error: unknown time zone 'Europe/Amsterdm'; did you mean 'Europe/Amsterdam'?"),
      "\(check.output)")
    try folder.write("device: tz\nsignals:\n  a.b: { type: bool }\ntimezone: ../../etc/passwd\n", to: "ganglion.yaml")
    let escape = try await runGanglion(["check"], in: folder.path)
    #expect(escape.code == 1 && escape.output.contains("ganglion.yaml:4:11: error:"), "\(escape.output)")
  }

  /// A rule test runs in the config's `timezone`, else UTC; never in the machine's zone.
  @Test func ruleTestsUseTheConfigsZoneElseUTCWhateverTheMachinesZone() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-tz-test")
    let rules = """
      rules:
        - name: morning
          at: "07:00"
          do:
            - log: "good morning"
      """
    let test = """
      tests:
        - name: 07:00 local is when the rule fires
          start: "06:59"
          steps:
            - wait: 59s
            - expect_not_fired: morning
            - wait: 1s
            - expect_fired: morning
      """
    try folder.write(rules, to: "morning.yaml")
    try folder.write(test, to: "morning.test.yaml")
    for zone in ["", "timezone: Asia/Kolkata\n", "timezone: America/New_York\n"] {
      try folder.write("device: tz\nrules: morning.yaml\nsignals:\n  a.b: { type: bool }\n" + zone, to: "ganglion.yaml")
      for machine in ["UTC", "Asia/Tokyo", "Europe/Amsterdam"] {
        let result = try await runGanglion(["test"], in: folder.path, environment: ["TZ": machine])
        #expect(result.code == 0, "\(zone) on a machine in \(machine): \(result.output)")
      }
    }
  }
}
