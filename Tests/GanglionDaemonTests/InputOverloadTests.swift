import GanglionCore
import GanglionMQTT
import GanglionRules
import GanglionSystem
import Testing

@testable import GanglionDaemon

/// Issue 10 item 8: when the input queue was full, new readings were dropped, so after a burst
/// a signal could hold a stale value until the sensor spoke again. Readings of value signals
/// now coalesce (the latest wins); signals an `on` rule fires on keep every event or count
/// what they lose.
@Suite struct InputOverloadTests {
  static let config = PipelineHarness.defaultConfig.replacingAll(
    "mqtt:\n", with: "  doorbell.press:\n    mqtt: { topic: doorbell/action, type: string }\nmqtt:\n")
  static let rules =
    PipelineHarness.defaultRules + """

        - name: ring
          on: doorbell.press
          do:
            - log: "ring ${value}"
      """

  @Test func whenTheQueueIsFullTheLatestReadingOfAValueSignalWinsAndOnSignalsCountTheirLosses() throws {
    let h = try PipelineHarness(config: Self.config, rules: Self.rules)
    let pipeline = h.pipeline
    // The pipeline is busy: its queue fills up with motion edges.
    for edge in 0..<pipeline.inbox.capacity {
      let reading = Reading(signal: "hallway.motion", value: .bool(edge % 2 == 0), time: h.clock.now(), source: .gpio)
      #expect(pipeline.submit(.reading(reading)))
    }
    // The end of the burst: a lux sensor reports 1...100, the doorbell rings 5 times.
    for lux in 1...100 { pipeline.handleOrQueue(mqtt: MQTTMessage(topic: "sensors/hallway/lux", text: "\(lux)")) }
    for ring in 1...5 { pipeline.handleOrQueue(mqtt: MQTTMessage(topic: "doorbell/action", text: "press \(ring)")) }
    // The pipeline catches up.
    while let input = pipeline.inbox.poll() { h.send(input) }

    #expect(pipeline.engine.value(of: "hallway.lux") == 100, "the newest lux reading, not a stale one")
    let counters = pipeline.status.snapshot.counters
    #expect(counters.inputQueueDrops == 5, "the doorbell's lost presses are counted")
    #expect(counters.inputsCoalesced == 99, "99 lux readings were replaced by newer ones")
    let dropped = try JSON.parse(pipeline.status.statusJSON(now: h.clock.now()))["dropped"]
    #expect(dropped?["input_coalesced"] == 99 && dropped?["input_queue_full"] == 5, "\(String(describing: dropped))")
  }
}
