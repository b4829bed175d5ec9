import Glibc
import Synchronization

/// A child process started with `posix_spawn`, for tests (brokers, the daemon binary).
///
/// The child starts with an empty signal mask and default signal dispositions, so `SIGTERM`
/// stops it even when the spawning thread blocks signals (Foundation's `Process` does not
/// do this: swift-corelibs-foundation #4772). Its standard input is `/dev/null`.
///
/// Thread safety: all members may be used from any thread. The child is reaped exactly once.
/// Dropping the last reference to a still-running child kills it with `SIGKILL` and reaps it,
/// so a failed test never leaves a process behind.
public final class ChildProcess: Sendable {
  /// How a child ended.
  public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)

    public var description: String {
      switch self {
      case .exited(let code): "exited with code \(code)"
      case .signaled(let signal): "killed by signal \(signal)"
      }
    }
  }

  /// Where a standard stream of the child goes.
  public enum Output: Sendable, Equatable {
    /// The test process's own stream.
    case inherit
    /// `/dev/null`.
    case discard
    /// A file, created or truncated. If stdout and stderr name the same file they share it.
    case file(String)
  }

  public let pid: pid_t
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

    var fileActions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&fileActions)
    defer { posix_spawn_file_actions_destroy(&fileActions) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }

    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    // Sockets the test process has open must not live on in the child: a broker holding a
    // copy of another test's client socket would keep that connection open. (libmosquitto
    // does not set close-on-exec; `addclosefrom_np` is not visible in Swift's Glibc.)
    let passed = Set(descriptors.values)
    for entry in directoryEntries("/proc/self/fd") ?? [] {
      if let fd = Int32(entry.name), fd > 2, !passed.contains(fd) {
        posix_spawn_file_actions_addclose(&fileActions, fd)
      }
    }
    for (childFD, parentFD) in descriptors { posix_spawn_file_actions_adddup2(&fileActions, parentFD, childFD) }
    for parentFD in passed where descriptors[parentFD] == nil {
      posix_spawn_file_actions_addclose(&fileActions, parentFD)
    }

    posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
    Self.redirect(1, to: stdout, actions: &fileActions)
    if stderr == stdout, case .file = stderr {
      posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
    } else {
      Self.redirect(2, to: stderr, actions: &fileActions)
    }
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    var inherited: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
      let variable = String(cString: pointer)
      let name = variable.prefix { $0 != "=" }
      if environment[String(name)] == nil { inherited.append(variable) }
      entry += 1
    }
    let envp: [UnsafeMutablePointer<CChar>?] =
      (inherited + environment.map { "\($0.key)=\($0.value)" }).map { strdup($0) } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var childPID: pid_t = 0
    let result = posix_spawnp(&childPID, executable, &fileActions, &attributes, argv, envp)
    guard result == 0 else {
      throw TestSupportError("cannot start \(commandLine): \(errnoText(result))")
    }
    pid = childPID
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

  private static func redirect(_ fd: Int32, to output: Output, actions: inout posix_spawn_file_actions_t) {
    switch output {
    case .inherit:
      break
    case .discard:
      posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
    case .file(let path):
      posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
    }
  }

  deinit {
    if isRunning {
      Glibc.kill(pid, SIGKILL)
      reap(blocking: true)
    }
  }

  /// True until the child has exited (reaps it when it has).
  public var isRunning: Bool { reap(blocking: false) == nil }

  /// The exit status, once the child has exited; nil while it runs.
  public var status: ExitStatus? { reap(blocking: false) }

  /// Sends `signal` to the child if it still runs.
  public func send(signal: Int32) {
    exitStatus.withLock { status in
      if status == nil { _ = Glibc.kill(pid, signal) }
    }
  }

  /// Kills the child with `SIGKILL` and reaps it; returns at once if it already exited.
  @discardableResult
  public func kill() -> ExitStatus {
    send(signal: SIGKILL)
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
    send(signal: SIGTERM)
    if let status = await waitForExit(timeout: gracePeriod) { return status }
    return kill()
  }

  /// Reaps the child if it has exited (or, with `blocking`, once it exits); returns its status.
  @discardableResult
  private func reap(blocking: Bool) -> ExitStatus? {
    exitStatus.withLock { status in
      if let status { return status }
      var raw: Int32 = 0
      while true {
        let result = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
        if result == pid { break }
        if result == -1, errno == EINTR { continue }
        if result == -1 {
          // Reaped elsewhere (should not happen); report it as gone rather than running forever.
          status = .exited(code: -1)
          return status
        }
        return nil
      }
      let signal = raw & 0x7f
      status = signal == 0 ? .exited(code: (raw >> 8) & 0xff) : .signaled(signal: signal)
      return status
    }
  }
}
