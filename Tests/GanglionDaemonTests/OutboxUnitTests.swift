import GanglionCore
import GanglionMQTT
import Synchronization
import Testing

@testable import GanglionDaemon

/// The outbox against a recording publisher, without a broker: the window, the order of
/// acknowledgements, spilling to the log and dropping past capacity.
@Suite struct OutboxUnitTests {
  static func message(_ seq: UInt64, qos: Int = 1) -> [MQTTMessage] {
    [MQTTMessage(topic: "t/\(seq)", payload: [], qos: qos)]
  }

  static func sentSeqs(_ publisher: RecordingPublisher) -> [UInt64] {
    publisher.messages.compactMap { UInt64($0.topic.dropFirst(2)) }
  }

  @Test func atMostTheWindowIsInFlightAndAcknowledgementsMoveIt() {
    let publisher = RecordingPublisher()
    let outbox = Outbox(capacity: 1000, window: 4, memoryLimit: 100, deliveredSeq: 0)
    for seq in UInt64(1)...10 { outbox.enqueue(seq: seq, messages: Self.message(seq)) }
    outbox.pump(publisher)
    #expect(Self.sentSeqs(publisher) == [1, 2, 3, 4])
    // The broker acknowledges the second before the first: nothing is delivered until the first is.
    outbox.acknowledge(2)
    #expect(outbox.deliveredSeq == 0)
    outbox.acknowledge(1)
    #expect(outbox.deliveredSeq == 2)
    outbox.pump(publisher)
    #expect(Self.sentSeqs(publisher) == [1, 2, 3, 4, 5, 6])
  }

  @Test func qos0AndRefusedMessagesDoNotHoldTheQueue() {
    let publisher = RecordingPublisher()
    publisher.state.withLock { $0.refuseTopics = ["t/2"] }
    let outbox = Outbox(capacity: 1000, window: 4, memoryLimit: 100, deliveredSeq: 0)
    outbox.enqueue(seq: 1, messages: Self.message(1, qos: 0))
    outbox.enqueue(seq: 2, messages: Self.message(2))
    outbox.enqueue(seq: 3, messages: [])
    outbox.pump(publisher)
    #expect(outbox.refused == 1)
    #expect(outbox.deliveredSeq == 3)
    #expect(outbox.depth == 0)
  }

  @Test func pastMemoryEventsWaitInTheLogAndComeBackInOrder() {
    let publisher = RecordingPublisher()
    let outbox = Outbox(capacity: 1000, window: 2, memoryLimit: 4, deliveredSeq: 0)
    for seq in UInt64(1)...10 { outbox.enqueue(seq: seq, messages: Self.message(seq)) }
    #expect(outbox.spilledFrom == 5)
    #expect(outbox.depth == 10)
    outbox.pump(publisher)
    for id in publisher.acknowledgeAll() { outbox.acknowledge(id) }
    outbox.pump(publisher)
    for id in publisher.acknowledgeAll() { outbox.acknowledge(id) }
    #expect(outbox.wantsRefill)
    // What the pipeline reads back from the log: the spilled events, oldest first.
    let from = outbox.spilledFrom!
    outbox.refill((from...10).map { ($0, Self.message($0)) }, readUpTo: 10)
    #expect(outbox.spilledFrom == nil)
    while outbox.depth > 0 {
      outbox.pump(publisher)
      for id in publisher.acknowledgeAll() { outbox.acknowledge(id) }
    }
    #expect(Self.sentSeqs(publisher) == Array(1...10))
    #expect(outbox.deliveredSeq == 10)
  }

  @Test func whileDisconnectedTheOldestArePastCapacityDroppedAndCounted() {
    let publisher = RecordingPublisher()
    publisher.state.withLock { $0.connected = false }
    let outbox = Outbox(capacity: 5, window: 4, memoryLimit: 100, deliveredSeq: 0)
    for seq in UInt64(1)...8 { outbox.enqueue(seq: seq, messages: Self.message(seq)) }
    outbox.pump(publisher)
    #expect(outbox.dropped == 3)
    #expect(outbox.depth == 5)
    #expect(publisher.messages.isEmpty)
    publisher.state.withLock { $0.connected = true }
    while outbox.depth > 0 {
      outbox.pump(publisher)
      for id in publisher.acknowledgeAll() { outbox.acknowledge(id) }
    }
    #expect(Self.sentSeqs(publisher) == [4, 5, 6, 7, 8])
  }
}
