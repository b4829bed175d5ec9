import Glibc

/// A dedicated OS thread (never Swift's cooperative pool), for loops that block in C calls
/// (`poll`, `mosquitto_loop`, condition waits). The one place in the project that creates
/// threads.
///
/// Thread safety: every member may be used from any thread. Either `join` or `detach` a
/// thread exactly once.
public final class PosixThread: Sendable {
  /// Why a thread could not be started: the `pthread_create` error code (EAGAIN, ...).
  public struct StartError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public var description: String { "cannot start a thread: \(String(cString: strerror(code))) (errno \(code))" }
  }

  private let handle: pthread_t

  private final class Start {
    let body: @Sendable () -> Void
    init(body: @escaping @Sendable () -> Void) { self.body = body }
  }

  /// Starts `body` on a new thread. Throws `StartError` when the system refuses a thread.
  public init(body: @escaping @Sendable () -> Void) throws(StartError) {
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
      throw StartError(code: result)
    }
    handle = thread
  }

  /// Starts `body` on a thread nobody waits for (it ends when `body` returns).
  public static func detached(_ body: @escaping @Sendable () -> Void) throws(StartError) {
    try PosixThread(body: body).detach()
  }

  /// True when called on this thread.
  public var isCurrent: Bool { pthread_equal(pthread_self(), handle) != 0 }

  /// Waits for the thread to end. Must not be called on the thread itself (use `detach`).
  public func join() {
    let result = pthread_join(handle, nil)
    precondition(result == 0, "pthread_join: errno \(result)")
  }

  /// Lets the thread end on its own.
  public func detach() {
    let result = pthread_detach(handle)
    precondition(result == 0, "pthread_detach: errno \(result)")
  }
}
