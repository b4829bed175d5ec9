/// The exit codes of every `ganglion` command and of the daemon (cli.md), in one place.
public enum GanglionExitCode: Int32, Sendable, CaseIterable {
  case success = 0
  /// A check or a test failed.
  case failedCheck = 1
  /// Bad usage or a configuration that cannot be used.
  case badUsageOrConfig = 2
  /// A runtime failure (the log, the hardware, a system resource); systemd restarts the daemon.
  case runtimeFailure = 3
}
