import GanglionCore
import GanglionMQTT
import Synchronization

/// Delivers logged events to MQTT in `seq` order, at least once for QoS 1 (events.md
/// "Delivery and ordering").
///
/// The event log is the real queue: this keeps the events not yet acknowledged by the broker
/// (at most `capacity`; past that the oldest not yet handed over are dropped and counted) and
/// hands only a small `window` of them to libmosquitto, which would otherwise queue without
/// limit. `deliveredSeq` (every event up to it was acknowledged or given up) is saved beside
/// the log, so a restarted daemon sends what the broker has not acknowledged yet.
/// QoS 0 messages are sent only while connected and are not waited for.
///
/// Not thread-safe: owned by the pipeline thread.
final class Outbox {
  private struct Delivery {
    let seq: UInt64
    let messages: [MQTTMessage]
    var awaiting: Set<Int32> = []
    var handedOver = false
    var isComplete: Bool { handedOver && awaiting.isEmpty }
  }

  let capacity: Int
  let window: Int
  /// Every event with a seq up to this one was acknowledged by the broker or dropped.
  private(set) var deliveredSeq: UInt64
  /// Events dropped because more than `capacity` were waiting.
  private(set) var dropped: UInt64 = 0
  /// Messages the client refused (for metrics).
  private(set) var refused: UInt64 = 0

  /// Handed to the client, awaiting acknowledgement, in seq order (at most `window`).
  private var inFlight = FIFO<Delivery>()
  /// Not handed over yet, in seq order (at most `capacity`).
  private var waiting = FIFO<Delivery>()
  private var owners: [Int32: UInt64] = [:]

  init(capacity: Int, window: Int = 64, deliveredSeq: UInt64) {
    self.capacity = max(1, capacity)
    self.window = max(1, window)
    self.deliveredSeq = deliveredSeq
  }

  /// Events waiting to be delivered (handed over or not).
  var depth: Int { inFlight.count + waiting.count }

  /// Queues the messages of the event `seq` (which may be none: the event still takes its
  /// place in the order).
  func enqueue(seq: UInt64, messages: [MQTTMessage]) {
    if messages.isEmpty && depth == 0 {
      deliveredSeq = max(deliveredSeq, seq)
      return
    }
    waiting.append(Delivery(seq: seq, messages: messages))
    while depth > capacity, waiting.count > 0 {
      // The oldest that libmosquitto does not hold yet goes.
      _ = waiting.popFirst()
      dropped += 1
    }
  }

  /// Hands deliveries to the client while fewer than `window` await acknowledgement.
  func pump(_ client: MQTTClient?) {
    guard let client else { return }
    while inFlight.count < window, var delivery = waiting.popFirst() {
      let connected = client.isConnected
      for message in delivery.messages {
        if message.qos == 0 && !connected { continue }
        do {
          let id = try client.publish(message)
          if message.qos > 0 {
            delivery.awaiting.insert(id)
            owners[id] = delivery.seq
          }
        } catch {
          refused += 1
        }
      }
      delivery.handedOver = true
      inFlight.append(delivery)
    }
    popCompleted()
  }

  /// The broker acknowledged the message `id` (from `MQTTClient`'s `onAcknowledged`).
  func acknowledge(_ id: Int32) {
    guard let seq = owners.removeValue(forKey: id) else { return }
    inFlight.update(where: { $0.seq == seq }) { $0.awaiting.remove(id) }
    popCompleted()
  }

  private func popCompleted() {
    while let first = inFlight.first, first.isComplete {
      deliveredSeq = max(deliveredSeq, first.seq)
      _ = inFlight.popFirst()
    }
    if inFlight.count == 0 && waiting.count == 0 { owners.removeAll(keepingCapacity: true) }
  }
}

/// A first-in first-out queue with O(1) amortized `append` and `popFirst`.
struct FIFO<Element> {
  private var storage: [Element] = []
  private var head = 0

  var count: Int { storage.count - head }
  var first: Element? { head < storage.count ? storage[head] : nil }

  mutating func append(_ element: Element) { storage.append(element) }

  mutating func popFirst() -> Element? {
    guard head < storage.count else { return nil }
    let element = storage[head]
    head += 1
    if head >= 64 && head * 2 >= storage.count {
      storage.removeFirst(head)
      head = 0
    }
    return element
  }

  /// Changes the first element that matches.
  mutating func update(where matches: (Element) -> Bool, _ change: (inout Element) -> Void) {
    for index in head..<storage.count where matches(storage[index]) {
      change(&storage[index])
      return
    }
  }
}

/// Collects acknowledgements from libmosquitto's thread for the pipeline thread. Bounded by
/// the messages in flight (the outbox window plus a few state republishes), never dropped.
final class AcknowledgementBox: Sendable {
  private let pending = Mutex<[Int32]>([])

  func add(_ id: Int32) { pending.withLock { $0.append(id) } }

  func take() -> [Int32] {
    pending.withLock { ids in
      defer { ids.removeAll(keepingCapacity: true) }
      return ids
    }
  }
}
