import GanglionAnalysis
import GanglionCore
import GanglionDaemon
import GanglionLog
import GanglionRules
import GanglionSystem
import GanglionTestSupport
import Testing

/// `explain` shows what a rule's conditions were when it fired, part by part, and never
/// contradicts the log: a value it cannot know is `unknown`, with the reason.
@Suite struct ExplainAtFiringTimeTests {
  /// `HH:MM` of local time `hours` from now, `offset` seconds east of UTC.
  static func localClock(hoursFromNow hours: Int64, offset: Int64) -> String {
    let seconds = ((SystemClock().now().seconds + offset + hours * 3600) % 86_400 + 86_400) % 86_400
    func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(two(seconds / 3600)):\(two(seconds / 60 % 60))"
  }

  @Test func timeAgeAndWindowsAreShownAsTheyWereWhenTheRuleFiredPartByPart() async throws {
    // The device is in India (+05:30); explain runs on a machine in UTC. The rule's time range
    // holds around now in India, not in UTC.
    let range =
      "\(Self.localClock(hoursFromNow: -2, offset: 19_800))..\(Self.localClock(hoursFromNow: 2, offset: 19_800))"
    let rules = """
      rules:
        - name: light-on
          when: hallway.motion
          if:
            - time in \(range) and age(hallway.lux) > 0s
            - avg(hallway.lux, 10m) < 40 or not known(hallway.lux)
          do:
            - set: { hallway.light: on }
      """
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "explain-pi", signals: "hallway.lux:\n  mqtt: { topic: lux, type: number }"),
      files: ["rules.yaml": rules], environment: ["TZ": "Asia/Kolkata"])
    _ = try await daemon.cli(["inject", "hallway.lux", "10"])
    _ = try await daemon.cli(["inject", "hallway.lux", "30"])
    _ = try await daemon.cli(["inject", "hallway.motion", "on"])
    let light = try await waitFor("the light to go on", timeout: .seconds(10)) { () -> UInt64? in
      let export = try await daemon.cli(["log", "export"]).output
      return try export.split(separator: "\n").map { try JSON.parse(String($0)) }.first {
        $0["signal"]?.stringValue == "hallway.light" && $0["value"] == true && $0["source"]?.stringValue == "rule"
      }?["seq"]?.numberValue.map { UInt64($0) }
    }
    #expect(await daemon.stop() == .exited(code: 0))

    let explain = try await daemon.cli(["explain", String(light)])
    #expect(explain.code == 0, "\(explain.output)")
    let lines = explain.output.split(separator: "\n").map(String.init)
    for expected in [
      "      hallway.motion  =>  true",
      "      time in \(range) and age(hallway.lux) > 0s  =>  true",
      "        time in \(range)  =>  true",
      "        age(hallway.lux) > 0s  =>  true",
      "      avg(hallway.lux, 10m) < 40 or not known(hallway.lux)  =>  true",
      "        avg(hallway.lux, 10m) < 40  =>  true",
      "        not known(hallway.lux)  =>  false",
    ] {
      #expect(lines.contains(expected), "'\(expected)' in:\n\(explain.output)")
    }

    let json = try JSON.parse(try await daemon.cli(["explain", String(light), "--json"]).output)
    let conditions = json["chain"]?.arrayValue?.first?["rule"]?["conditions"]?.arrayValue ?? []
    let parts = conditions.dropFirst().first?["parts"]?.arrayValue ?? []
    #expect(conditions.dropFirst().first?["value"] == true, "\(json)")
    #expect(parts.last?["condition"] == Value.string("age(hallway.lux) > 0s"), "\(json)")
    #expect(parts.last?["value"] == true, "\(json)")
  }
}

/// The same at the level of `Explainer`, on logs written for the purpose.
@Suite struct ExplainUnknownsTests {
  /// A rule that fired with conditions the rules as they are now do not hold: the log says
  /// it fired, so explain says `unknown` and why, not `false`.
  @Test func aConditionTheChangedRuleNoLongerMeetsIsUnknownNotFalse() throws {
    let fixture = try AnalysisFixture()
    let light = try #require(fixture.events.last { $0.signal == "hallway.light" && $0.value == true })
    let changed = try fixture.loaded(
      withRules: """
        rules:
          - name: light-on
            when: hallway.motion
            if: hallway.lux > 1000 and hallway.motion
            do:
              - set: { hallway.light: on }
        """)
    let explanation = try Explainer(rules: changed.rules, device: "test-pi").explain(
      seq: light.seq, reader: LogReader(directory: fixture.logDirectory))
    let condition = try #require(explanation.steps[0].firing?.conditions.last)
    #expect(condition.value == .null)
    #expect(condition.reason?.contains("the rule changed") == true, "\(condition)")
    let lines = explanation.lines(device: "test-pi")
    #expect(!lines.contains { $0.hasSuffix("=>  false") }, "\(lines)")
  }

  /// The ring dropped the start of the daemon's run and the last lux reading: what the rule
  /// read of lux cannot be known.
  @Test func aSignalWhoseEventsTheRingDroppedIsUnknownWithTheReason() throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-explain-ring")
    let config = hallwayConfig(device: "ring-pi", signals: "hallway.lux:\n  type: number", http: false)
    try folder.write(AnalysisFixture.rules, to: "rules.yaml")
    let (loaded, diagnostics) = ConfigurationLoader.load(configPath: try folder.write(config, to: "ganglion.yaml"))
    let rules = try #require(loaded?.rules, "\(diagnostics)")
    let directory = folder.path("log")
    try FileSystem.makeDirectories(directory)
    let log = try EventLog.open(directory: directory, options: LogOptions(maxSize: 4096, segmentSize: 1024))
    let start = Timestamp(seconds: 1_795_000_000)
    var events: [Event] = [
      Event(time: start, system: .start(simulated: true, rules: 2)),
      Event(time: start, kind: .signal, signal: "hallway.lux", value: 10, source: .command),
    ]
    for index in 0..<200 {
      events.append(
        Event(time: start + .seconds(Int64(index)), kind: .log, value: .string("filler \(index)"), source: .rule))
    }
    for var event in events { try log.append(&event) }
    let later = start + .seconds(300)
    var motion = Event(time: later, kind: .signal, signal: "hallway.motion", value: true, source: .simulator)
    try log.append(&motion)
    var fired = Event(time: later, kind: .fired, source: .rule, cause: motion.seq, rule: "light-on")
    try log.append(&fired)
    var light = Event(
      time: later, kind: .signal, signal: "hallway.light", value: true, previous: false, source: .rule,
      cause: motion.seq, rule: "light-on")
    try log.append(&light)
    try log.close()
    let reader = try LogReader(directory: directory)
    #expect(try reader.events(fromSeq: 1, toSeq: 2).isEmpty, "the ring dropped the start and the lux reading")

    let explanation = try Explainer(rules: rules, device: "ring-pi").explain(seq: light.seq, reader: reader)
    let condition = try #require(explanation.steps[0].firing?.conditions.last)
    #expect(condition.condition == "hallway.lux < 40 or not known(hallway.lux)")
    #expect(condition.value == .null)
    #expect(condition.reason?.contains("hallway.lux") == true, "\(condition)")
    #expect(condition.parts.map(\.value) == [.null, .null])
    #expect(condition.parts.allSatisfy { $0.reason?.contains("no longer in the log") == true }, "\(condition)")
    #expect(explanation.steps[0].firing?.conditions.first?.value == true, "hallway.motion is in the log")
  }
}
