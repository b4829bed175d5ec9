import GanglionCore
import GanglionMQTT
import Synchronization

/// Where the outbox hands messages: the MQTT client in the daemon, a recording publisher in
/// tests.
///
/// Thread safety: called by whoever holds the pipeline's lock; implementations must not
/// block for long (libmosquitto queues the message and returns).
protocol MessagePublisher: AnyObject, Sendable {
  /// Whether messages handed over now can reach the broker.
  var isConnected: Bool { get }
  /// Hands `message` over. Returns the message id its acknowledgement will carry (QoS 1).
  /// Throws when the client refuses it (not connected, invalid, too many in flight).
  func publish(_ message: MQTTMessage) throws -> Int32
}

extension MQTTClient: MessagePublisher {}

/// Delivers logged events to MQTT in `seq` order, at least once for QoS 1 (events.md
/// "Delivery and ordering").
///
/// The event log is the queue. The outbox keeps at most `memoryLimit` deliveries in memory;
/// when more are waiting (a burst faster than the broker acknowledges, a broker that is away,
/// a restart with unsent events) the newer ones stay in the log only ("spilled") and are read
/// back by the owner (`refill`) as the older ones leave. Only a small `window` is handed to
/// libmosquitto, which would otherwise queue without limit, and only while connected.
/// While the broker is unreachable, at most `capacity` (`mqtt.outbox`) undelivered events
/// are kept: past that the oldest are dropped and counted. While connected nothing is dropped.
/// `deliveredSeq` (every event up to it was acknowledged or dropped) is saved beside the log,
/// so a restarted daemon sends what the broker has not acknowledged yet. QoS 0 messages are
/// not waited for.
///
/// A spilled event is read back from the log only once the log has written it: until its
/// record is settled (`settle`) its messages stay in memory too, and if the log could not
/// write it (disk full) they wait in memory instead (`unlogged`, at most `unloggedLimit`),
/// in seq order with those read back. Every event dropped anywhere here is counted, by
/// reason: `dropped` (the broker away, past `capacity`), `droppedUnlogged` (not in the log,
/// past `unloggedLimit`), `droppedNotInLog` (neither in memory nor in the log any more: the
/// ring dropped it first).
///
/// Not thread-safe: owned by whoever holds the pipeline's lock.
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
  let memoryLimit: Int
  /// How many events the log could not write are kept in memory for the broker.
  let unloggedLimit: Int
  /// Spilled events whose log records are kept in memory until settled at most: past it, the
  /// oldest are left to the log alone.
  static let maximumUnsettled = 65_536
  /// Every event with a seq up to this one was acknowledged by the broker or dropped.
  private(set) var deliveredSeq: UInt64
  /// Events dropped because more than `capacity` waited while the broker was unreachable.
  private(set) var dropped: UInt64 = 0
  /// Events the log could not write, dropped because more than `unloggedLimit` of them waited.
  private(set) var droppedUnlogged: UInt64 = 0
  /// Spilled events found neither in memory nor in the log when read back (the ring dropped
  /// them before they could be sent).
  private(set) var droppedNotInLog: UInt64 = 0
  /// Messages the client refused (`ganglion_mqtt_publish_failures_total`).
  private(set) var refused: UInt64 = 0
  /// A message the client refused: the event it belongs to, its topic and why.
  struct Refusal: Equatable {
    var seq: UInt64
    var topic: String
    var reason: String
  }
  /// Refusals not taken yet (`takeRefusals`), for the pipeline to record in the log. Bounded:
  /// past `maximumPendingRefusals` they are only counted in `refused`.
  private var refusals: [Refusal] = []
  static let maximumPendingRefusals = 1024
  /// The first seq of the events that wait in the log only, nil when all are in memory.
  private(set) var spilledFrom: UInt64?
  /// How many events with messages wait in the log only (seqs may have gaps: a crash skips
  /// the rest of a reserved block, so this is counted, not computed from seqs).
  private var spilledEvents = 0

  /// Handed to the client, awaiting acknowledgement, in seq order (at most `window`).
  private var inFlight = FIFO<Delivery>()
  /// In memory, not handed over yet, in seq order (at most `memoryLimit`).
  private var waiting = FIFO<Delivery>()
  /// Spilled events whose log records are not settled yet, in seq order.
  private var unsettled = FIFO<Delivery>()
  /// Spilled events the log could not write, in seq order (at most `unloggedLimit`).
  private var unlogged = FIFO<Delivery>()
  /// Seqs the log reported lost that concern events not settled here yet.
  private var lostSeqs: [ClosedRange<UInt64>] = []
  /// For each message handed over and not acknowledged yet: its event and topic.
  private var owners: [Int32: (seq: UInt64, topic: String)] = [:]
  /// The newest seq enqueued or announced.
  private var newestSeq: UInt64

  init(
    capacity: Int, window: Int = 64, memoryLimit: Int = 512, unloggedLimit: Int? = nil, deliveredSeq: UInt64
  ) {
    self.capacity = max(1, capacity)
    self.window = max(1, window)
    self.memoryLimit = max(1, memoryLimit)
    self.unloggedLimit = max(1, unloggedLimit ?? capacity)
    self.deliveredSeq = deliveredSeq
    newestSeq = deliveredSeq
  }

  /// Events waiting to be delivered (handed over or not).
  var depth: Int { inFlight.count + waiting.count + spilledEvents }

  /// True when events wait in the log and there is room to read them back.
  var wantsRefill: Bool { spilledFrom != nil && waiting.count <= memoryLimit / 2 }

  /// How many events `refill` takes at most.
  var refillLimit: Int { memoryLimit - waiting.count }

  /// Queues the messages of the event `seq` (which may be none: the event still takes its
  /// place in the order). When the memory is full, the event stays in the log only.
  func enqueue(seq: UInt64, messages: [MQTTMessage]) {
    newestSeq = max(newestSeq, seq)
    if spilledFrom != nil {  // later than the spilled ones: it waits in the log too
      if !messages.isEmpty { spill(Delivery(seq: seq, messages: messages)) }
      return
    }
    if messages.isEmpty && inFlight.count + waiting.count == 0 {
      deliveredSeq = max(deliveredSeq, seq)
      return
    }
    if waiting.count >= memoryLimit {
      spilledFrom = seq
      spilledEvents = 0
      if !messages.isEmpty { spill(Delivery(seq: seq, messages: messages)) }
      return
    }
    waiting.append(Delivery(seq: seq, messages: messages))
  }

  /// A spilled event: counted, and kept in memory until the log has settled its record.
  private func spill(_ delivery: Delivery) {
    spilledEvents += 1
    unsettled.append(delivery)
    if unsettled.count > Self.maximumUnsettled { _ = unsettled.popFirst() }  // the log has it, or says it lost it
  }

  /// The log settled every record up to `seq` (written, or lost: `lost`, from
  /// `EventLog.takeLostSeqs`): spilled events it wrote are read back from it later; those it
  /// lost wait in memory (`unlogged`), the oldest dropped and counted past `unloggedLimit`.
  func settle(through seq: UInt64, lost: [ClosedRange<UInt64>]) {
    lostSeqs += lost
    while let first = unsettled.first, first.seq <= seq {
      _ = unsettled.popFirst()
      guard lostSeqs.contains(where: { $0.contains(first.seq) }) else { continue }
      unlogged.append(first)
      while unlogged.count > unloggedLimit, unlogged.popFirst() != nil {
        droppedUnlogged += 1
        spilledEvents = max(0, spilledEvents - 1)
      }
    }
    lostSeqs.removeAll { $0.upperBound <= seq }
    if lostSeqs.count > 4096 { lostSeqs = [lostSeqs[0].lowerBound...lostSeqs[lostSeqs.count - 1].upperBound] }
  }

  /// Announces logged events `fromSeq...toSeq` that were never delivered (found at start-up),
  /// `events` of them with messages: they are read back from the log by `refill`.
  func resume(fromSeq: UInt64, toSeq: UInt64, events: Int) {
    guard fromSeq <= toSeq, events > 0 else { return }
    if spilledFrom == nil { spilledFrom = fromSeq }
    spilledEvents += events
    newestSeq = max(newestSeq, toSeq)
  }

  /// Takes events read back from the log, oldest first, from `spilledFrom` on. `lastRead`
  /// is the newest seq the log was read up to when the batch ends there (nil when the batch
  /// stopped at `refillLimit`): reaching the newest enqueued seq ends the spill.
  /// Events the log lost wait in memory (`unlogged`) and join them in seq order.
  func refill(_ events: [(seq: UInt64, messages: [MQTTMessage])], readUpTo lastRead: UInt64?) {
    guard var next = spilledFrom else { return }
    /// Takes the unlogged events before `bound`, in order.
    func takeUnlogged(before bound: UInt64) {
      while let first = unlogged.first, first.seq < bound {
        _ = unlogged.popFirst()
        guard first.seq >= next else { continue }  // read back from the log already
        spilledEvents = max(0, spilledEvents - 1)
        waiting.append(first)
        next = first.seq + 1
      }
    }
    for (seq, messages) in events where seq >= next {
      takeUnlogged(before: seq)
      next = seq + 1
      if messages.isEmpty {
        if inFlight.count + waiting.count == 0 { deliveredSeq = max(deliveredSeq, seq) }
      } else {
        spilledEvents = max(0, spilledEvents - 1)
        waiting.append(Delivery(seq: seq, messages: messages))
      }
    }
    if let lastRead {
      takeUnlogged(before: lastRead + 1)
      if lastRead >= next { next = lastRead + 1 }
    }
    if next > newestSeq {
      // Counted as waiting, found neither in the log nor in memory: the ring dropped them.
      droppedNotInLog += UInt64(spilledEvents)
      spilledFrom = nil
      spilledEvents = 0
    } else {
      spilledFrom = next
    }
  }

  /// While connected: hands deliveries to the client while fewer than `window` await
  /// acknowledgement. While not: keeps at most `capacity` undelivered events, dropping the
  /// oldest that libmosquitto does not hold.
  func pump(_ client: (any MessagePublisher)?) {
    guard let client else { return }
    guard client.isConnected else {
      dropPastCapacity()
      return
    }
    while inFlight.count < window, var delivery = waiting.popFirst() {
      for message in delivery.messages {
        do {
          let id = try client.publish(message)
          if message.qos > 0 {
            delivery.awaiting.insert(id)
            owners[id] = (delivery.seq, message.topic)
          }
        } catch {
          noteRefusal(Refusal(seq: delivery.seq, topic: message.topic, reason: "\(error)"))
        }
      }
      delivery.handedOver = true
      inFlight.append(delivery)
    }
    popCompleted()
  }

  /// Drops the oldest events in memory while more than `capacity` wait. Events that wait in
  /// the log only are older than none of those in memory; if memory is empty they are read
  /// back first (`refill`), so for a moment more than `capacity` may wait, on disk.
  private func dropPastCapacity() {
    while depth > capacity, let oldest = waiting.popFirst() {
      dropped += 1
      // With nothing in flight, every event up to a dropped one is delivered or dropped.
      if inFlight.count == 0 { deliveredSeq = max(deliveredSeq, oldest.seq) }
    }
  }

  /// The broker acknowledged the message `id` (from `MQTTClient`'s `onAcknowledged`).
  func acknowledge(_ id: Int32) {
    guard let (seq, _) = owners.removeValue(forKey: id) else { return }
    inFlight.update(where: { $0.seq == seq }, { $0.awaiting.remove(id) })
    popCompleted()
  }

  /// The client refused the message `id` after accepting it (`MQTTClient`'s `onRefused`): it
  /// will never be acknowledged; it is counted and reported like a refusal at hand-over.
  func refuse(_ id: Int32, reason: String) {
    guard let (seq, topic) = owners.removeValue(forKey: id) else { return }
    noteRefusal(Refusal(seq: seq, topic: topic, reason: reason))
    inFlight.update(where: { $0.seq == seq }, { $0.awaiting.remove(id) })
    popCompleted()
  }

  /// The refusals since the last call, oldest first.
  func takeRefusals() -> [Refusal] {
    defer { refusals.removeAll(keepingCapacity: true) }
    return refusals
  }

  private func noteRefusal(_ refusal: Refusal) {
    refused += 1
    if refusals.count < Self.maximumPendingRefusals { refusals.append(refusal) }
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

/// Collects acknowledgements (and late refusals) from libmosquitto's thread for the pipeline
/// thread. Bounded by the messages in flight (the outbox window plus a few state
/// republishes), never dropped.
final class AcknowledgementBox: Sendable {
  private let pending = Mutex<(acknowledged: [Int32], refused: [(id: Int32, reason: String)])>(([], []))

  func add(_ id: Int32) { pending.withLock { $0.acknowledged.append(id) } }

  /// The client refused a message it had accepted (`MQTTClient`'s `onRefused`).
  func addRefused(_ id: Int32, reason: String) { pending.withLock { $0.refused.append((id, reason)) } }

  func take() -> [Int32] { takeAll().acknowledged }

  func takeAll() -> (acknowledged: [Int32], refused: [(id: Int32, reason: String)]) {
    pending.withLock { pending in
      defer {
        pending.acknowledged.removeAll(keepingCapacity: true)
        pending.refused.removeAll(keepingCapacity: true)
      }
      return pending
    }
  }
}
