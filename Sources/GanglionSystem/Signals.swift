import Glibc

/// SIGTERM, SIGINT and SIGHUP taken by one dedicated thread with `sigwait`, so no signal
/// handler ever runs in the middle of the daemon's work.
public enum SignalTrap {
  public enum Signal: Sendable { case terminate, reload }

  private static func terminationSet() -> sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGHUP)
    return set
  }

  /// Blocks the three signals in the calling thread and every thread it creates afterwards.
  /// Call first thing in `main`, before any thread starts.
  public static func blockTerminationSignals() {
    var set = terminationSet()
    pthread_sigmask(SIG_BLOCK, &set, nil)
  }

  /// Starts a thread that waits for the blocked signals and reports each one to `handler`
  /// (on that thread).
  /// - Throws: `SystemError` when the thread cannot be started.
  public static func startListening(_ handler: @escaping @Sendable (Signal) -> Void) throws(SystemError) {
    try PosixThread.detached(name: "signal listener") {
      var set = terminationSet()
      while true {
        var received: Int32 = 0
        guard sigwait(&set, &received) == 0 else { continue }
        handler(received == SIGHUP ? .reload : .terminate)
      }
    }
  }
}
