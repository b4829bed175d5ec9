import GanglionCore
import GanglionMQTT
import Testing

@testable import GanglionDaemon

/// Issue 10 item 7: every invalid payload under 256 KiB was logged whole, so ~260 junk
/// payloads of 250 KB replaced the whole default log. A dead letter now records a bounded
/// prefix, the length and a hash, dead-letter records are rate-limited per topic, and the
/// history before a flood survives it.
@Suite struct DeadLetterFloodTests {
  static let config = PipelineHarness.defaultConfig.replacingAll(
    "mqtt:\n", with: "  hallway.temperature:\n    mqtt: { topic: sensors/hallway/temperature, type: number }\nmqtt:\n")

  @Test func aFloodOfJunkPayloadsKeepsTheHistoryAndRecordsPrefixLengthAndHash() throws {
    let h = try PipelineHarness(config: Self.config, log: "{ dir: log, max_size: 4MiB, segment_size: 1MiB }")
    h.mqtt("sensors/hallway/lux", "12")
    let junk = String(repeating: "junk ", count: 50_000)  // 250,000 bytes, not a number
    let flood = 40
    for _ in 0..<flood { h.mqtt("sensors/hallway/lux", junk) }

    let events = try h.loggedEvents()
    #expect(events.first?.seq == 1, "the history before the flood is still there")
    #expect(events.contains { $0.signal == "hallway.lux" && $0.value == 12 })
    let letters = events.filter { $0.kind == .deadLetter }
    #expect(!letters.isEmpty && letters.count < flood, "rate-limited per topic: \(letters.count)")
    for letter in letters {
      #expect((letter.value["payload"]?.stringValue?.utf8.count ?? .max) <= 1024)
      #expect(letter.value["payload_bytes"] == 250_000)
      #expect(letter.value["payload_sha256"]?.stringValue == SHA256.hex(Array(junk.utf8)))
    }
    let counters = h.pipeline.status.snapshot.counters
    #expect(counters.deadLetters == UInt64(flood), "every dead letter is counted")
    #expect(counters.deadLetterRecordsSuppressed == UInt64(flood - letters.count))

    // Another topic has its own allowance; and after a while the flooded topic is recorded
    // again, saying how many were held back.
    h.mqtt("sensors/hallway/temperature", "warm")
    #expect(try h.loggedEvents().last?.value["topic"] == "sensors/hallway/temperature")
    h.clock.advance(by: .seconds(60))
    h.mqtt("sensors/hallway/lux", "dark")
    let last = try #require(try h.loggedEvents().last)
    #expect(last.kind == .deadLetter && last.value["held_back"] == .number(Double(flood - letters.count)), "\(last)")
  }

  @Test func aNonUTF8PayloadIsBase64InAnObjectOnTheDeadLetterTopicAsInTheLog() throws {
    let h = try PipelineHarness()
    h.send(.mqttMessage(MQTTMessage(topic: "sensors/hallway/lux", payload: [0x01, 0xFF])))
    let message = try #require(h.publisher.messages(on: "ganglion/test-pi/dead_letter").last)
    let json = try JSON.parse(message.text)
    #expect(json["payload"] == .object(["base64": "Af8="]), "\(message.text)")
    #expect(try h.loggedEvents().last?.value["payload"] == .object(["base64": "Af8="]))
  }
}
