import GanglionSystem
import Synchronization

/// A private `mosquitto` broker for one test, listening on 127.0.0.1 on a port from
/// 20000-31999 (chosen at random, retried when already in use, so parallel tests don't clash).
///
/// Configuration: anonymous access, `set_tcp_nodelay true`, `max_queued_messages 100000`,
/// no persistence (a restart forgets retained messages); `log` has its output. Extra lines are
/// appended after the `listener` line, so listener options (TLS files, password files) apply
/// to it and later settings override the defaults.
///
/// Thread safety: all members may be used from any thread. The broker is killed and its
/// directory removed when the last reference goes away.
public final class MosquittoBroker: Sendable {
  public let host = "127.0.0.1"
  public let port: Int
  /// Holds the generated configuration and the broker's log.
  public let directory: TemporaryDirectory
  private let process: Mutex<ChildProcess?>
  /// How many times the broker was launched (each run logs to its own file).
  private let runs = Atomic<Int>(0)
  private let startupTimeout: Duration

  public var configurationPath: String { directory.path("mosquitto.conf") }
  /// The broker's log (stdout and stderr) of all its runs so far, oldest first.
  public var log: String {
    (0..<runs.load(ordering: .acquiring)).map { readTextFile(Self.logPath(directory, run: $0)) ?? "" }.joined()
  }
  /// `mqtt://127.0.0.1:PORT`
  public var url: String { "mqtt://\(host):\(port)" }

  /// Starts a broker and returns once it accepts TCP connections. Throws `TestSupportError`
  /// (with the broker's log) if it can't be started within `startupTimeout`.
  public init(extraConfiguration: [String] = [], startupTimeout: Duration = .seconds(10))
    async throws(TestSupportError)
  {
    _ = Self.orphansReaped
    directory = try TemporaryDirectory(prefix: "ganglion-mosquitto")
    self.startupTimeout = startupTimeout
    var lastFailure = ""
    for _ in 0..<20 {
      let candidate = Int.random(in: 20000...31999)
      try Self.writeConfiguration(port: candidate, extra: extraConfiguration, to: directory)
      switch try await Self.launch(directory: directory, port: candidate, run: 0, timeout: startupTimeout) {
      case .running(let child):
        port = candidate
        runs.store(1, ordering: .releasing)
        process = Mutex(child)
        return
      case .portInUse(let message):
        lastFailure = message
      }
    }
    throw TestSupportError("no free port for mosquitto after 20 tries: \(lastFailure)")
  }

  deinit {
    process.withLock { _ = $0?.kill() }
  }

  /// True while the broker process runs.
  public var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }

  /// Stops the broker with SIGTERM (clients see a clean socket close). No-op if stopped.
  public func stop() async {
    let child = process.withLock { child in
      defer { child = nil }
      return child
    }
    await child?.terminate()
  }

  /// Kills the broker with SIGKILL. No-op if stopped.
  public func kill() {
    process.withLock { child in
      child?.kill()
      child = nil
    }
  }

  /// Stops the broker if it runs and starts it again on the same port and configuration.
  /// Retries while the port is briefly taken; throws `TestSupportError` after `startupTimeout`.
  public func restart() async throws(TestSupportError) {
    await stop()
    let deadline = ContinuousClock.now + startupTimeout
    while true {
      let run = runs.load(ordering: .acquiring)
      let outcome = try await Self.launch(directory: directory, port: port, run: run, timeout: startupTimeout)
      runs.store(run + 1, ordering: .releasing)
      switch outcome {
      case .running(let child):
        process.withLock { $0 = child }
        return
      case .portInUse(let message):
        if ContinuousClock.now >= deadline {
          throw TestSupportError("cannot restart mosquitto on port \(port): \(message)")
        }
        try? await Task.sleep(for: .milliseconds(20))
      }
    }
  }

  private enum LaunchOutcome {
    case running(ChildProcess)
    case portInUse(String)
  }

  private static func writeConfiguration(port: Int, extra: [String], to directory: TemporaryDirectory)
    throws(TestSupportError)
  {
    var lines = [
      "listener \(port) 127.0.0.1",
      "allow_anonymous true",
      "set_tcp_nodelay true",
      "max_queued_messages 100000",
      "persistence false",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
    ]
    // As root, mosquitto 2.0 switches to the `mosquitto` user, which can't read our 0700 folder.
    if CurrentProcess.isRoot { lines.append("user root") }
    // Any broker state (`persistence true`) stays in the broker's own folder, never in the
    // test's working directory where another run would load it.
    lines.append("persistence_location \(directory.path)/")
    lines += extra
    try directory.write(lines.joined(separator: "\n") + "\n", to: "mosquitto.conf")
  }

  private static func logPath(_ directory: TemporaryDirectory, run: Int) -> String {
    directory.path("mosquitto-\(run).log")
  }

  private static func launch(directory: TemporaryDirectory, port: Int, run: Int, timeout: Duration)
    async throws(TestSupportError) -> LaunchOutcome
  {
    let runLogPath = logPath(directory, run: run)
    let child = try ChildProcess(
      executable: mosquittoExecutable(), arguments: ["-c", directory.path("mosquitto.conf")],
      stdout: .file(runLogPath), stderr: .file(runLogPath))
    try directory.write("\(CurrentProcess.id) \(child.pid)\n", to: ownerFileName)
    let deadline = ContinuousClock.now + timeout
    while true {
      let output = readTextFile(runLogPath) ?? ""
      if let status = child.status {
        if output.contains("Address already in use") { return .portInUse(output) }
        throw TestSupportError("mosquitto on port \(port) \(status) during start-up:\n\(output)")
      }
      // The "running" line comes after the listener is bound: the port is ours.
      if output.contains(" running"), tcpPortAcceptsConnections(port: port) { return .running(child) }
      if ContinuousClock.now >= deadline {
        child.kill()
        throw TestSupportError("mosquitto on port \(port) not ready after \(timeout):\n\(output)")
      }
      try? await Task.sleep(for: .milliseconds(2))
    }
  }

  private static let ownerFileName = "owner"

  /// Brokers whose test process died without cleaning up (a crash, a killed run): killed and
  /// their folders removed, once per test process, before the first broker starts. A broker
  /// is only killed if its command line still names its own folder (its pid wasn't reused).
  private static let orphansReaped: Void = {
    for entry in directoryEntries("/tmp") ?? [] where entry.isDirectory && entry.name.hasPrefix("ganglion-mosquitto-") {
      let folder = "/tmp/\(entry.name)"
      guard let owner = readTextFile("\(folder)/\(ownerFileName)") else { continue }
      let pids = owner.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
      guard pids.count == 2, !ProcessSpawner.exists(pids[0]) else { continue }
      let commandLine = readTextFile("/proc/\(pids[1])/cmdline") ?? ""
      if commandLine.contains(folder) { try? ProcessSignal.kill.send(to: pids[1]) }
      removeTree(folder)
    }
  }()

  private static func mosquittoExecutable() -> String {
    for candidate in ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
    where ProcessSpawner.isExecutable(candidate) {
      return candidate
    }
    return "mosquitto"
  }
}

/// True if something accepts a TCP connection on `host`:`port` (IPv4) right now.
public func tcpPortAcceptsConnections(host: String = "127.0.0.1", port: Int) -> Bool {
  (try? Socket.connect(host: host, port: port, timeoutSeconds: 2)) != nil
}
