/// A bounded multi-producer, single-consumer queue with blocking waits for the consumer
/// thread. Producers never block: when the queue is full, `offer` refuses and the caller
/// counts the drop (a GPIO or MQTT thread must never stall behind a slow consumer).
///
/// Thread safety: every method may be called from any thread.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
  private let mutex = PosixMutex()
  private var items: [Element?]
  private var head = 0
  private var count = 0
  private var closed = false
  /// Set by `wake()` until a wait returns: a wake that comes just before the consumer waits
  /// is not lost.
  private var wakePending = false
  public let capacity: Int

  public init(capacity: Int) {
    precondition(capacity > 0)
    self.capacity = capacity
    items = Array(repeating: nil, count: capacity)
  }

  /// Adds `element` unless the queue is full or closed. Returns false when it was refused.
  @discardableResult
  public func offer(_ element: Element) -> Bool {
    mutex.withLock {
      guard !closed, count < capacity else { return false }
      items[(head + count) % capacity] = element
      count += 1
      mutex.signal()
      return true
    }
  }

  /// Wakes the consumer without adding anything (a new timer deadline, shutdown). A consumer
  /// that is not waiting yet returns from its next wait at once.
  public func wake() {
    mutex.withLock {
      wakePending = true
      mutex.signal()
    }
  }

  /// Refuses further offers and wakes the consumer; `take` drains what is left, then
  /// returns `.closed`.
  public func close() {
    mutex.withLock {
      closed = true
      mutex.broadcast()
    }
  }

  public enum Outcome {
    case element(Element)
    case timedOut
    case closed
  }

  /// Blocks the calling thread until an element arrives, the monotonic deadline (in
  /// microseconds, see `SystemMonotonicClock`) passes, or the queue is closed and empty.
  /// A `wake()` returns `.timedOut` early.
  public func take(until deadlineMicroseconds: Int64?) -> Outcome {
    mutex.withLock {
      waitLocked(until: deadlineMicroseconds)
      guard count > 0 else { return closed ? .closed : .timedOut }
      return .element(popLocked())
    }
  }

  public enum Readiness: Equatable {
    case ready
    case timedOut
    case closed
  }

  /// Like `take`, but leaves the element in the queue: `.ready` when one is there (for a
  /// consumer that takes it with `poll()` once it holds its own lock).
  public func wait(until deadlineMicroseconds: Int64?) -> Readiness {
    mutex.withLock {
      waitLocked(until: deadlineMicroseconds)
      if count > 0 { return .ready }
      return closed ? .closed : .timedOut
    }
  }

  /// The oldest element, or nil when the queue is empty. Never blocks.
  public func poll() -> Element? {
    mutex.withLock { count > 0 ? popLocked() : nil }
  }

  public var isEmpty: Bool { depth == 0 }

  /// True once `close()` was called.
  public var isClosed: Bool { mutex.withLock { closed } }

  public var depth: Int { mutex.withLock { count } }

  private func waitLocked(until deadlineMicroseconds: Int64?) {
    if count == 0 && !closed && !wakePending { mutex.wait(untilMonotonic: deadlineMicroseconds) }
    wakePending = false
  }

  private func popLocked() -> Element {
    let element = items[head]!
    items[head] = nil
    head = (head + 1) % capacity
    count -= 1
    return element
  }
}
