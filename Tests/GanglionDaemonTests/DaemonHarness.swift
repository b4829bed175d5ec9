import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Glibc
import Synchronization

/// The `ganglion` executable next to this test bundle (both are products of one build).
let ganglionExecutable: String = {
  var buffer = [CChar](repeating: 0, count: 4096)
  let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
  if length > 0 {
    let exe = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var folder = exe
    // The test binary lives in `<build>/GanglionPackageTests.xctest` (a file on Linux).
    while let slash = folder.lastIndex(of: "/") {
      folder = String(folder[..<slash])
      let candidate = folder + "/ganglion"
      if access(candidate, X_OK) == 0 { return candidate }
      if folder.hasSuffix("/.build") || folder.isEmpty { break }
    }
  }
  let repository = String(#filePath.split(separator: "/").dropLast(3).joined(separator: "/"))
  return "/" + repository + "/.build/debug/ganglion"
}()

/// The repository's root folder (for the example rules and hardware profiles).
let repositoryRoot: String = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")

/// Collects every message a real MQTT client receives on `filter`.
final class MQTTObserver: Sendable {
  final class Inbox: Sendable {
    let messages = Mutex<[MQTTMessage]>([])
  }

  let client: MQTTClient
  private let received = Inbox()

  init(broker: MosquittoBroker, filter: String) async throws {
    client = try MQTTClient(
      options: MQTTClientOptions(
        host: broker.host, port: broker.port, clientID: "observer-\(Int.random(in: 0...1_000_000))",
        subscriptions: [filter]),
      onMessage: { [received] message in received.messages.withLock { $0.append(message) } },
      onStateChange: { _ in })
    try client.start()
    try await waitUntil("the observer to connect", timeout: .seconds(10)) { client.isConnected }
  }

  deinit { client.stop(finalMessage: nil) }

  var messages: [MQTTMessage] { received.messages.withLock { $0 } }

  /// The first message on `topic` (after `skipping` earlier ones) that satisfies `where`.
  func wait(
    for topic: String, timeout: Duration = .seconds(20), fileID: String = #fileID, line: Int = #line,
    where predicate: @escaping @Sendable (MQTTMessage) -> Bool = { _ in true }
  ) async throws -> MQTTMessage {
    try await waitFor("a message on \(topic)", timeout: timeout, fileID: fileID, line: line) {
      self.messages.first { $0.topic == topic && predicate($0) }
    }
  }

  /// The JSON of the first event on `topic` satisfying `where`.
  func event(
    on topic: String, timeout: Duration = .seconds(20), fileID: String = #fileID, line: Int = #line,
    where predicate: @escaping @Sendable (Value) -> Bool = { _ in true }
  ) async throws -> Value {
    let message = try await wait(for: topic, timeout: timeout, fileID: fileID, line: line) {
      (try? JSON.parse($0.text)).map(predicate) ?? false
    }
    return try JSON.parse(message.text)
  }
}

/// A `ganglion run --simulate` child process with its own folder, config and HTTP port.
final class DaemonHarness: Sendable {
  let folder: TemporaryDirectory
  let configPath: String
  let httpPort: Int
  let process: Mutex<ChildProcess?>
  let outputPath: String

  /// Writes `config` (with `HTTP_PORT` replaced by a free port) and the rule files into a new
  /// folder, and starts the daemon, with `environment` added to its environment (`TZ`);
  /// returns once its HTTP listener answers.
  /// - Parameters:
  ///   - token: the API token (`http.token_file`), sent with the harness's own requests.
  ///   - arguments: added to `ganglion run` (`--print-events`).
  init(
    config: String, files: [String: String] = [:], simulate: Bool = true, token: String? = nil,
    environment: [String: String] = [:], arguments: [String] = []
  ) async throws {
    folder = try TemporaryDirectory(prefix: "ganglion-daemon")
    outputPath = folder.path("daemon.out")
    for (name, text) in files { _ = try folder.write(text, to: name) }
    var lastOutput = ""
    for _ in 0..<10 {
      let port = Int.random(in: 20000...31999)
      let path = try folder.write(config.replacingAll("HTTP_PORT", with: String(port)), to: "ganglion.yaml")
      let child = try ChildProcess(
        executable: ganglionExecutable,
        arguments: ["run", "--config", path] + (simulate ? ["--simulate"] : []) + arguments, environment: environment,
        stdout: .file(outputPath), stderr: .file(outputPath))
      let ready = try await waitFor("the daemon to answer on port \(port)", timeout: .seconds(20)) { () -> Bool? in
        if !child.isRunning { return false }
        // The port may belong to another test's daemon while ours fails on EADDRINUSE:
        // ready means *this* process answers.
        guard tcpPortAcceptsConnections(port: port),
          let reply = try? await RawHTTP.get(
            port: port, "/status", headers: token.map { ["Authorization: Bearer \($0)"] } ?? []),
          let status = try? JSON.parse(reply.body)
        else { return nil }
        return status["pid"]?.numberValue == Double(child.pid) ? true : nil
      }
      if ready {
        configPath = path
        httpPort = port
        process = Mutex(child)
        return
      }
      lastOutput = readTextFile(outputPath) ?? ""
      guard lastOutput.contains("Address already in use") else { break }
    }
    throw TestSupportError("the daemon did not start:\n\(lastOutput)")
  }

  deinit { process.withLock { _ = $0?.kill() } }

  var output: String { readTextFile(outputPath) ?? "" }

  /// `/status` as JSON.
  func status() async throws -> Value { try await JSON.parse(HTTPGet.text(port: httpPort, path: "/status")) }

  /// Waits until `/status` says the daemon is connected to its broker (and subscribed).
  func waitForBroker(timeout: Duration = .seconds(10)) async throws {
    try await waitUntil("the daemon to connect to the broker", timeout: timeout) {
      try await self.status()["mqtt"]?["connected"] == true
    }
  }

  /// The output of the latest `restart()` (each restart writes its own).
  var outputSinceRestart: String { readTextFile(outputPath + ".2") ?? "" }

  /// Runs `ganglion ARGS --config <this config>` to completion; returns its exit code and output.
  func cli(_ arguments: [String]) async throws -> (code: Int32, output: String) {
    try await runGanglion(arguments + ["--config", configPath])
  }

  /// SIGTERM and wait: the daemon's own clean stop.
  func stop() async -> ChildProcess.ExitStatus? {
    guard let child = process.withLock({ $0 }) else { return nil }
    return await child.terminate(gracePeriod: .seconds(10))
  }

  /// SIGKILL: no chance to clean up.
  func kill() {
    process.withLock { _ = $0?.kill() }
  }

  /// Starts the daemon again on the same folder and config (e.g. after `kill`).
  func restart() async throws {
    let child = try ChildProcess(
      executable: ganglionExecutable, arguments: ["run", "--config", configPath, "--simulate"],
      stdout: .file(outputPath + ".2"), stderr: .file(outputPath + ".2"))
    try await waitUntil("the restarted daemon to answer", timeout: .seconds(20)) {
      guard child.isRunning else {
        throw TestSupportError("the restarted daemon exited:\n\(readTextFile(self.outputPath + ".2") ?? "")")
      }
      guard tcpPortAcceptsConnections(port: self.httpPort),
        let status = try? await JSON.parse(HTTPGet.text(port: self.httpPort, path: "/status"))
      else { return false }
      return status["pid"]?.numberValue == Double(child.pid)
    }
    process.withLock { $0 = child }
  }
}

/// Runs the `ganglion` executable with `arguments`; returns its exit code and output.
func runGanglion(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> (code: Int32, output: String)
{
  let folder = try TemporaryDirectory(prefix: "ganglion-cli")
  let path = folder.path("output")
  let child = try ChildProcess(
    executable: ganglionExecutable, arguments: arguments, stdout: .file(path), stderr: .file(path))
  guard let status = await child.waitForExit(timeout: timeout) else {
    _ = child.kill()
    throw TestSupportError("ganglion \(arguments.joined(separator: " ")) did not finish")
  }
  let code: Int32
  switch status {
  case .exited(let value): code = value
  default: code = -1
  }
  return (code, readTextFile(path) ?? "")
}

/// Runs the `ganglion` executable with `arguments` from the folder `directory`, as a user who
/// did `cd directory` would; see `runProgram`.
func runGanglion(
  _ arguments: [String], in directory: String, environment: [String: String] = [:], timeout: Duration = .seconds(30)
) async throws -> (code: Int32, output: String) {
  try await runProgram([ganglionExecutable] + arguments, in: directory, environment: environment, timeout: timeout)
}

/// Runs `command` (a program and its arguments) from the folder `directory`, without
/// `$GANGLION_CONFIG` unless `environment` sets it; `environment` adds or replaces variables
/// (`TZ`, `PATH`). Returns its exit code and output (stdout and stderr together).
func runProgram(
  _ command: [String], in directory: String, environment: [String: String] = [:], timeout: Duration = .seconds(30)
) async throws -> (code: Int32, output: String) {
  let folder = try TemporaryDirectory(prefix: "ganglion-cli")
  let path = folder.path("output")
  let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
  let child = try ChildProcess(
    executable: "/bin/sh",
    arguments: ["-c", "cd \"$0\" && exec \"$@\"", directory, "env", "-u", "GANGLION_CONFIG"] + assignments + command,
    stdout: .file(path), stderr: .file(path))
  guard let status = await child.waitForExit(timeout: timeout) else {
    _ = child.kill()
    throw TestSupportError("\(command.joined(separator: " ")) in \(directory) did not finish")
  }
  guard case .exited(let code) = status else { return (-1, readTextFile(path) ?? "") }
  return (code, readTextFile(path) ?? "")
}

extension String {
  func replacingAll(_ target: String, with replacement: String) -> String {
    split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
  }
}

extension MosquittoBroker {
  /// Publishes with `mosquitto_pub` (QoS 1), the way a user's script would; returns when the
  /// broker has the message.
  func publish(topic: String, text: String) async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-pub")
    let file = try folder.write(text, to: "payload")
    try await ChildProcess.run(
      "mosquitto_pub", ["-h", host, "-p", String(port), "-q", "1", "-t", topic, "-f", file])
  }
}

/// The hallway every daemon test starts from: the simulated board with a motion sensor on
/// GPIO17 and a light on GPIO27, rules from `rules.yaml`, the log in `log/` (or `log`, a
/// block of `log:` settings), and the HTTP listener on `HTTP_PORT` (filled in by
/// `DaemonHarness`). `signals` and `sections` are YAML appended at top level indentation.
func hallwayConfig(
  device: String, signals: String = "", log: String = "dir: log", http: Bool = true, sections: String = ""
) -> String {
  var text = """
    device: \(device)
    hardware: \(repositoryRoot)/Hardware/simulated.yaml
    rules: rules.yaml
    signals:
      hallway.motion:
        gpio: { pin: GPIO17, bias: pull-down }
      hallway.light:
        gpio: { pin: GPIO27, output: true, initial: off }

    """
  text += signals.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
  text += "\nlog:\n" + log.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
  if http { text += "http:\n  listen: 127.0.0.1:HTTP_PORT\n" }
  return text + sections
}

/// A plain MQTT client, connected to `broker`, for tests that publish many messages fast.
func connectedPublisher(_ broker: MosquittoBroker, label: String) async throws -> MQTTClient {
  let publisher = try MQTTClient(
    options: MQTTClientOptions(
      host: broker.host, port: broker.port, clientID: "\(label)-\(Int.random(in: 0...1_000_000))"),
    onMessage: { _ in }, onStateChange: { _ in })
  try publisher.start()
  try await waitUntil("the \(label) to connect", timeout: .seconds(10)) { publisher.isConnected }
  return publisher
}
