/// Where time comes from. The engine never reads the system clock: the daemon gives it a
/// `SystemClock`, tests, `ganglion test` and `replay` give it a `ManualClock`.
///
/// Thread safety: implementations must be safe to call from any thread.
public protocol WallClock: Sendable {
  /// The current wall-clock time.
  func now() -> Timestamp
  /// The zone local time follows (`time`, `weekday`, `at`). Clocks that do not say are UTC.
  var timeZone: any TimeZoneRules { get }
}

extension WallClock {
  public var timeZone: any TimeZoneRules { FixedOffsetZone.utc }

  /// Seconds east of UTC of local time at `instant`.
  public func utcOffsetSeconds(at instant: Timestamp) -> Int { timeZone.utcOffset(atUTC: instant.seconds) }

  /// Minutes since local midnight, and the local weekday (0 = Monday).
  public func localTimeOfDay(at instant: Timestamp) -> (minuteOfDay: Int, secondOfDay: Int, weekday: Int) {
    let (day, second) = timeZone.localTime(atUTC: instant.seconds)
    return (second / 60, second, CivilDate.weekday(days: day))
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

/// A clock that only moves when told to, in a zone it is given (UTC by default). As a
/// `MonotonicClock` it reads its wall time in microseconds (so `set` must not go back).
public final class ManualClock: WallClock, MonotonicClock, @unchecked Sendable {
  private let lock = Lock()
  private var current: Timestamp
  public let timeZone: any TimeZoneRules

  public init(start: Timestamp = Timestamp(seconds: 1_767_225_600), timeZone: any TimeZoneRules = FixedOffsetZone.utc) {
    current = start
    self.timeZone = timeZone
  }

  /// A clock whose zone is a fixed offset, `utcOffsetSeconds` east of UTC (within 26 hours).
  public convenience init(start: Timestamp = Timestamp(seconds: 1_767_225_600), utcOffsetSeconds: Int) {
    self.init(start: start, timeZone: FixedOffsetZone(offsetSeconds: utcOffsetSeconds))
  }

  public func now() -> Timestamp { lock.withLock { current } }

  public func nowMicroseconds() -> Int64 { now().microseconds }

  public func advance(by duration: Duration) { lock.withLock { current = current + duration } }

  public func set(_ instant: Timestamp) { lock.withLock { current = instant } }
}
