import GanglionCore
import GanglionSystem

/// systemd's notify protocol (`READY=1`, `WATCHDOG=1`, `STOPPING=1`) over the datagram
/// socket in `$NOTIFY_SOCKET`. Without systemd it does nothing. Each send is non-blocking.
public struct SystemdNotifier: Sendable {
  private let socketPath: String?

  public init() {
    socketPath = CurrentProcess.environment("NOTIFY_SOCKET")
  }

  public var isActive: Bool { socketPath != nil }

  /// Sends `state` (e.g. "READY=1"). Failures are ignored: notification is best effort.
  public func notify(_ state: String) {
    guard let path = socketPath else { return }
    try? Socket.sendDatagram(state, toUnixSocket: path)
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
    if notifier.isActive, let text = CurrentProcess.environment("WATCHDOG_USEC"), let usec = Int64(text), usec > 0 {
      interval = usec / 2
    } else {
      interval = nil
    }
  }

  /// When the pipeline must wake up at the latest to ping in time (monotonic µs).
  func nextPingDue(now: Int64) -> Int64 {
    guard let interval else { return Int64.max }
    return lastPing + interval
  }

  /// Called after each pass of the pipeline loop, with the monotonic time.
  func progress(now: Int64) {
    guard let interval, now - lastPing >= interval else { return }
    notifier.notify("WATCHDOG=1")
    lastPing = now
  }
}
