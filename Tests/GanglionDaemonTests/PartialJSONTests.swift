import GanglionCore
import GanglionMQTT
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// config.md: a JSON message without a `json:` signal's field leaves the signal unchanged and
/// is counted as ignored, not dead-lettered (zigbee2mqtt sends partial updates), unless the
/// signal says `required: true`.
@Suite struct PartialJSONTests {
  @Test func aMessageWithoutTheFieldIsIgnoredAndCountedUnlessTheSignalRequiresIt() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "ganglion/#")
    let daemon = try await DaemonHarness(
      config: hallwayConfig(
        device: "z2m-pi",
        signals: """
          living.temperature:
            mqtt: { topic: zigbee2mqtt/living, json: temperature, type: number }
          living.humidity:
            mqtt: { topic: zigbee2mqtt/living, json: humidity, type: number, required: true }
          """,
        log: "dir: log\nsync: always", sections: "mqtt:\n  url: \(broker.url)\n"),
      files: ["rules.yaml": "rules: []\n"])
    try await daemon.waitForBroker()

    try await broker.publish(topic: "zigbee2mqtt/living", text: #"{"humidity": 40}"#)
    _ = try await observer.wait(for: "ganglion/z2m-pi/state/living.humidity") { $0.text == "40" }
    try await broker.publish(topic: "zigbee2mqtt/living", text: #"{"temperature": 21.5}"#)
    _ = try await observer.wait(for: "ganglion/z2m-pi/state/living.temperature") { $0.text == "21.5" }
    let deadLetter = try await observer.wait(for: "ganglion/z2m-pi/dead_letter")
    #expect(deadLetter.text.contains("living.humidity"), "\(deadLetter.text)")

    let status = try await daemon.status()
    #expect(status["counters"]?["dead_letters"] == 1, "only the required field's absence is a dead letter")
    #expect(status["counters"]?["ignored_messages"] == 1, "\(status)")
    #expect(status["signals"]?["living.temperature"]?["value"] == 21.5)
    #expect(status["signals"]?["living.humidity"]?["value"] == 40, "a missing field leaves the value as it was")
    let metrics = try await HTTPGet.text(port: daemon.httpPort, path: "/metrics")
    #expect(metrics.contains("ganglion_mqtt_ignored_messages_total 1"), "\(metrics)")
    #expect(!observer.messages.contains { $0.topic.hasSuffix("dead_letter") && $0.text.contains("living.temperature") })
    _ = await daemon.stop()
  }

  @Test func interpretingAPartialMessage() throws {
    let (decoded, diagnostics) = ConfigDecoder.decode(
      text: """
        device: d
        signals:
          a.temperature: { mqtt: { topic: z/a, json: temperature, type: number } }
          a.humidity: { mqtt: { topic: z/a, json: humidity, type: number, required: true } }
          a.all: { mqtt: { topic: z/a, type: json } }
        """, file: "c.yaml")
    let config = try #require(decoded, "\(diagnostics)")
    let outcomes = InboundMQTT(config: config).interpret(
      MQTTMessage(topic: "z/a", payload: Array(#"{"battery": 90}"#.utf8)), at: Timestamp(seconds: 0))
    #expect(outcomes.count == 3)
    guard case .ignored(let signal, let reason) = outcomes[0] else {
      Issue.record("\(outcomes[0])")
      return
    }
    #expect(signal == "a.temperature" && reason.contains("temperature"))
    guard case .rejected(let rejection) = outcomes[1] else {
      Issue.record("\(outcomes[1])")
      return
    }
    #expect(rejection.signal == "a.humidity" && rejection.reason.contains("required"))
    guard case .reading = outcomes[2] else {
      Issue.record("\(outcomes[2])")
      return
    }
  }

  @Test func requiredGoesWithAJSONPath() {
    let (_, diagnostics) = ConfigDecoder.decode(
      text: "device: d\nsignals:\n  a.b: { mqtt: { topic: z/a, type: number, required: true } }\n", file: "c.yaml")
    #expect(
      diagnostics.map(\.description) == [
        "c.yaml:3:54: error: `required` applies to a `json:` field (a message without it is a dead letter); this signal reads the whole payload"
      ])
  }
}
