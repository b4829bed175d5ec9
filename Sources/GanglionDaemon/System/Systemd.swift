import Glibc

/// systemd's notify protocol (`READY=1`, `WATCHDOG=1`, `STOPPING=1`) over the datagram
/// socket in `$NOTIFY_SOCKET`. Without systemd it does nothing. The only code that talks to
/// that socket; each send is non-blocking.
public struct SystemdNotifier: Sendable {
  private let socketPath: String?

  public init() {
    socketPath = FileSystem.environment("NOTIFY_SOCKET")
  }

  public var isActive: Bool { socketPath != nil }

  /// Sends `state` (e.g. "READY=1"). Failures are ignored: notification is best effort.
  public func notify(_ state: String) {
    guard let path = socketPath else { return }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (index, byte) in bytes.enumerated() { raw[index] = byte }
    }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    _ = state.withCString { text in
      withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL | MSG_DONTWAIT), $0, length)
        }
      }
    }
  }
}

/// Pings systemd's watchdog only when the pipeline made progress: a wedged pipeline stops
/// the pings and systemd restarts the daemon. Used from the pipeline thread only.
final class Watchdog: @unchecked Sendable {
  private let notifier: SystemdNotifier
  /// Half of `$WATCHDOG_USEC`, or nil when systemd asked for no watchdog.
  private let interval: Int64?
  private var lastPing: Int64 = 0

  init(notifier: SystemdNotifier) {
    self.notifier = notifier
    if notifier.isActive, let text = FileSystem.environment("WATCHDOG_USEC"), let usec = Int64(text), usec > 0 {
      interval = usec / 2
    } else {
      interval = nil
    }
  }

  /// When the pipeline must wake up at the latest to ping in time.
  func nextPingDue(now: Int64) -> Int64 {
    guard let interval else { return Int64.max }
    return lastPing + interval
  }

  /// Called after each pass of the pipeline loop.
  func progress(now: Int64) {
    guard let interval, now - lastPing >= interval else { return }
    notifier.notify("WATCHDOG=1")
    lastPing = now
  }
}

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and every thread it creates
/// afterwards, so that one dedicated thread can take them with `sigwait`. Call first thing.
public enum SignalTrap {
  public enum Signal: Sendable { case terminate, reload }

  public static func blockTerminationSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGHUP)
    pthread_sigmask(SIG_BLOCK, &set, nil)
  }

  /// Starts a thread that waits for the blocked signals and reports each one.
  public static func startListening(_ handler: @escaping @Sendable (Signal) -> Void) {
    _ = startThread(name: "ganglion-signals") {
      var set = sigset_t()
      sigemptyset(&set)
      sigaddset(&set, SIGTERM)
      sigaddset(&set, SIGINT)
      sigaddset(&set, SIGHUP)
      while true {
        var received: Int32 = 0
        guard sigwait(&set, &received) == 0 else { continue }
        handler(received == SIGHUP ? .reload : .terminate)
      }
    }
  }
}
