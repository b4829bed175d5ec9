import Glibc
import Synchronization

/// A dedicated OS thread (never Swift's cooperative pool), for loops that block in C calls
/// (`poll`, `mosquitto_loop`, condition waits). The one place in the project that creates
/// threads.
///
/// Thread safety: every member may be used from any thread. Either `join` or `detach` a
/// thread exactly once.
public final class PosixThread: Sendable {
  private let handle: pthread_t

  private final class Start {
    let body: @Sendable () -> Void
    init(body: @escaping @Sendable () -> Void) { self.body = body }
  }

  /// Starts `body` on a new thread.
  /// - Parameter name: what the thread is for, named in the error.
  /// - Throws: `SystemError` (EAGAIN: too many threads; ENOMEM) when the system refuses.
  public init(name: String, body: @escaping @Sendable () -> Void) throws(SystemError) {
    let start = Unmanaged.passRetained(Start(body: body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(
      &thread, nil,
      { argument in
        let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
        start.body()
        return nil
      }, start)
    guard result == 0 else {
      Unmanaged<Start>.fromOpaque(start).release()
      throw SystemError(code: result, operation: "start a thread", subject: name)
    }
    handle = thread
  }

  /// Starts `body` on a thread nobody waits for (it ends when `body` returns).
  /// - Throws: `SystemError` when the system refuses a thread.
  public static func detached(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
    try PosixThread(name: name, body: body).detach()
  }

  /// True when called on this thread.
  public var isCurrent: Bool { pthread_equal(pthread_self(), handle) != 0 }

  /// Waits for the thread to end. Must not be called on the thread itself (use `detach`).
  public func join() {
    let result = pthread_join(handle, nil)
    precondition(result == 0, "pthread_join: \(errnoText(result))")
  }

  /// Lets the thread end on its own.
  public func detach() {
    let result = pthread_detach(handle)
    precondition(result == 0, "pthread_detach: \(errnoText(result))")
  }
}

/// A thread's identity, to recognize a thread later (e.g. "am I the network thread?").
public struct ThreadID: Sendable {
  private let thread: pthread_t

  public static var current: ThreadID { ThreadID(thread: pthread_self()) }

  public var isCurrent: Bool { pthread_equal(thread, pthread_self()) != 0 }
}

/// Blocks the calling thread for `duration` (resuming after signals). Never call it from
/// the cooperative pool.
public func sleepOnThisThread(_ duration: Duration) {
  let (seconds, attoseconds) = duration.components
  guard seconds > 0 || attoseconds > 0 else { return }
  var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
  var remaining = timespec()
  while nanosleep(&request, &remaining) == -1, errno == EINTR { request = remaining }
}

/// A dedicated thread with a wake pipe and a stop flag, for loops that `poll` descriptors:
/// the body polls `waker.readDescriptor` with its other descriptors and returns once
/// `isStopping` is true.
///
/// Thread safety: every member may be used from any thread.
public final class StoppableThread: Sendable {
  public let waker: WakePipe
  private let name: String
  private let stopRequested = Atomic<Bool>(false)
  private let thread = Mutex<PosixThread?>(nil)

  /// - Throws: `SystemError` when the wake pipe cannot be made.
  public init(name: String) throws(SystemError) {
    self.name = name
    waker = try WakePipe()
  }

  public var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

  /// Spawns the thread running `body`.
  /// - Throws: `SystemError` when the system refuses a thread.
  public func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
    let spawned = try PosixThread(name: name, body: body)
    thread.withLock { $0 = spawned }
  }

  /// Ends the thread: after this returns the body runs no more. Called from the body itself
  /// it cannot wait: the thread ends as soon as the body returns. Idempotent.
  public func stop() {
    guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
    waker.wake()
    // `start` stores the thread before it returns, so it is there (or start was never called).
    guard let spawned = thread.withLock({ $0 }) else { return }
    if spawned.isCurrent {
      spawned.detach()
    } else {
      spawned.join()
    }
  }
}
