/// Converts the kernel's GPIO event timestamps. The v1 character device stamps events with
/// CLOCK_REALTIME before Linux 5.7 and with CLOCK_MONOTONIC since, and libgpiod 1.6 passes
/// the value through without saying which. The two are decades apart on any running system
/// (uptime against time since 1970), so the nearer clock "now" is the one used.
enum KernelEventTime {
  /// The event's instant on CLOCK_MONOTONIC, in microseconds, given both clocks read just
  /// after the event was read. Never later than `monotonicNow` (a realtime stamp can look
  /// like the future after the wall clock was stepped back).
  static func monotonic(kernelMicroseconds event: Int64, monotonicNow: Int64, realtimeNow: Int64) -> Int64 {
    let fromMonotonic = (monotonicNow - event).magnitude
    let fromRealtime = (realtimeNow - event).magnitude
    let instant = fromMonotonic <= fromRealtime ? event : event - (realtimeNow - monotonicNow)
    return min(instant, monotonicNow)
  }

  /// A CLOCK_MONOTONIC instant as wall-clock microseconds since the epoch, using the offset
  /// between the two clocks now.
  static func wallClock(monotonicMicroseconds instant: Int64, monotonicNow: Int64, realtimeNow: Int64) -> Int64 {
    instant + (realtimeNow - monotonicNow)
  }
}
