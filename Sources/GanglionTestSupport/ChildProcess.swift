import GanglionSystem
import Synchronization

/// A child process started with `posix_spawn` (`ProcessSpawner`), for tests (brokers, the
/// daemon binary).
///
/// The child starts with an empty signal mask and default signal dispositions, so `SIGTERM`
/// stops it even when the spawning thread blocks signals (Foundation's `Process` does not
/// do this: swift-corelibs-foundation #4772). Its standard input is `/dev/null`.
///
/// Thread safety: all members may be used from any thread. The child is reaped exactly once.
/// Dropping the last reference to a still-running child kills it with `SIGKILL` and reaps it,
/// so a failed test never leaves a process behind.
public final class ChildProcess: Sendable {
  public typealias ExitStatus = ProcessSpawner.ExitStatus
  public typealias Output = ProcessSpawner.Output

  public let pid: Int32
  /// The command line, for messages.
  public let commandLine: String
  private let exitStatus = Mutex<ExitStatus?>(nil)

  /// Starts `executable` (a path, or a name looked up in `PATH`) with `arguments`, the test
  /// process's environment plus `environment`, and, besides the standard streams, only the
  /// descriptors in `descriptors` (child descriptor -> the test process's descriptor).
  /// Throws `TestSupportError` when the process cannot be started (not found, output file
  /// not writable).
  public init(
    executable: String, arguments: [String] = [], environment: [String: String] = [:],
    descriptors: [Int32: Int32] = [:], stdout: Output = .discard, stderr: Output = .discard
  ) throws(TestSupportError) {
    commandLine = ([executable] + arguments).joined(separator: " ")

    do {
      pid = try ProcessSpawner.spawn(
        executable, arguments: arguments, environment: environment, descriptors: descriptors, stdout: stdout,
        stderr: stderr)
    } catch {
      throw TestSupportError("cannot start \(commandLine): \(error.text)")
    }
  }

  /// Runs `executable` to completion and returns its output (stdout and stderr together).
  /// Throws `TestSupportError` with the output if it can't start, exits non-zero, or runs longer
  /// than `timeout` (then it is killed).
  @discardableResult
  public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(30))
    async throws(TestSupportError) -> String
  {
    let directory = try TemporaryDirectory(prefix: "ganglion-run")
    let outputPath = directory.path("output")
    let child = try ChildProcess(
      executable: executable, arguments: arguments, stdout: .file(outputPath), stderr: .file(outputPath))
    let status = await child.waitForExit(timeout: timeout)
    let output = readTextFile(outputPath) ?? ""
    guard let status else {
      child.kill()
      throw TestSupportError("\(child.commandLine) still running after \(timeout):\n\(output)")
    }
    guard status == .exited(code: 0) else { throw TestSupportError("\(child.commandLine) \(status):\n\(output)") }
    return output
  }

  deinit {
    if isRunning {
      try? ProcessSignal.kill.send(to: pid)
      reap(blocking: true)
    }
  }

  /// True until the child has exited (reaps it when it has).
  public var isRunning: Bool { reap(blocking: false) == nil }

  /// The exit status, once the child has exited; nil while it runs.
  public var status: ExitStatus? { reap(blocking: false) }

  /// Sends `signal` to the child if it still runs.
  public func send(signal: ProcessSignal) {
    exitStatus.withLock { status in
      if status == nil { try? signal.send(to: pid) }
    }
  }

  /// Kills the child with `SIGKILL` and reaps it; returns at once if it already exited.
  @discardableResult
  public func kill() -> ExitStatus {
    send(signal: .kill)
    return reap(blocking: true)!
  }

  /// Waits up to `timeout` for the child to exit. Returns nil if it still runs.
  /// Polls without blocking a thread of the cooperative pool.
  public func waitForExit(timeout: Duration) async -> ExitStatus? {
    let deadline = ContinuousClock.now + timeout
    while true {
      if let status = reap(blocking: false) { return status }
      if ContinuousClock.now >= deadline { return nil }
      try? await Task.sleep(for: .milliseconds(2))
    }
  }

  /// Sends `SIGTERM`; if the child has not exited after `gracePeriod`, kills it with `SIGKILL`.
  /// Returns how it ended.
  @discardableResult
  public func terminate(gracePeriod: Duration = .seconds(5)) async -> ExitStatus {
    send(signal: .terminate)
    if let status = await waitForExit(timeout: gracePeriod) { return status }
    return kill()
  }

  /// Reaps the child if it has exited (or, with `blocking`, once it exits); returns its status.
  @discardableResult
  private func reap(blocking: Bool) -> ExitStatus? {
    exitStatus.withLock { status in
      if let status { return status }
      status = ProcessSpawner.reap(pid, blocking: blocking)
      return status
    }
  }
}
