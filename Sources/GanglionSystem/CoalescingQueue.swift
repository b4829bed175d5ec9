/// A bounded multi-producer, single-consumer queue in which an element offered while the
/// queue is full may wait in a slot of its own, one per key, where a later element with the
/// same key replaces it: under overload the newest reading of each signal is kept instead of
/// being dropped. At most `capacity` queued elements plus one per key wait.
///
/// Order: an element waiting in a key's slot is taken at the place in the queue where the
/// first of those it replaced would have been, so an element offered later (queued once there
/// is room again) is never taken before it.
///
/// Producers never block. Thread safety: every method may be called from any thread.
public final class CoalescingQueue<Key: Hashable & Sendable, Element: Sendable>: @unchecked Sendable {
  private let mutex = PosixMutex()
  private var items: [Element?]
  private var head = 0
  private var count = 0
  private var closed = false
  private var wakePending = false
  /// Elements taken from / accepted into the ring so far: positions in the queue's order.
  private var taken: UInt64 = 0
  private var accepted: UInt64 = 0
  /// Elements waiting in their key's slot, with the position they are taken at, in order.
  private var slots: [Key: (position: UInt64, element: Element)] = [:]
  private var slotOrder: [Key] = []
  private var slotHead = 0
  public let capacity: Int
  /// Keys that may wait in a slot at once; past it, such offers are refused.
  public let maximumSlots: Int

  public init(capacity: Int, maximumSlots: Int = 65_536) {
    precondition(capacity > 0)
    self.capacity = capacity
    self.maximumSlots = maximumSlots
    items = Array(repeating: nil, count: capacity)
  }

  /// Queues `element` unless the queue is full or closed. Returns false when it was refused.
  @discardableResult
  public func offer(_ element: Element) -> Bool {
    mutex.withLock { queueLocked(element) }
  }

  public enum Offered: Equatable {
    /// Queued, or waiting in its key's slot.
    case queued
    /// It took the place of an older element with the same key (which is gone).
    case replaced
    /// The queue is closed, or full and no slot could be had.
    case refused
  }

  /// Queues `element`; when the queue is full, keeps it in `key`'s slot instead, replacing
  /// the element waiting there.
  public func offer(_ element: Element, coalescingBy key: Key) -> Offered {
    mutex.withLock {
      if closed { return .refused }
      if queueLocked(element) { return .queued }
      if let waiting = slots[key] {
        slots[key] = (waiting.position, element)
        return .replaced
      }
      guard slots.count < maximumSlots else { return .refused }
      slots[key] = (accepted, element)
      slotOrder.append(key)
      mutex.signal()
      return .queued
    }
  }

  /// Wakes the consumer without adding anything. A consumer that is not waiting yet returns
  /// from its next wait at once.
  public func wake() {
    mutex.withLock {
      wakePending = true
      mutex.signal()
    }
  }

  /// Refuses further offers and wakes the consumer; what is queued can still be taken.
  public func close() {
    mutex.withLock {
      closed = true
      mutex.broadcast()
    }
  }

  /// Blocks until an element is there, the monotonic deadline (µs) passes, or the queue is
  /// closed and empty. `wake()` ends the wait early (`.timedOut`).
  public func wait(until deadlineMicroseconds: Int64?) -> BoundedQueue<Element>.Readiness {
    mutex.withLock {
      if totalLocked == 0 && !closed && !wakePending { mutex.wait(untilMonotonic: deadlineMicroseconds) }
      wakePending = false
      if totalLocked > 0 { return .ready }
      return closed ? .closed : .timedOut
    }
  }

  /// The next element in order, or nil when none waits. Never blocks.
  public func poll() -> Element? {
    mutex.withLock {
      if slotHead < slotOrder.count, let waiting = slots[slotOrder[slotHead]], waiting.position <= taken {
        slots[slotOrder[slotHead]] = nil
        slotHead += 1
        if slotHead == slotOrder.count {
          slotOrder.removeAll(keepingCapacity: true)
          slotHead = 0
        }
        return waiting.element
      }
      guard count > 0 else { return nil }
      let element = items[head]!
      items[head] = nil
      head = (head + 1) % capacity
      count -= 1
      taken += 1
      return element
    }
  }

  public var isEmpty: Bool { depth == 0 }

  /// Elements waiting, in the queue and in slots.
  public var depth: Int { mutex.withLock { totalLocked } }

  public var isClosed: Bool { mutex.withLock { closed } }

  private var totalLocked: Int { count + slots.count }

  private func queueLocked(_ element: Element) -> Bool {
    guard !closed, count < capacity else { return false }
    items[(head + count) % capacity] = element
    count += 1
    accepted += 1
    mutex.signal()
    return true
  }
}
