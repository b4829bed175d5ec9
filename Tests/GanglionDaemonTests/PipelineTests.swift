import GanglionCore
import GanglionGPIO
import GanglionLog
import GanglionMQTT
import GanglionRules
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// The pipeline on virtual time (PipelineHarness): a manual clock, the simulated board, a
/// recording publisher and a real log, one `turn` at a time. Each test runs in milliseconds.
@Suite struct PipelineTests {
  /// `<prefix>/events/<signal>` seqs in the order they were handed to the publisher.
  static func eventSeqs(_ messages: [MQTTMessage]) -> [UInt64] {
    messages.compactMap { message in
      guard case .object(let fields)? = try? JSON.parse(String(decoding: message.payload, as: UTF8.self)) else {
        return nil
      }
      return fields["seq"]?.numberValue.map { UInt64($0) }
    }
  }

  @Test func aRuleDrivesTheOutputAndItsCountdownRunsOnVirtualTime() throws {
    let h = try PipelineHarness()
    h.mqtt("sensors/hallway/lux", "10")
    h.input("hallway.motion", true)
    #expect(h.level("hallway.light") == true)
    h.input("hallway.motion", false)
    h.advance(by: .seconds(119))
    #expect(h.level("hallway.light") == true)
    h.advance(by: .seconds(2))
    #expect(h.level("hallway.light") == false)
    let fired = h.publisher.messages.filter { $0.topic.hasPrefix("ganglion/test-pi/fired/") }.map(\.topic)
    #expect(fired == ["ganglion/test-pi/fired/light-on", "ganglion/test-pi/fired/light-off"])
  }

  @Test func connectingPublishesStatusAndEveryRetainedStateUnknownOnesEmpty() throws {
    let h = try PipelineHarness()
    let status = h.publisher.messages(on: "ganglion/test-pi/status")
    #expect(status.map(\.payload) == [Array("online".utf8)])
    let lux = h.publisher.messages(on: "ganglion/test-pi/state/hallway.lux")
    #expect(lux.map { $0.payload } == [[]])
    #expect(lux.allSatisfy { $0.retain })
    #expect(h.publisher.messages(on: "ganglion/test-pi/state/hallway.light").last?.payload == Array("false".utf8))
  }

  @Test func aBurstSpillsToTheLogAndIsReadBackInOrderWithNothingLost() throws {
    let h = try PipelineHarness()
    let delivery = try #require(h.pipeline.delivery)
    h.acknowledgeAll()  // the retained state of the connection, published beside the outbox
    let first = h.log.nextSeq
    for i in 0..<1500 {
      h.mqtt("sensors/hallway/lux", "\(i)")
      // Never more than the window of events with messages in flight (2 QoS 1 messages each).
      #expect(h.publisher.unacknowledged.count <= delivery.outbox.window * 2)
    }
    #expect(delivery.outbox.spilledFrom != nil, "1500 unacknowledged events are more than memory holds")
    var rounds = 0
    while delivery.outbox.depth > 0, rounds < 1000 {
      h.acknowledgeAll()
      rounds += 1
    }
    #expect(delivery.outbox.depth == 0)
    #expect(delivery.outbox.dropped == 0)
    let sent = Self.eventSeqs(h.publisher.messages(on: "ganglion/test-pi/events/hallway.lux"))
    let logged = try h.loggedEvents().filter { $0.signal == "hallway.lux" && $0.seq >= first }.map(\.seq)
    #expect(logged.count == 1500)
    #expect(sent == logged)
  }

  @Test func whileTheBrokerIsAwayOnlyTheNewestOutboxEventsAreKept() throws {
    let h = try PipelineHarness(config: PipelineHarness.defaultConfig + "\n  outbox: 50")
    let delivery = try #require(h.pipeline.delivery)
    h.acknowledgeAll()
    h.setConnected(false)
    let first = h.log.nextSeq
    for i in 0..<200 { h.mqtt("sensors/hallway/lux", "\(i)") }
    #expect(delivery.outbox.dropped == 150)
    #expect(h.pipeline.status.snapshot.outboxDropped == 150)
    h.setConnected(true)
    var rounds = 0
    while delivery.outbox.depth > 0, rounds < 100 {
      h.acknowledgeAll()
      rounds += 1
    }
    let logged = try h.loggedEvents().filter { $0.signal == "hallway.lux" && $0.seq >= first }.map(\.seq)
    let sent = Self.eventSeqs(h.publisher.messages(on: "ganglion/test-pi/events/hallway.lux"))
    #expect(sent == Array(logged.suffix(50)))
  }

  @Test func aReloadSwapsRulesAndARejectedOneKeepsTheRunningRules() throws {
    let h = try PipelineHarness()
    try h.folder.write(
      """
      rules:
        - name: bright-alarm
          when: hallway.lux > 100
          do:
            - set: { hallway.light: on }
      """, to: "rules.yaml")
    let accepted = ReplyBox<ReloadOutcome>()
    h.send(.reload(accepted))
    #expect(accepted.wait(timeoutSeconds: 1)?.accepted == true)
    h.mqtt("sensors/hallway/lux", "150")
    #expect(h.level("hallway.light") == true)

    try h.folder.write("rules:\n  - name: broken\n    when: hallway.lux >\n    do: []\n", to: "rules.yaml")
    let rejected = ReplyBox<ReloadOutcome>()
    h.send(.reload(rejected))
    let outcome = try #require(rejected.wait(timeoutSeconds: 1))
    #expect(!outcome.accepted)
    #expect(outcome.diagnostics.contains { $0.description.contains("rules.yaml:3:") })
    #expect(h.pipeline.status.snapshot.rejectedReload != nil)
    #expect(h.pipeline.engine.ruleNames == ["bright-alarm"])
    let reloads = try h.loggedEvents().compactMap(\.systemEvent).filter {
      if case .start = $0 { false } else { true }
    }
    #expect(reloads == [.reload(rules: 1), .reloadRejected(errors: 1)])
  }

  @Test func deadLettersAreAllRecordedButSaidInTheLogAtMostEveryTenSeconds() throws {
    let h = try PipelineHarness()
    for _ in 0..<5 { h.mqtt("sensors/hallway/lux", "bright") }
    #expect(h.publisher.messages(on: "ganglion/test-pi/dead_letter").count == 5)
    #expect(try h.loggedEvents().filter { $0.kind == .deadLetter }.count == 5)
    #expect(h.warnings.filter { $0.hasPrefix("dead letter") }.count == 1)
    h.clock.advance(by: .seconds(10))
    h.mqtt("sensors/hallway/lux", "dark")
    let lines = h.warnings.filter { $0.hasPrefix("dead letter") }
    #expect(lines.count == 2)
    #expect(lines.last?.contains("(4 more since the last report)") == true)
  }

  @Test func aPulseCounterAddsOnePerCountedEdgeAndStartsAtZero() throws {
    let h = try PipelineHarness(
      config: PipelineHarness.defaultConfig.replacingAll(
        "signals:\n", with: "signals:\n  water.litres:\n    gpio: { chip: gpiochip0, line: 5, count: rising }\n"))
    #expect(h.pipeline.engine.value(of: "water.litres") == 0)
    for _ in 0..<10 {
      try h.drive("water.litres", true)
      try h.drive("water.litres", false)
    }
    #expect(h.pipeline.engine.value(of: "water.litres") == 10)
    let values = try h.loggedEvents().filter { $0.signal == "water.litres" }.map(\.value)
    #expect(values == (0...10).map { .number(Double($0)) })
  }

  @Test func lostEdgesAreRecordedCountedAndSaid() throws {
    let h = try PipelineHarness()
    try h.board.loseEdges(signal: "hallway.motion", count: 7)
    try h.board.loseEdges(signal: "hallway.motion", count: nil)
    h.drainInbox()
    let lost = try h.loggedEvents().compactMap(\.systemEvent).filter {
      if case .edgesLost = $0 { true } else { false }
    }
    #expect(lost == [.edgesLost(signal: "hallway.motion", count: 7), .edgesLost(signal: "hallway.motion", count: nil)])
    let status = h.pipeline.status.snapshot
    #expect(status.counters.gpioEdgesLost["hallway.motion"] == 7)
    #expect(status.counters.gpioEdgeQueueFull["hallway.motion"] == 2)
    #expect(h.pipeline.status.metricsText().contains("ganglion_gpio_edges_lost_total{signal=\"hallway.motion\"} 7"))
    #expect(h.warnings.filter { $0.hasPrefix("GPIO edges came faster") }.count == 1)
  }
}
