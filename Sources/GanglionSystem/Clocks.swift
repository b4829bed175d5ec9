import GanglionCore
import Glibc

/// CLOCK_MONOTONIC in microseconds: for deadlines, intervals and rate limits that must not
/// jump with the wall clock. The daemon's `MonotonicClock`. Thread-safe.
public struct SystemMonotonicClock: MonotonicClock {
  public init() {}

  public func nowMicroseconds() -> Int64 { Self.nowMicroseconds() }

  /// The same, without an instance. The corresponding C function is `clock_gettime`.
  public static func nowMicroseconds() -> Int64 { clockMicroseconds(CLOCK_MONOTONIC) }

  /// Nanoseconds, for measuring short work (benchmarks).
  public static func nowNanoseconds() -> UInt64 {
    var spec = timespec()
    _ = clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
  }
}

/// The real wall clock, in the zone the daemon runs in (the config's `timezone:`, else the
/// system's: `TimeZoneFiles.systemZone()`). Thread-safe.
public struct SystemClock: WallClock {
  public let timeZone: any TimeZoneRules

  /// - Parameter timeZone: UTC unless given (for callers that only read the time).
  public init(timeZone: any TimeZoneRules = FixedOffsetZone.utc) { self.timeZone = timeZone }

  public func now() -> Timestamp { Timestamp(microseconds: Self.realtimeMicroseconds()) }

  /// Microseconds since the epoch on CLOCK_REALTIME.
  public static func realtimeMicroseconds() -> Int64 { clockMicroseconds(CLOCK_REALTIME) }
}

private func clockMicroseconds(_ clock: clockid_t) -> Int64 {
  var spec = timespec()
  // clock_gettime cannot fail for these clocks with a valid pointer.
  let result = clock_gettime(clock, &spec)
  precondition(result == 0, "clock_gettime: \(SystemError.current())")
  return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
}
