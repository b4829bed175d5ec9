import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// cli.md: replay runs the rules on a virtual clock over the logged inputs; with unchanged
/// rules `replay --diff` finds no differences, also where timers fired after the last input,
/// to the end of the log or to `--until`.
@Suite struct ReplayToTheEndTests {
  static let rules = """
    rules:
      - name: beat
        every: 300ms
        do:
          - log: "beat"
    """

  /// The times of the daemon's logged `fired` events, oldest first.
  static func firings(_ daemon: DaemonHarness) async throws -> [Timestamp] {
    try await daemon.cli(["log", "export"]).output.split(separator: "\n").compactMap { line in
      let event = try JSON.parse(String(line))
      guard event["kind"]?.stringValue == "fired" else { return nil }
      return event["time"]?.stringValue.flatMap(Timestamp.init(iso8601:))
    }
  }

  @Test func timersAfterTheLastInputReplayToTheEndOfTheLogAndToUntil() async throws {
    // `sync: always`: every event is on disk before the next, so the kill cuts no chain.
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "beat-pi", log: "dir: log\nsync: always"), files: ["rules.yaml": Self.rules])
    _ = try await daemon.cli(["inject", "hallway.motion", "on"])
    try await waitUntil("four beats after the input", timeout: .seconds(10)) {
      try await Self.firings(daemon).count >= 4
    }
    // Killed: no `stop` event after the last beat, as when the log is copied from a running
    // device or the power goes.
    daemon.kill()
    let beats = try await Self.firings(daemon)

    let whole = try await daemon.cli(["replay", "--diff"])
    #expect(whole.code == 0, "\(whole.output)")
    #expect(whole.output.hasPrefix("no differences: "), "\(whole.output)")

    let until = Timestamp(microseconds: beats[1].microseconds + 1000)
    let partial = try await daemon.cli(["replay", "--diff", "--until", until.iso8601])
    #expect(partial.code == 0, "--until \(until): \(partial.output)")
    #expect(partial.output.hasPrefix("no differences: "), "\(partial.output)")

    // Without --diff: every logged beat is replayed, none beyond the end of the log.
    let replayed = try await daemon.cli(["replay"])
    let fired = replayed.output.split(separator: "\n").filter { $0.contains(" fired beat") }
    #expect(fired.count == beats.count, "\(replayed.output)")
  }

  /// A run of the daemon ends at its last logged event: its timers do not fire in the replay
  /// while the daemon was stopped.
  @Test func aStoppedDaemonsTimersDoNotFireInTheReplayUntilItStartsAgain() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "gap-pi", log: "dir: log\nsync: always"), files: ["rules.yaml": Self.rules])
    try await waitUntil("two beats", timeout: .seconds(10)) { try await Self.firings(daemon).count >= 2 }
    #expect(await daemon.stop() == .exited(code: 0))
    // Stopped for over three beats' time.
    let stopped = SystemClock().now()
    try await waitUntil("a second with the daemon stopped", timeout: .seconds(5)) {
      SystemClock().now() > stopped + .seconds(1)
    }
    try await daemon.restart()
    let before = try await Self.firings(daemon).count
    try await waitUntil("a beat after the restart", timeout: .seconds(10)) {
      try await Self.firings(daemon).count > before
    }
    daemon.kill()
    let replay = try await daemon.cli(["replay", "--diff"])
    #expect(replay.code == 0 && replay.output.hasPrefix("no differences: "), "\(replay.output)")
  }
}
