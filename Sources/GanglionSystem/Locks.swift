import Glibc

/// A POSIX mutex (and the condition variable that goes with it) in allocated memory: a
/// pthread object must not move, and the address of a Swift stored property is not
/// guaranteed stable, so every pthread mutex of the project lives here.
///
/// Not recursive. Thread safety: every method may be called from any thread.
public final class PosixMutex: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let condition: UnsafeMutablePointer<pthread_cond_t>

  public init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
    condition = .allocate(capacity: 1)
    condition.initialize(to: pthread_cond_t())
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    // Deadlines are on CLOCK_MONOTONIC: a wall clock set back must not stretch a wait.
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(condition, &attributes)
    pthread_condattr_destroy(&attributes)
  }

  deinit {
    pthread_cond_destroy(condition)
    condition.deallocate()
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Blocks until the lock is held.
  public func lock() { pthread_mutex_lock(mutex) }

  /// Takes the lock if it is free; false (at once) if another thread holds it.
  public func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

  public func unlock() { pthread_mutex_unlock(mutex) }

  public func withLock<T>(_ body: () throws -> T) rethrows -> T {
    lock()
    defer { unlock() }
    return try body()
  }

  /// With the lock held: releases it, waits for `signal`/`broadcast` or the monotonic
  /// deadline (microseconds, see `SystemMonotonicClock`; nil waits without limit), and holds
  /// it again. May return early (spurious wake-ups): callers loop on their condition.
  public func wait(untilMonotonic deadline: Int64?) {
    if let deadline {
      var spec = timespec(tv_sec: Int(deadline / 1_000_000), tv_nsec: Int(deadline % 1_000_000) * 1000)
      pthread_cond_timedwait(condition, mutex, &spec)
    } else {
      pthread_cond_wait(condition, mutex)
    }
  }

  /// Wakes one waiter. Call with the lock held.
  public func signal() { pthread_cond_signal(condition) }

  /// Wakes every waiter. Call with the lock held.
  public func broadcast() { pthread_cond_broadcast(condition) }
}

/// A plain mutex with `tryLock`: one piece of work is done by whichever thread gets it first.
public typealias WorkLock = PosixMutex
