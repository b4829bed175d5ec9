import Glibc

/// Child processes with `posix_spawn`: the command line tools' and tests' way to run
/// another program (a broker, the daemon's own binary).
///
/// The child starts with an empty signal mask and default signal dispositions, so SIGTERM
/// stops it even when the spawning thread blocks signals (Foundation's `Process` does not
/// do this: swift-corelibs-foundation #4772).
public enum ProcessSpawner {
  /// Where a standard stream of the child goes.
  public enum Output: Sendable, Equatable {
    /// The parent's own stream.
    case inherit
    /// `/dev/null`.
    case discard
    /// A file, created or truncated (appending). If stdout and stderr name the same file
    /// they share it.
    case file(String)
  }

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

  /// Starts `executable` (a path, or a name looked up in `PATH`) with `arguments`, this
  /// process's environment plus `environment`, standard input from `/dev/null`, and besides
  /// the standard streams only the descriptors in `descriptors` (child descriptor -> this
  /// process's descriptor); every other open descriptor is closed in the child.
  /// - Returns: the child's pid.
  /// - Throws: `SystemError` when the process cannot be started (not found, output file not
  ///   writable).
  public static func spawn(
    _ executable: String, arguments: [String], environment: [String: String] = [:],
    descriptors: [Int32: Int32] = [:], stdout: Output = .discard, stderr: Output = .discard
  ) throws(SystemError) -> Int32 {
    for text in [executable] + arguments + environment.flatMap({ [$0.key, $0.value] }) {
      try refuseNUL(text, "start \(executable)")
    }
    for case .file(let path) in [stdout, stderr] { try refuseNUL(path, "write the output of \(executable) to") }
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

    // Descriptors this process has open must not live on in the child: a broker holding a
    // copy of another client's socket would keep that connection open. (libmosquitto does
    // not set close-on-exec; `addclosefrom_np` is not visible in Swift's Glibc.)
    let passed = Set(descriptors.values)
    for entry in (try? FileSystem.entries("/proc/self/fd")) ?? [] {
      if let fd = Int32(entry.name), fd > 2, !passed.contains(fd) {
        posix_spawn_file_actions_addclose(&fileActions, fd)
      }
    }
    for (childFD, parentFD) in descriptors { posix_spawn_file_actions_adddup2(&fileActions, parentFD, childFD) }
    for parentFD in passed where descriptors[parentFD] == nil {
      posix_spawn_file_actions_addclose(&fileActions, parentFD)
    }

    posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
    redirect(1, to: stdout, actions: &fileActions)
    if stderr == stdout, case .file = stderr {
      posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
    } else {
      redirect(2, to: stderr, actions: &fileActions)
    }
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let inherited = CurrentProcess.environmentEntries.filter { environment[String($0.prefix { $0 != "=" })] == nil }
    let envp: [UnsafeMutablePointer<CChar>?] =
      (inherited + environment.map { "\($0.key)=\($0.value)" }).map { strdup($0) } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var childPID: pid_t = 0
    let result = posix_spawnp(&childPID, executable, &fileActions, &attributes, argv, envp)
    guard result == 0 else { throw SystemError(code: result, operation: "start", subject: executable) }
    return childPID
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

  /// Reaps child `pid` if it has exited (or, with `blocking`, once it exits).
  /// - Returns: its status; nil while it runs (`blocking` false). A child that cannot be
  ///   waited for (reaped elsewhere) reports `.exited(code: -1)`.
  public static func reap(_ pid: Int32, blocking: Bool) -> ExitStatus? {
    var raw: Int32 = 0
    while true {
      let result = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
      if result == pid { break }
      if result == -1, errno == EINTR { continue }
      if result == -1 { return .exited(code: -1) }
      return nil
    }
    let signal = raw & 0x7f
    return signal == 0 ? .exited(code: (raw >> 8) & 0xff) : .signaled(signal: signal)
  }

  /// Whether a process with this pid exists (it may belong to anyone).
  public static func exists(_ pid: Int32) -> Bool {
    Glibc.kill(pid, 0) == 0 || errno != ESRCH
  }

  /// Whether `path` is an executable file for this process.
  public static func isExecutable(_ path: String) -> Bool { !path.utf8.contains(0) && access(path, X_OK) == 0 }
}
