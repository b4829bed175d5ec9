import GanglionCore
import Glibc

/// The real wall clock and the local time zone (`/etc/localtime`, `TZ`), for the daemon.
/// Thread-safe.
public struct SystemClock: WallClock {
  public init() {}

  public func now() -> Timestamp {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Timestamp(microseconds: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000)
  }

  public func utcOffsetSeconds(at instant: Timestamp) -> Int {
    var seconds = time_t(instant.microseconds / 1_000_000)
    var local = tm()
    guard localtime_r(&seconds, &local) != nil else { return 0 }
    return local.tm_gmtoff
  }
}
