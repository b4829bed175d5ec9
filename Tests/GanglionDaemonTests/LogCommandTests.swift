import GanglionAnalysis
import GanglionCore
import GanglionDaemon
import GanglionLog
import GanglionTestSupport
import Glibc
import Testing

/// `ganglion log export|stats|verify`, `replay` and `explain`, run as a user runs them, on a
/// log written by the real engine (`AnalysisFixture`).
@Suite struct LogCommandTests {
  @Test func exportAsJSONLinesAndAsCSVGivesTheSameEvents() async throws {
    let fixture = try AnalysisFixture()
    let jsonl = try await runGanglion(["log", "export", "--config", fixture.configPath])
    #expect(jsonl.code == 0, "\(jsonl.output)")
    let csv = try await runGanglion(["log", "export", "--config", fixture.configPath, "--format", "csv"])
    #expect(csv.code == 0, "\(csv.output)")
    let jsonEvents = try jsonl.output.split(separator: "\n").map { try Event(json: String($0)) }
    #expect(jsonEvents == fixture.events)
    #expect(jsonl.output.contains("\"id\":\"test-pi:\(fixture.events[0].seq)\""))
    let csvLines = csv.output.split(separator: "\n").map(String.init)
    #expect(csvLines.first == Exporter.csvColumns.joined(separator: ","))
    let csvEvents = try csvLines.dropFirst().map { try eventFromCSV(parseCSVRow($0)) }
    #expect(csvEvents == jsonEvents)
  }

  @Test func exportOfASeqRangeFromTheLogFolder() async throws {
    let fixture = try AnalysisFixture()
    let from = fixture.events[2].seq
    let to = fixture.events[5].seq
    let result = try await runGanglion([
      "log", "export", "--log", fixture.logDirectory, "--from", String(from), "--to", String(to),
    ])
    #expect(result.code == 0, "\(result.output)")
    let seqs = try result.output.split(separator: "\n").map { try Event(json: String($0)).seq }
    #expect(seqs == fixture.events[2...5].map(\.seq))
  }

  @Test func exportOfATimeRange() async throws {
    let fixture = try AnalysisFixture()
    let result = try await runGanglion([
      "log", "export", "--log", fixture.logDirectory, "--since", fixture.at(100).iso8601, "--until",
      fixture.at(310).iso8601,
    ])
    #expect(result.code == 0, "\(result.output)")
    let expected = fixture.events.filter { $0.time >= fixture.at(100) && $0.time < fixture.at(310) }
    #expect(!expected.isEmpty)
    #expect(try result.output.split(separator: "\n").map { try Event(json: String($0)) } == expected)
  }

  @Test func badSinceIsAUsageError() async throws {
    let fixture = try AnalysisFixture()
    let result = try await runGanglion(["log", "export", "--log", fixture.logDirectory, "--since", "last tuesday"])
    #expect(result.code == 2, "\(result.output)")
    #expect(result.output.contains("--since"))
  }

  @Test func statsCountsTheEvents() async throws {
    let fixture = try AnalysisFixture()
    let result = try await runGanglion(["log", "stats", "--json", "--config", fixture.configPath])
    #expect(result.code == 0, "\(result.output)")
    let stats = try JSON.parse(result.output)
    #expect(stats["events"] == .number(Double(fixture.events.count)))
    #expect(stats["first_seq"] == .number(Double(fixture.events.first!.seq)))
    #expect(stats["last_seq"] == .number(Double(fixture.events.last!.seq)))
    let motion = fixture.events.count { $0.signal == "hallway.motion" }
    #expect(stats["events_by_signal"]?["hallway.motion"] == .number(Double(motion)))
    let human = try await runGanglion(["log", "stats", "--config", fixture.configPath])
    #expect(human.code == 0)
    #expect(human.output.contains("\(fixture.events.count) events"))
  }

  @Test func verifyPassesAGoodLogAndNamesTheSegmentAndOffsetOfAFlippedByte() async throws {
    let fixture = try AnalysisFixture()
    let good = try await runGanglion(["log", "verify", "--log", fixture.logDirectory])
    #expect(good.code == 0, "\(good.output)")
    #expect(good.output.hasPrefix("ok: "))

    let segments = try #require(directoryEntries(fixture.logDirectory)).map(\.name).filter { $0.hasSuffix(".seg") }
      .sorted()
    #expect(segments.count > 1)
    let segment = segments[0]
    try flipByte(in: fixture.logDirectory + "/" + segment, at: 200)
    let expected = try #require(LogReader(directory: fixture.logDirectory).verify().problems.first)
    #expect(expected.segment == segment)

    let bad = try await runGanglion(["log", "verify", "--log", fixture.logDirectory])
    #expect(bad.code == 1, "\(bad.output)")
    #expect(bad.output.contains("\(segment): error: offset \(expected.offset):"), "\(bad.output)")
    #expect(bad.output.contains("CORRUPT"))
  }

  @Test func explainOfALightEventNamesTheRuleAndTheMotionInput() async throws {
    let fixture = try AnalysisFixture()
    let light = try #require(fixture.events.last { $0.signal == "hallway.light" && $0.value == true })
    let motion = try #require(fixture.events.first { $0.seq == light.cause })
    let result = try await runGanglion(["explain", String(light.seq), "--config", fixture.configPath])
    #expect(result.code == 0, "\(result.output)")
    let lines = result.output.split(separator: "\n").map(String.init)
    #expect(lines.first == EventFormatter.line(light))
    #expect(lines.contains { $0.contains("rule light-on") })
    #expect(lines.contains { $0.contains("hallway.lux < 40 or not known(hallway.lux)  =>  true") })
    #expect(lines.last == EventFormatter.line(motion) + "  <- input")

    let json = try await runGanglion(["explain", String(light.seq), "--json", "--config", fixture.configPath])
    #expect(json.code == 0, "\(json.output)")
    let document = try JSON.parse(json.output)
    guard case .array(let chain)? = document["chain"] else {
      Issue.record("no chain in \(json.output)")
      return
    }
    #expect(chain.count == 2)
    #expect(chain.first?["rule"]?["name"] == "light-on")
    #expect(chain.last?["event"]?["signal"] == "hallway.motion")
    #expect(chain.last?["event"]?["seq"] == .number(Double(motion.seq)))

    let missing = try await runGanglion(["explain", "999999", "--config", fixture.configPath])
    #expect(missing.code == 2)
    #expect(missing.output.contains("#999999 is not in the log"))
  }

  @Test func replayDiffOfTheSameRulesFindsNoDifferenceAndOfAChangedRuleReportsIt() async throws {
    let fixture = try AnalysisFixture()
    let same = try await runGanglion(["replay", "--diff", "--config", fixture.configPath])
    #expect(same.code == 0, "\(same.output)")
    #expect(same.output.hasPrefix("no differences: 9 rule events match (7 inputs replayed)"), "\(same.output)")

    let changed = try fixture.folder.write(
      AnalysisFixture.rules.replacingAll("hallway.lux < 40", with: "hallway.lux < 200"), to: "changed.yaml")
    let result = try await runGanglion(["replay", "--diff", "--config", fixture.configPath, "--rules", changed])
    #expect(result.code == 1, "\(result.output)")
    let lines = result.output.split(separator: "\n").map(String.init)
    #expect(lines.filter { $0.hasPrefix("+ ") }.count == 3)
    #expect(lines.filter { $0.hasPrefix("- ") }.count == 1)
    #expect(lines.contains { $0.hasPrefix("+ r") && $0.contains("fired light-on") })
    #expect(lines.contains { $0.hasPrefix("- #") && $0.contains("hallway.light = true [rule light-on]") })
    #expect(lines.last == "4 differences: 1 only in the log (-), 3 only in the replay (+); 8 match (7 inputs replayed)")

    let plain = try await runGanglion(["replay", "--config", fixture.configPath, "--json"])
    #expect(plain.code == 0, "\(plain.output)")
    let documents = try plain.output.split(separator: "\n").map { try JSON.parse(String($0)) }
    #expect(documents.count == 10)
    #expect(documents.last?["summary"]?["replayed"] == 9)
    #expect(documents.first?["kind"] == "fired")
  }

  @Test func theCommandsReadTheLogOfARunningDaemon() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "live-pi", signals: "hallway.lux:\n  type: number", log: "dir: log\nsync: always"),
      files: ["rules.yaml": AnalysisFixture.rules])
    let inject = try await daemon.cli(["inject", "hallway.motion", "on"])
    #expect(inject.code == 0, "\(inject.output)")
    let logDirectory = daemon.folder.path("log")
    let light = try await waitFor("the light event in the daemon's log", timeout: .seconds(10)) {
      try? LogReader(directory: logDirectory).events().first { $0.signal == "hallway.light" && $0.value == true }
    }

    let export = try await daemon.cli(["log", "export"])
    #expect(export.code == 0, "\(export.output)")
    #expect(export.output.contains(light.json(device: "live-pi")))

    let explain = try await daemon.cli(["explain", String(light.seq)])
    #expect(explain.code == 0, "\(explain.output)")
    #expect(explain.output.contains("rule light-on"))
    #expect(explain.output.contains("hallway.motion = true [simulator]  <- input"), "\(explain.output)")

    let replay = try await daemon.cli(["replay", "--diff"])
    #expect(replay.code == 0, "\(replay.output)")
    #expect(replay.output.hasPrefix("no differences: 3 rule events match (1 input replayed)"), "\(replay.output)")

    let verify = try await daemon.cli(["log", "verify"])
    #expect(verify.code == 0, "\(verify.output)")
    _ = await daemon.stop()
  }
}

/// Inverts one byte of a file, as a failing SD card might.
func flipByte(in path: String, at offset: Int) throws {
  let fd = open(path, O_RDWR)
  guard fd >= 0 else { throw TestSupportError("cannot open \(path)") }
  defer { close(fd) }
  var byte: UInt8 = 0
  guard pread(fd, &byte, 1, off_t(offset)) == 1 else { throw TestSupportError("cannot read \(path)") }
  byte ^= 0xFF
  guard pwrite(fd, &byte, 1, off_t(offset)) == 1 else { throw TestSupportError("cannot write \(path)") }
}
