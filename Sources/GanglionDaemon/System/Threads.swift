import GanglionCore
import Glibc
import Synchronization

/// Starts `body` on a new detached POSIX thread, for blocking work that must stay off
/// Swift's cooperative pool (accept(), poll(), condition waits). `name` is for messages.
/// Returns 0, or the `pthread_create` error code when no thread could be started.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) -> Int32 {
  do {
    try PosixThread.detached(body)
    return 0
  } catch {
    return error.code
  }
}

/// A bounded multi-producer, single-consumer queue with blocking waits for the consumer
/// thread. Producers never block: when the queue is full, `offer` refuses and the caller
/// counts the drop (a GPIO or MQTT thread must never stall behind a slow consumer).
///
/// Thread safety: every method may be called from any thread.
public final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
  private var mutex = pthread_mutex_t()
  private var condition = pthread_cond_t()
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
    pthread_mutex_init(&mutex, nil)
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(&condition, &attributes)
    pthread_condattr_destroy(&attributes)
  }

  deinit {
    pthread_cond_destroy(&condition)
    pthread_mutex_destroy(&mutex)
  }

  /// Adds `element` unless the queue is full or closed. Returns false when it was refused.
  @discardableResult
  public func offer(_ element: Element) -> Bool {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    guard !closed, count < capacity else { return false }
    items[(head + count) % capacity] = element
    count += 1
    pthread_cond_signal(&condition)
    return true
  }

  /// Wakes the consumer without adding anything (a new timer deadline, shutdown). A consumer
  /// that is not waiting yet returns from its next wait at once.
  public func wake() {
    pthread_mutex_lock(&mutex)
    wakePending = true
    pthread_cond_signal(&condition)
    pthread_mutex_unlock(&mutex)
  }

  /// Refuses further offers and wakes the consumer; `take` drains what is left, then
  /// returns `.closed`.
  public func close() {
    pthread_mutex_lock(&mutex)
    closed = true
    pthread_cond_broadcast(&condition)
    pthread_mutex_unlock(&mutex)
  }

  public enum Outcome {
    case element(Element)
    case timedOut
    case closed
  }

  /// Blocks the calling thread until an element arrives, the monotonic deadline (in
  /// microseconds, see `MonotonicClock`) passes, or the queue is closed and empty.
  /// A `wake()` returns `.timedOut` early.
  public func take(until deadlineMicroseconds: Int64?) -> Outcome {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    waitLocked(until: deadlineMicroseconds)
    guard count > 0 else { return closed ? .closed : .timedOut }
    return .element(popLocked())
  }

  public enum Readiness: Equatable {
    case ready
    case timedOut
    case closed
  }

  /// Like `take`, but leaves the element in the queue: `.ready` when one is there (for a
  /// consumer that takes it with `poll()` once it holds its own lock).
  public func wait(until deadlineMicroseconds: Int64?) -> Readiness {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    waitLocked(until: deadlineMicroseconds)
    if count > 0 { return .ready }
    return closed ? .closed : .timedOut
  }

  /// The oldest element, or nil when the queue is empty. Never blocks.
  public func poll() -> Element? {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    return count > 0 ? popLocked() : nil
  }

  public var isEmpty: Bool { depth == 0 }

  private func waitLocked(until deadlineMicroseconds: Int64?) {
    if count == 0 && !closed && !wakePending {
      if let deadline = deadlineMicroseconds {
        var spec = timespec(tv_sec: Int(deadline / 1_000_000), tv_nsec: Int(deadline % 1_000_000) * 1000)
        pthread_cond_timedwait(&condition, &mutex, &spec)
      } else {
        pthread_cond_wait(&condition, &mutex)
      }
    }
    wakePending = false
  }

  private func popLocked() -> Element {
    let element = items[head]!
    items[head] = nil
    head = (head + 1) % capacity
    count -= 1
    return element
  }

  public var depth: Int {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    return count
  }
}

/// A plain mutex with `tryLock`: one piece of work is done by whichever thread gets it first.
/// Not recursive. Thread safety: every method may be called from any thread.
public final class WorkLock: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>

  public init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Blocks until the lock is held.
  public func lock() { pthread_mutex_lock(mutex) }

  /// Takes the lock if it is free; false (at once) if another thread holds it.
  public func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

  public func unlock() { pthread_mutex_unlock(mutex) }
}

/// CLOCK_MONOTONIC in microseconds: for deadlines that must not jump with the wall clock.
public enum MonotonicClock {
  public static func nowMicroseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
  }
}
