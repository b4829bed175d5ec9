import GanglionCore
import Glibc

/// A wall clock reading CLOCK_REALTIME, for the tests that need real time to pass.
struct SystemTestClock: WallClock {
  func now() -> Timestamp {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Timestamp(microseconds: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000)
  }

  func utcOffsetSeconds(at instant: Timestamp) -> Int { 0 }
}

/// Polls `condition` every millisecond until it holds or `seconds` pass; returns whether it held.
func waitUntil(seconds: Int, _ condition: () -> Bool) -> Bool {
  let deadline = SystemTestClock().now() + .seconds(seconds)
  while SystemTestClock().now() < deadline {
    if condition() { return true }
    usleep(1000)
  }
  return condition()
}
