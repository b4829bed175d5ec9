import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Synchronization
import Testing

@testable import GanglionDaemon

/// Issue 10 items 5 and 6: the HTTP API against slow, greedy and foreign callers. Slow heads
/// and `/events` followers cannot lock `/status`, `/metrics` and `/reload` out; the CLI says
/// "busy" for a 503; a non-loopback listener needs a token; a foreign `Host` or any `Origin`
/// is refused; reloads asked for together are coalesced.
@Suite struct HTTPAccessTests {
  static let rules = """
    rules:
      - name: follow
        on: hallway.motion
        do:
          - set: { hallway.light: value }
    """

  /// A client that sends a request one byte a second and never finishes its head.
  final class Trickler: Sendable {
    private let cutAfter = Mutex<Duration?>(nil)
    private let done = Atomic<Bool>(false)

    init(port: Int) throws {
      let socket = try Socket.connect(host: "127.0.0.1", port: port, timeoutSeconds: 10)
      let start = ContinuousClock.now
      try PosixThread.detached(name: "trickler") { [self] in
        let bytes =
          Array("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8) + Array(repeating: 0x61, count: 100)
        for byte in bytes where !done.load(ordering: .acquiring) {
          do throws(SystemError) {
            try socket.write([byte])
            try socket.setTimeout(microseconds: 1_000_000)
            _ = try socket.read(maximum: 1024)  // an answer or the end: the server cut it
          } catch  where error.isInterruptedOrWouldBlock {
            continue  // no answer within a second: trickle on
          } catch {}
          cutAfter.withLock { $0 = ContinuousClock.now - start }
          return
        }
      }
    }

    deinit { done.store(true, ordering: .releasing) }

    /// How long after connecting the server cut it; nil while it holds on.
    var cut: Duration? { cutAfter.withLock { $0 } }
  }

  /// An `/events` follower: connected, its reply's status read, held open.
  static func follow(port: Int) async throws -> (status: Int, socket: Socket) {
    try await offThePool {
      let socket = try Socket.connect(host: "127.0.0.1", port: port, timeoutSeconds: 5)
      try socket.write(Array("GET /events HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8))
      let head = String(decoding: try socket.read(maximum: 4096), as: UTF8.self)
      return (Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0, socket)
    }
  }

  @Test func slowHeadsAndEventFollowersCannotLockOutStatusMetricsAndReload() async throws {
    let daemon = try await DaemonHarness(config: hallwayConfig(device: "busy-pi"), files: ["rules.yaml": Self.rules])
    let tricklers = try (0..<8).map { _ in try Trickler(port: daemon.httpPort) }
    var followers: [(status: Int, socket: Socket)] = []
    for _ in 0..<8 { followers.append(try await Self.follow(port: daemon.httpPort)) }
    #expect(followers.filter { $0.status == 200 }.count == 4, "followers are capped: \(followers.map(\.status))")
    #expect(followers.filter { $0.status == 503 }.count == 4)

    let status = try await daemon.cli(["status"])
    #expect(status.code == 0, "\(status.output)")
    #expect(try await RawHTTP.get(port: daemon.httpPort, "/metrics").status == 200)
    let reload = try await daemon.cli(["reload"])
    #expect(reload.code == 0, "\(reload.output)")

    // Each slow head is cut at its deadline, however steadily it trickles.
    try await waitUntil("the slow heads to be cut", timeout: .seconds(10)) { tricklers.allSatisfy { $0.cut != nil } }
    #expect(tricklers.allSatisfy { $0.cut! < .seconds(8) }, "\(tricklers.map(\.cut))")
    _ = followers
    _ = await daemon.stop()
  }

  /// A daemon that answers 503 is busy, not gone: the CLI says so.
  @Test func theCLISaysBusyForA503() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-busy")
    var listener: Socket?
    var port = 0
    for _ in 0..<20 where listener == nil {
      port = Int.random(in: 20000...31999)
      listener = try? Socket.listen(host: "127.0.0.1", port: port)
    }
    let busy = try #require(listener)
    try PosixThread.detached(name: "busy server") {
      while let connection = try? busy.accept() {
        _ = try? connection.read(maximum: 4096)
        try? connection.write(
          Array(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n"
              .utf8))
      }
    }
    defer { busy.shutdownBoth() }
    let config = try folder.write(
      "device: busy-pi\nsignals:\n  a: { type: bool }\nhttp:\n  listen: 127.0.0.1:\(port)\n", to: "ganglion.yaml")
    for command in [["status"], ["reload"]] {
      let result = try await runGanglion(command + ["--config", config])
      #expect(result.code == 3, "\(result.output)")
      #expect(result.output.contains("busy"), "\(result.output)")
      #expect(!result.output.contains("is `ganglion run` running"), "\(result.output)")
    }
  }

  @Test func aListenerBeyondLoopbackNeedsATokenFileAndCheckSaysSo() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-token-check")
    try folder.write("s3cret-token\n", to: "api.token")
    func check(_ http: String) async throws -> (code: Int32, output: String) {
      let path = try folder.write("device: d\nsignals:\n  a: { type: bool }\nhttp:\n\(http)\n", to: "ganglion.yaml")
      return try await runGanglion(["check", "--config", path])
    }
    let open = try await check("  listen: 0.0.0.0:9120")
    #expect(open.code == 1, "\(open.output)")
    #expect(open.output.contains("ganglion.yaml:5:11: error:") && open.output.contains("token_file"), "\(open.output)")
    #expect(try await check("  listen: 0.0.0.0:9120\n  token_file: api.token").code == 0)
    let missing = try await check("  listen: 0.0.0.0:9120\n  token_file: missing.token")
    #expect(missing.code == 1 && missing.output.contains("missing.token"), "\(missing.output)")
  }

  @Test func withATokenEveryRequestNeedsItAndTheCLISendsIt() async throws {
    let token = "s3cret-token"
    for listen in ["127.0.0.1", "0.0.0.0"] {
      let config =
        hallwayConfig(device: "token-pi", http: false)
        + "http:\n  listen: \(listen):HTTP_PORT\n  token_file: api.token\n"
      let daemon = try await DaemonHarness(
        config: config, files: ["rules.yaml": Self.rules, "api.token": token + "\n"], token: token)
      let port = daemon.httpPort
      #expect(try await RawHTTP.get(port: port, "/status").status == 401)
      #expect(try await RawHTTP.get(port: port, "/metrics", headers: ["Authorization: Bearer wrong"]).status == 401)
      #expect(try await RawHTTP.get(port: port, "/status", headers: ["Authorization: Bearer \(token)"]).status == 200)
      let status = try await daemon.cli(["status"])
      #expect(status.code == 0, "\(status.output)")
      #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
      _ = await daemon.stop()
    }
  }

  @Test func foreignHostsAndWebPagesAreRefusedAndReloadsAreCoalesced() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "host-pi", log: "dir: log\nsync: always"), files: ["rules.yaml": Self.rules])
    let port = daemon.httpPort
    func status(host: String, _ extra: [String] = []) async throws -> Int {
      try await RawHTTP.send(port: port, ["GET /status HTTP/1.1", "Host: \(host)"] + extra).status
    }
    #expect(try await status(host: "127.0.0.1:\(port)") == 200)
    #expect(try await status(host: "localhost:\(port)") == 200)
    #expect(try await status(host: "evil.example:\(port)") == 403, "DNS rebinding: a name that is not ours")
    #expect(try await status(host: "127.0.0.1:\(port + 1)") == 403)
    #expect(try await status(host: "127.0.0.1:\(port)", ["Origin: http://127.0.0.1:\(port)"]) == 403)
    let crossSite = try await RawHTTP.send(
      port: port, ["POST /inject?signal=hallway.motion&value=on HTTP/1.1", "Host: 127.0.0.1:\(port)", "Origin: null"])
    #expect(crossSite.status == 403)
    let reloadFromAPage = try await RawHTTP.send(
      port: port, ["POST /reload HTTP/1.1", "Host: 127.0.0.1:\(port)", "Origin: http://evil.example"])
    #expect(reloadFromAPage.status == 403)

    // Ten reloads at once: those the work slots take are coalesced (at most one start a
    // second); the others hear the daemon is busy.
    let codes = try await withThrowingTaskGroup(of: Int.self) { group in
      for _ in 0..<10 {
        group.addTask {
          try await RawHTTP.send(port: port, ["POST /reload HTTP/1.1", "Host: 127.0.0.1:\(port)"]).status
        }
      }
      return try await group.reduce(into: [Int]()) { $0.append($1) }
    }
    #expect(codes.allSatisfy { $0 == 200 || $0 == 503 } && codes.filter { $0 == 200 }.count >= 4, "\(codes)")
    let export = try await daemon.cli(["log", "export"])
    let events = export.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    let reloads = events.filter { $0["kind"] == "system" && $0["value"]?["event"] == "reload" }
    #expect((1...2).contains(reloads.count), "\(reloads.count) reloads for 10 requests")
    #expect(
      !events.contains { $0["signal"] == "hallway.motion" && $0["value"] == true }, "the page's inject was refused")
    _ = await daemon.stop()
  }
}
