/// Where time comes from. The engine never reads the system clock: the daemon gives it a
/// `SystemClock`, tests, `ganglion test` and `replay` give it a `ManualClock`.
///
/// Thread safety: implementations must be safe to call from any thread.
public protocol WallClock: Sendable {
  /// The current wall-clock time.
  func now() -> Timestamp
  /// Seconds east of UTC of local time at `instant` (for `time`, `weekday`, `at`).
  func utcOffsetSeconds(at instant: Timestamp) -> Int
}

extension WallClock {
  /// Minutes since local midnight, and the local weekday (0 = Monday).
  public func localTimeOfDay(at instant: Timestamp) -> (minuteOfDay: Int, secondOfDay: Int, weekday: Int) {
    let local = instant.microseconds / 1_000_000 + Int64(utcOffsetSeconds(at: instant))
    let (days, seconds) = local.floorDivided(by: 86_400)
    return (Int(seconds / 60), Int(seconds), CivilDate.weekday(days: days))
  }
}

/// Elapsed time that never jumps (CLOCK_MONOTONIC in the daemon), for deadlines, intervals
/// and rate limits. The daemon gives its parts `SystemMonotonicClock`; tests give them a
/// `ManualClock`, whose monotonic time moves with its wall time.
///
/// Thread safety: implementations must be safe to call from any thread.
public protocol MonotonicClock: Sendable {
  /// Microseconds since an arbitrary fixed point; never decreases.
  func nowMicroseconds() -> Int64
}

/// A clock that only moves when told to; its zone is a fixed UTC offset. As a
/// `MonotonicClock` it reads its wall time in microseconds (so `set` must not go back).
public final class ManualClock: WallClock, MonotonicClock, @unchecked Sendable {
  private let lock = Lock()
  private var current: Timestamp
  private let offset: Int

  public init(start: Timestamp = Timestamp(seconds: 1_767_225_600), utcOffsetSeconds: Int = 0) {
    current = start
    offset = utcOffsetSeconds
  }

  public func now() -> Timestamp { lock.withLock { current } }

  public func nowMicroseconds() -> Int64 { now().microseconds }

  public func utcOffsetSeconds(at instant: Timestamp) -> Int { offset }

  public func advance(by duration: Duration) { lock.withLock { current = current + duration } }

  public func set(_ instant: Timestamp) { lock.withLock { current = instant } }
}
