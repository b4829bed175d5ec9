import GanglionCore
import GanglionLog
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// Publishes that must not go out as asked (issue 10, items 1 and 2): a templated topic with a
/// NUL, a wildcard or nothing in it is refused before it reaches libmosquitto, counted, said
/// once per rule in the daemon log, and recorded as a failed publish; a message the MQTT
/// client refuses is counted and recorded too. The log never says a refused publish was sent.
@Suite struct PublishRefusalTests {
  static let rules = """
    rules:
      - name: notify
        on: notify.target
        do:
          - publish: { topic: "${value}/notify", payload: "on" }
          - publish: { topic: "notified", payload: "${value}" }
    """

  static func config(_ broker: MosquittoBroker) -> String {
    hallwayConfig(
      device: "test-pi", signals: "notify.target:\n  mqtt: { topic: notify/target, type: string }",
      log: "dir: log\nsync: always",
      sections: "mqtt:\n  url: \(broker.url)\n  commands: true\n")
  }

  /// The attack of the issue: the value `ganglion/test-pi/set/hallway.light` + NUL, put in front
  /// of `/notify`, reached libmosquitto as a C string cut at the NUL: the daemon's own command
  /// topic, and the light went on.
  @Test func aNULInATemplatedTopicIsRefusedNotCutShortAndTheLogAndExplainSayWhy() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "#")
    let daemon = try await DaemonHarness(config: Self.config(broker), files: ["rules.yaml": Self.rules])
    try await daemon.waitForBroker()

    let hostile = "ganglion/test-pi/set/hallway.light\u{0}"
    for _ in 0..<2 { try await broker.publish(topic: "notify/target", text: hostile) }
    // Publishes leave in seq order: once the second `notified` is here, the refused ones
    // would have gone before it.
    try await waitUntil("both firings' second publish", timeout: .seconds(10)) {
      observer.messages.filter { $0.topic == "notified" }.count == 2
    }
    #expect(!observer.messages.contains { $0.topic.hasPrefix("ganglion/test-pi/set/") }, "\(observer.messages)")
    let status = try await daemon.status()
    #expect(status["signals"]?["hallway.light"]?["value"] == false, "the light stays off")
    #expect(status["counters"]?["mqtt_publish_failures"] == 2, "\(status)")

    // The log records the topic exactly as rendered, and that it was not sent.
    let export = try await daemon.cli(["log", "export"])
    let publishes = export.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
      .filter { $0["kind"] == "publish" }
    let refused = publishes.filter { $0["value"]?["topic"] == .string(hostile + "/notify") }
    #expect(refused.count == 2, "\(export.output)")
    for event in refused {
      #expect(event["value"]?["sent"] == false, "\(event)")
      #expect(event["value"]?["error"]?.stringValue?.contains("NUL") == true, "\(event)")
    }
    #expect(publishes.filter { $0["value"]?["topic"] == "notified" }.allSatisfy { $0["value"]?["sent"] == nil })

    // `explain` of the refused publish says why.
    let seq = try #require(refused.first?["seq"]?.numberValue)
    let explained = try await daemon.cli(["explain", String(Int(seq))])
    #expect(explained.code == 0, "\(explained.output)")
    #expect(explained.output.contains("not sent"), "\(explained.output)")
    #expect(explained.output.contains("NUL"), "\(explained.output)")

    // Said once in the daemon log for the rule, not once per firing.
    let lines = daemon.output.split(separator: "\n").filter { $0.contains("rule notify") && $0.contains("NUL") }
    #expect(lines.count == 1, "\(daemon.output)")
    _ = await daemon.stop()
  }

  /// A publish event written to the log before this version (or by any other path) whose
  /// message the MQTT client refuses: sent again from the backlog after a restart, refused by
  /// the client, counted, and the log says so.
  @Test func aMessageTheClientRefusesOnTheOutboxPathIsCountedAndRecorded() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "#")
    let folder = try TemporaryDirectory(prefix: "ganglion-backlog")
    // A log that holds an undelivered publish to a topic libmosquitto refuses.
    let logDirectory = folder.path("log")
    let log = try EventLog.open(directory: logDirectory)
    var start = Event(time: Timestamp(seconds: 1_767_225_600), system: .start(simulated: true, rules: 1))
    try log.append(&start)
    for topic in ["alerts/+/wild", "alerts/fine"] {
      var publish = Event(
        time: Timestamp(seconds: 1_767_225_601), kind: .publish,
        value: .object(["topic": .string(topic), "payload": "x", "qos": 1, "retain": false]), source: .rule,
        cause: 1, rule: "old")
      try log.append(&publish)
    }
    try log.close()
    try writeFile(logDirectory + "/mqtt-delivered.seq", bytes: Array("1\n".utf8))
    try writeFile(logDirectory + "/device", bytes: Array("test-pi\n".utf8))

    let daemon = try await DaemonHarness(
      config: hallwayConfig(
        device: "test-pi", log: "dir: \(logDirectory)\nsync: always", sections: "mqtt:\n  url: \(broker.url)\n"),
      files: ["rules.yaml": "rules:\n"])
    _ = try await observer.wait(for: "alerts/fine")
    try await waitUntil("the refusal to be counted", timeout: .seconds(10)) {
      try await daemon.status()["counters"]?["mqtt_publish_failures"] == 1
    }
    let export = try await daemon.cli(["log", "export"])
    let failed = export.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
      .filter { $0["kind"] == "system" && $0["value"]?["event"] == "publish failed" }
    #expect(failed.count == 1, "\(export.output)")
    #expect(failed.first?["cause"] == 2, "the failure names the event whose message was refused")
    #expect(failed.first?["value"]?["topic"] == "alerts/+/wild", "\(failed)")
    _ = await daemon.stop()
  }
}
