import Synchronization

/// A lock for short critical sections, built on the standard library's `Mutex`.
/// Use it where a value type can't hold a `Mutex` directly (a class with several fields).
public final class Lock: Sendable {
  private let mutex = Mutex<Void>(())

  public init() {}

  public func withLock<T>(_ body: () throws -> T) rethrows -> T {
    try mutex.withLock { _ in try body() }
  }
}
