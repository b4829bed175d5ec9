import GanglionAnalysis
import GanglionCore
import GanglionDaemon
import GanglionLog
import GanglionRules
import GanglionSystem
import GanglionTestSupport
import Testing

/// A configuration, rules, and a log written the way the daemon writes it: a `start` event,
/// start-up values as `system` events, then inputs through the real engine, every event
/// appended to a real `EventLog`.
struct AnalysisFixture {
  static let rules = """
    rules:
      - name: light-on
        when: hallway.motion
        if: hallway.lux < 40 or not known(hallway.lux)
        do:
          - set: { hallway.light: on }
          - publish: { topic: home/hallway/light, payload: "on" }
      - name: light-off
        when: not hallway.motion
        for: 2m
        do:
          - set: { hallway.light: off }
          - publish: { topic: home/hallway/light, payload: "off" }
    """

  static let config = hallwayConfig(device: "test-pi", signals: "hallway.lux:\n  type: number", http: false)

  enum Step {
    case input(String, Value, EventSource, atSecond: Int64)
    case advance(toSecond: Int64)
    /// The daemon stops and starts again: timers are gone, start-up values logged again.
    case restart(atSecond: Int64)
  }

  static let start = Timestamp(seconds: 1_795_000_000)

  /// Motion with the light off and lux unknown (light-on fires), lux goes up, motion ends
  /// (light-off fires 2 minutes later), motion in bright light (nothing), lux goes down,
  /// motion again (light-on fires).
  static let scenario: [Step] = [
    .input("hallway.motion", true, .simulator, atSecond: 1),
    .input("hallway.lux", 100, .command, atSecond: 5),
    .input("hallway.motion", false, .simulator, atSecond: 10),
    .advance(toSecond: 200),
    .input("hallway.motion", true, .simulator, atSecond: 300),
    .input("hallway.lux", 10, .command, atSecond: 310),
    .input("hallway.motion", false, .simulator, atSecond: 320),
    .input("hallway.motion", true, .simulator, atSecond: 330),
  ]

  let folder: TemporaryDirectory
  let configPath: String
  let logDirectory: String
  let loaded: LoadedConfiguration
  /// Every event logged, in order.
  private(set) var events: [Event] = []

  init(rules: String = rules, steps: [Step] = scenario) throws {
    folder = try TemporaryDirectory(prefix: "ganglion-analysis")
    try folder.write(rules, to: "rules.yaml")
    configPath = try folder.write(Self.config, to: "ganglion.yaml")
    let (loaded, diagnostics) = ConfigurationLoader.load(configPath: configPath)
    guard let loaded else { throw TestSupportError("the fixture's config: \(diagnostics)") }
    self.loaded = loaded
    logDirectory = loaded.logDirectory
    try FileSystem.makeDirectories(logDirectory)
    try record(steps)
  }

  func at(_ second: Int64) -> Timestamp { Timestamp(microseconds: Self.start.microseconds + second * 1_000_000) }

  /// What `Pipeline.startUp` and its loop do, without hardware or broker.
  private mutating func record(_ steps: [Step]) throws {
    let log = try EventLog.open(directory: logDirectory, options: LogOptions(segmentSize: 1024))
    try LogTimeZone.record(.utc, directory: logDirectory)  // as the daemon records its zone
    var events: [Event] = []
    func append(_ event: inout Event) {
      try? log.append(&event)
      events.append(event)
    }
    let config = loaded.config
    func startUp(at time: Timestamp) -> Engine {
      let engine = Engine(
        rules: loaded.rules, signals: config.catalog,
        context: EngineContext(device: config.device, startTime: time))
      var start = Event(time: time, kind: .system, value: .object(["event": "start"]), source: .system)
      append(&start)
      for (signal, value) in [("hallway.motion", Value.bool(false)), ("hallway.light", .bool(false))] {
        engine.restore(signal: signal, value: value, time: time)
        var event = Event(time: time, kind: .signal, signal: signal, value: value, source: .system)
        append(&event)
      }
      return engine
    }
    var engine = startUp(at: Self.start)
    for step in steps {
      switch step {
      case .input(let signal, let value, let source, let second):
        _ = engine.ingest(Reading(signal: signal, value: value, time: at(second), source: source)) { append(&$0) }
      case .advance(let second):
        _ = engine.advance(to: at(second)) { append(&$0) }
      case .restart(let second):
        var stop = Event(time: at(second), kind: .system, value: .object(["event": "stop"]), source: .system)
        append(&stop)
        engine = startUp(at: at(second))
      }
    }
    var stop = Event(time: at(400), kind: .system, value: .object(["event": "stop"]), source: .system)
    append(&stop)
    try log.close()
    self.events = events
  }

  /// The fixture's configuration with other rules, as `replay --rules` would load it.
  func loaded(withRules text: String) throws -> LoadedConfiguration {
    let path = try folder.write(text, to: "other-rules.yaml")
    let (loaded, diagnostics) = ConfigurationLoader.load(configPath: configPath, rulePaths: [path])
    guard let loaded else { throw TestSupportError("other rules: \(diagnostics)") }
    return loaded
  }

  func replayer(_ loaded: LoadedConfiguration) -> Replayer {
    Replayer(rules: loaded.rules, signals: loaded.config.catalog, device: loaded.config.device)
  }
}

/// What a rule did, as the comparison sees it.
private func outline(_ event: Event) -> String {
  switch event.kind {
  case .fired: "fired \(event.rule ?? "?")"
  case .signal: "\(event.signal ?? "?") = \(event.value.plainText) by \(event.rule ?? "?")"
  case .publish: "publish \(event.value["topic"]?.plainText ?? "?") \(event.value["payload"]?.plainText ?? "?")"
  default: "\(event.kind.rawValue) \(JSON.encode(event.value))"
  }
}

@Suite struct AnalysisTests {
  static let expectedRuleEvents = [
    "fired light-on", "publish home/hallway/light on", "hallway.light = true by light-on",
    "fired light-off", "publish home/hallway/light off", "hallway.light = false by light-off",
    "fired light-on", "publish home/hallway/light on", "hallway.light = true by light-on",
  ]

  @Test func theFixtureLogHoldsWhatTheEngineDid() throws {
    let fixture = try AnalysisFixture()
    let logged = try LogReader(directory: fixture.logDirectory).events()
    #expect(logged == fixture.events)
    #expect(logged.filter { $0.source == .rule }.map(outline) == Self.expectedRuleEvents)
  }

  @Test func replayWithTheSameRulesReproducesTheLog() throws {
    let fixture = try AnalysisFixture()
    let report = try fixture.replayer(fixture.loaded).run(
      reader: LogReader(directory: fixture.logDirectory), selection: EventSelection())
    #expect(report.inputs == 7)
    #expect(report.replayed.map(outline) == Self.expectedRuleEvents)
    #expect(report.logged.map(outline) == Self.expectedRuleEvents)
    #expect(report.differences.isEmpty)
    #expect(report.matched == Self.expectedRuleEvents.count)
    // Virtual clock: the timer fired at its deadline, 2 minutes after motion ended.
    let lightOff = try #require(report.replayed.first { $0.rule == "light-off" && $0.kind == .fired })
    #expect(lightOff.time == fixture.at(130))
    // Causes point at the logged inputs.
    let motion = try #require(fixture.events.first { $0.signal == "hallway.motion" && $0.time == fixture.at(10) })
    #expect(lightOff.cause == motion.seq)
    #expect(report.summaryLine.hasPrefix("no differences: 9 rule events match"))
  }

  @Test func replayWithAChangedRuleShowsWhereItDiffers() throws {
    let fixture = try AnalysisFixture()
    let brighter = AnalysisFixture.rules.replacingAll("hallway.lux < 40", with: "hallway.lux < 200")
    let report = try fixture.replayer(fixture.loaded(withRules: brighter)).run(
      reader: LogReader(directory: fixture.logDirectory), selection: EventSelection())
    // With the higher threshold, motion at 300 s (lux 100) turns the light on; at 330 s
    // light-on fires again, but the light is on already, so there is no light event.
    let motionAt300 = try #require(
      fixture.events.first { $0.signal == "hallway.motion" && $0.time == fixture.at(300) })
    let motionAt330 = try #require(
      fixture.events.first { $0.signal == "hallway.motion" && $0.time == fixture.at(330) })
    #expect(
      report.differences.map { "\($0.side.rawValue) \(outline($0.event))" } == [
        "+ fired light-on", "+ publish home/hallway/light on", "+ hallway.light = true by light-on",
        "- hallway.light = true by light-on",
      ])
    #expect(
      report.differences.map(\.afterInput) == [motionAt300.seq, motionAt300.seq, motionAt300.seq, motionAt330.seq])
    #expect(report.matched == 8)
    #expect(report.lines(diff: true).contains("@ after \(EventFormatter.line(motionAt300))"))
    #expect(report.lines(diff: true).last == report.summaryLine)
  }

  @Test func aStreamingReplayEmitsWhatARetainedOneKeeps() throws {
    let fixture = try AnalysisFixture()
    let other = try fixture.loaded(
      withRules: AnalysisFixture.rules.replacingAll("hallway.lux < 40", with: "hallway.lux < 200"))
    let reader = try LogReader(directory: fixture.logDirectory)
    let retained = try fixture.replayer(other).run(reader: reader, selection: EventSelection())
    var replayed: [Event] = []
    var differences: [ReplayReport.Difference] = []
    let streamed = try fixture.replayer(other).run(
      reader: reader, selection: EventSelection(), retainEvents: false,
      emit: { output in
        switch output {
        case .replayed(let event): replayed.append(event)
        case .difference(let difference): differences.append(difference)
        }
      })
    #expect(streamed.replayed.isEmpty && streamed.logged.isEmpty && streamed.differences.isEmpty)
    #expect(replayed == retained.replayed)
    #expect(differences == retained.differences)
    #expect(streamed.replayedCount == retained.replayed.count)
    #expect(streamed.loggedCount == retained.logged.count)
    #expect(streamed.onlyLogged == 1)
    #expect(streamed.onlyReplayed == 3)
    #expect(streamed.summaryLine == retained.summaryLine)
  }

  @Test func replayFromTheMiddleRestoresTheLoggedValuesWithoutFiring() throws {
    let fixture = try AnalysisFixture()
    // From the lux change at 310 s: motion is true and the light off at that point, as logged.
    let lux = try #require(fixture.events.first { $0.signal == "hallway.lux" && $0.time == fixture.at(310) })
    let report = try fixture.replayer(fixture.loaded).run(
      reader: LogReader(directory: fixture.logDirectory), selection: EventSelection(fromSeq: lux.seq))
    #expect(report.inputs == 3)
    #expect(report.replayed.map(outline) == Array(Self.expectedRuleEvents.suffix(3)))
    #expect(report.differences.isEmpty)
  }

  @Test func replayByTimeRange() throws {
    let fixture = try AnalysisFixture()
    let report = try fixture.replayer(fixture.loaded).run(
      reader: LogReader(directory: fixture.logDirectory),
      selection: EventSelection(since: fixture.at(0), until: fixture.at(250)))
    #expect(report.inputs == 3)
    #expect(report.replayed.map(outline) == Array(Self.expectedRuleEvents.prefix(6)))
    #expect(report.differences.isEmpty)
  }

  @Test func explainNamesTheRuleItsConditionValuesAndTheInput() throws {
    let fixture = try AnalysisFixture()
    let light = try #require(fixture.events.last { $0.signal == "hallway.light" && $0.value == true })
    let motion = try #require(fixture.events.first { $0.seq == light.cause })
    #expect(motion.signal == "hallway.motion")
    let explanation = try Explainer(rules: fixture.loaded.rules, device: "test-pi").explain(
      seq: light.seq, reader: LogReader(directory: fixture.logDirectory))
    #expect(explanation.steps.map(\.event) == [light, motion])
    let firing = try #require(explanation.steps[0].firing)
    #expect(firing.rule == "light-on")
    #expect(firing.fired?.kind == .fired)
    #expect(firing.fired?.cause == motion.seq)
    #expect(firing.conditions.map(\.condition) == ["hallway.motion", "hallway.lux < 40 or not known(hallway.lux)"])
    #expect(firing.conditions.map(\.value) == [true, true])
    #expect(firing.values.map(\.signal) == ["hallway.lux", "hallway.motion"])
    #expect(firing.values.map(\.value) == [10, true])
    #expect(explanation.steps[1].firing == nil)
    let lines = explanation.lines(device: "test-pi")
    #expect(lines.first == EventFormatter.line(light))
    #expect(lines.contains { $0.contains("rule light-on") && $0.contains("when: hallway.motion") })
    #expect(lines.last == EventFormatter.line(motion) + "  <- input")
  }

  @Test func explainATimerFiringShowsTheConditionThatHeld() throws {
    let fixture = try AnalysisFixture()
    let off = try #require(
      fixture.events.first { $0.signal == "hallway.light" && $0.value == false && $0.source == .rule })
    let explanation = try Explainer(rules: fixture.loaded.rules, device: "test-pi").explain(
      seq: off.seq, reader: LogReader(directory: fixture.logDirectory))
    #expect(explanation.steps.count == 2)
    #expect(explanation.steps[1].event.signal == "hallway.motion")
    #expect(explanation.steps[1].event.value == false)
    let firing = try #require(explanation.steps[0].firing)
    #expect(firing.rule == "light-off")
    #expect(firing.fired?.time == fixture.at(130))
    #expect(firing.conditions.map(\.condition) == ["not hallway.motion"])
    #expect(firing.conditions.map(\.value) == [true])
  }

  @Test func replayStartsAFreshEngineWhereTheDaemonRestarted() throws {
    // Motion ends at 10 s; the daemon restarts at 60 s, so light-off's 2-minute countdown
    // never ran out: the light stays as the restart left it.
    let fixture = try AnalysisFixture(steps: [
      .input("hallway.motion", true, .simulator, atSecond: 1),
      .input("hallway.motion", false, .simulator, atSecond: 10),
      .restart(atSecond: 60),
      .advance(toSecond: 300),
    ])
    #expect(fixture.events.filter { $0.source == .rule }.map(outline) == Array(Self.expectedRuleEvents.prefix(3)))
    let report = try fixture.replayer(fixture.loaded).run(
      reader: LogReader(directory: fixture.logDirectory), selection: EventSelection())
    #expect(report.replayed.map(outline) == Array(Self.expectedRuleEvents.prefix(3)))
    #expect(report.differences.isEmpty)
  }

  @Test func replayFromTheMiddleOfAnEveryRuleKeepsItsRhythm() throws {
    let fixture = try AnalysisFixture(
      rules: """
        rules:
          - name: tick
            every: 1m
            do:
              - log: "tick"
        """,
      steps: [
        .advance(toSecond: 200),
        .input("hallway.motion", true, .simulator, atSecond: 210),
        .advance(toSecond: 390),
      ])
    #expect(fixture.events.count { $0.kind == .fired } == 6)
    let motion = try #require(fixture.events.first { $0.signal == "hallway.motion" && $0.source == .simulator })
    let report = try fixture.replayer(fixture.loaded).run(
      reader: LogReader(directory: fixture.logDirectory), selection: EventSelection(fromSeq: motion.seq))
    #expect(
      report.replayed.filter { $0.kind == .fired }.map(\.time) == [fixture.at(240), fixture.at(300), fixture.at(360)])
    #expect(report.differences.isEmpty)
  }

  @Test func replayReproducesARuleLoopStop() throws {
    let fixture = try AnalysisFixture(
      rules: """
        rules:
          - name: ping
            on: hallway.lux
            do:
              - set: { hallway.light: not hallway.light }
          - name: pong
            on: hallway.light
            do:
              - set: { hallway.light: not hallway.light }
        """,
      steps: [.input("hallway.lux", 5, .command, atSecond: 1)])
    let loops = fixture.events.filter { $0.kind == .system && $0.value["event"] == "rule loop" }
    #expect(loops.count == 1)
    let report = try fixture.replayer(fixture.loaded).run(
      reader: LogReader(directory: fixture.logDirectory), selection: EventSelection())
    #expect(report.replayed.count { $0.kind == .system && $0.value["event"] == "rule loop" } == 1)
    #expect(report.loggedCount == fixture.events.count(where: Replayer.isDerived))
    #expect(report.replayedCount == report.loggedCount)
    #expect(report.differences.isEmpty)
  }

  @Test func explainWithoutRulesStillFollowsTheChain() throws {
    let fixture = try AnalysisFixture()
    let light = try #require(fixture.events.last { $0.signal == "hallway.light" && $0.value == true })
    let explanation = try Explainer(rules: nil, device: "test-pi").explain(
      seq: light.seq, reader: LogReader(directory: fixture.logDirectory))
    #expect(explanation.steps.map(\.event.seq) == [light.seq, try #require(light.cause)])
    #expect(explanation.steps[0].firing?.rule == "light-on")
    #expect(explanation.steps[0].firing?.conditions.isEmpty == true)
    #expect(
      explanation.lines(device: "test-pi").contains(
        "    rule light-on (no configuration given: its conditions are not shown)"))
  }

  @Test func explainFollowsAnAfterBackThroughTheFiringThatStartedIt() throws {
    let fixture = try AnalysisFixture(
      rules: """
        rules:
          - name: bright
            on: hallway.lux
            if: value > 50
            do:
              - log: "bright: ${value}"
              - after: 30s
                do:
                  - set: { hallway.light: on }
        """,
      steps: [
        .input("hallway.lux", 20, .command, atSecond: 1),
        .input("hallway.lux", 100, .command, atSecond: 5),
        .advance(toSecond: 100),
      ])
    let light = try #require(fixture.events.first { $0.signal == "hallway.light" && $0.source == .rule })
    #expect(light.time == fixture.at(35))
    let explanation = try Explainer(rules: fixture.loaded.rules, device: "test-pi").explain(
      seq: light.seq, reader: LogReader(directory: fixture.logDirectory))
    let chain = explanation.steps.map(\.event)
    #expect(chain.map(\.kind) == [.signal, .fired, .fired, .signal])
    #expect(chain[1].value == .object(["after": "30s"]))
    #expect(chain[3].signal == "hallway.lux")
    #expect(chain[3].value == 100)
    #expect(explanation.steps[0].firing == nil)  // the `after` firing is the next step
    #expect(explanation.steps[1].firing?.afterDelay == "30s")
    #expect(explanation.steps[1].firing?.conditions.isEmpty == true)
    let firing = try #require(explanation.steps[2].firing)
    #expect(firing.afterDelay == nil)
    #expect(firing.conditions.map(\.condition) == ["value > 50"])
    #expect(firing.conditions.map(\.value) == [true])  // `value` is the lux event's
    #expect(explanation.steps[3].firing == nil)

    let report = try fixture.replayer(fixture.loaded).run(
      reader: LogReader(directory: fixture.logDirectory), selection: EventSelection())
    #expect(
      report.replayed.map(outline) == [
        "fired bright", "log \"bright: 100\"", "fired bright", "hallway.light = true by bright",
      ])
    #expect(report.differences.isEmpty)
  }

  @Test func explainOfASeqNotInTheLogThrows() throws {
    let fixture = try AnalysisFixture()
    #expect(throws: ExplainError.self) {
      try Explainer(rules: nil, device: "x").explain(seq: 999_999, reader: LogReader(directory: fixture.logDirectory))
    }
  }

  @Test func exportGivesTheSameEventsAsJSONLinesAndCSV() throws {
    let fixture = try AnalysisFixture()
    let reader = try LogReader(directory: fixture.logDirectory)
    var jsonl: [String] = []
    let count = try Exporter.export(from: reader, selection: EventSelection(), device: "test-pi", format: .jsonl) {
      jsonl.append($0)
    }
    #expect(count == fixture.events.count)
    #expect(try jsonl.map { try Event(json: $0) } == fixture.events)

    var csv: [String] = []
    try Exporter.export(from: reader, selection: EventSelection(), device: "test-pi", format: .csv) { csv.append($0) }
    #expect(csv.first == "seq,id,time,kind,signal,value,previous,source,cause,rule,late")
    let rows = csv.dropFirst().map(parseCSVRow)
    #expect(rows.count == fixture.events.count)
    for (row, event) in zip(rows, fixture.events) {
      #expect(try eventFromCSV(row) == event)
    }
    // A publish's value is an object, written as JSON in one quoted cell.
    let publish = try #require(fixture.events.firstIndex { $0.kind == .publish })
    #expect(csv[publish + 1].contains("\"{\"\""))
  }

  @Test func exportSelectsBySeqAndTime() throws {
    let fixture = try AnalysisFixture()
    let reader = try LogReader(directory: fixture.logDirectory)
    let from = fixture.events[3].seq
    let to = fixture.events[8].seq
    var lines: [String] = []
    try Exporter.export(
      from: reader, selection: EventSelection(fromSeq: from, toSeq: to), device: "d", format: .jsonl
    ) { lines.append($0) }
    #expect(try lines.map { try Event(json: $0).seq } == Array(fixture.events[3...8]).map(\.seq))
    lines = []
    try Exporter.export(
      from: reader, selection: EventSelection(since: fixture.at(100), until: fixture.at(310)), device: "d",
      format: .jsonl
    ) { lines.append($0) }
    let expected = fixture.events.filter { $0.time >= fixture.at(100) && $0.time < fixture.at(310) }
    #expect(!expected.isEmpty)
    #expect(try lines.map { try Event(json: $0) } == expected)
  }

  @Test func sinceTakesADurationOrATime() {
    let now = Timestamp(seconds: 1_800_000_000)
    #expect(EventSelection.parseSince("2h", now: now) == Timestamp(seconds: 1_800_000_000 - 7200))
    #expect(EventSelection.parseSince("2027-01-15T08:00:00Z", now: now) == Timestamp(iso8601: "2027-01-15T08:00:00Z"))
    #expect(EventSelection.parseSince("yesterday", now: now) == nil)
  }
}

/// RFC 4180 fields of one row (no embedded newlines in these tests).
func parseCSVRow(_ line: String) -> [String] {
  var fields: [String] = []
  var field = ""
  var quoted = false
  var characters = Array(line)[...]
  while let c = characters.popFirst() {
    if quoted {
      if c == "\"" {
        if characters.first == "\"" {
          field.append("\"")
          characters.removeFirst()
        } else {
          quoted = false
        }
      } else {
        field.append(c)
      }
    } else if c == "\"" {
      quoted = true
    } else if c == "," {
      fields.append(field)
      field = ""
    } else {
      field.append(c)
    }
  }
  fields.append(field)
  return fields
}

/// Reads an exported CSV row back, as a user's script would: cells that parse as JSON
/// numbers, booleans, objects or arrays are those; other non-empty cells are strings.
func eventFromCSV(_ row: [String]) throws -> Event {
  guard row.count == Exporter.csvColumns.count else { throw TestSupportError("row of \(row.count) cells: \(row)") }
  func value(_ cell: String) -> Value {
    if cell.isEmpty { return .null }
    if let parsed = try? JSON.parse(cell), !(parsed.stringValue != nil) { return parsed }
    return .string(cell)
  }
  var object: [String: Value] = [:]
  for (column, cell) in zip(Exporter.csvColumns, row) {
    switch column {
    case "value", "previous": object[column] = value(cell)
    case "seq", "cause": object[column] = cell.isEmpty ? .null : (try? JSON.parse(cell)) ?? .string(cell)
    case "late": object[column] = .bool(cell == "true")
    default: object[column] = cell.isEmpty ? .null : .string(cell)
    }
  }
  return try Event(jsonValue: .object(object))
}
