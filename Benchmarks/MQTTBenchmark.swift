import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Synchronization

/// MQTT in -> rule -> MQTT out, through a private mosquitto, for the ganglion daemon and for a
/// minimal C libmosquitto relay (`mqtt-relay-c`) measured the same way in the same run:
/// round-trip latency p50/p99 of one message at a time, sustained messages/s with a bounded
/// window of messages in flight, and the subject's resident memory (VmRSS/VmHWM).
///
/// Run with `swift build -c release && .build/release/ganglion-bench mqtt [--rounds N]`: it
/// needs the release `ganglion` and `mqtt-relay-c` executables next to `ganglion-bench`, and
/// `mosquitto` installed. Everything is QoS 0; the daemon's own event publishes use `qos: 0`.
enum MQTTBenchmark {
  static let inTopic = "bench/in"
  static let outTopic = "bench/out"
  static let warmUp = 500
  static let latencySamples = 2_000
  static let throughputMessages = 100_000
  /// Messages sent but not yet echoed back, at most; well under the daemon's input queue (4096)
  /// and the broker's `max_queued_messages` (100000), so nothing is dropped for lack of room.
  static let window = 500

  struct Result {
    var name: String
    var latencies: [UInt64] = []  // nanoseconds, sorted
    var messagesPerSecond = 0.0
    var lost = 0
    var rssKiB = 0
    var peakRSSKiB = 0
    /// CPU time (user + system) per message echoed in the throughput phase, microseconds.
    var subjectCPUPerMessage = 0.0
    var brokerCPUPerMessage = 0.0

    func percentile(_ p: Int) -> Double {
      latencies.isEmpty ? .nan : Double(latencies[min(latencies.count - 1, latencies.count * p / 100)]) / 1000
    }
  }

  static func run(arguments: [String]) async {
    guard arguments.count < 2 || arguments.contains("mqtt") else { return }
    var rounds = 3
    if let flag = arguments.firstIndex(of: "--rounds"), flag + 1 < arguments.count, let n = Int(arguments[flag + 1]) {
      rounds = max(1, n)
    }
    // `--baseline PATH`: another build of the daemon, measured the same way in every round, to
    // compare two versions under the same load (the MQTT aims say "no worse than before").
    var baselinePath: String?
    if let flag = arguments.firstIndex(of: "--baseline"), flag + 1 < arguments.count {
      baselinePath = arguments[flag + 1]
    }
    let folder = executableFolder()
    let relayPath = "\(folder)/mqtt-relay-c"
    let daemonPath = "\(folder)/ganglion"
    for path in [relayPath, daemonPath] + (baselinePath.map { [$0] } ?? []) where !ProcessSpawner.isExecutable(path) {
      print("mqtt: \(path) is missing: build everything first (`swift build -c release`, or `make bench`)")
      return
    }
    print(
      "mqtt: MQTT in -> rule -> MQTT out via a private mosquitto, QoS 0; \(latencySamples) round trips one at a"
        + " time, \(throughputMessages) messages with \(window) in flight; \(rounds) rounds, medians shown")
    do {
      let broker = try await MosquittoBroker()
      var relayRounds: [Result] = []
      var daemonRounds: [Result] = []
      var mirroringRounds: [Result] = []
      var daemonLikeRounds: [Result] = []
      var baselineRounds: [Result] = []
      let relayArguments = [broker.host, String(broker.port), inTopic, outTopic]
      for round in 1...rounds {
        let relay = try await measure(name: "C relay", broker: broker) {
          try ChildProcess(executable: relayPath, arguments: relayArguments, stdout: .inherit, stderr: .inherit)
        }
        // The aim's subject: the same hop as the relay (one message in, one out), with every
        // event still logged, run through the engine and the outbox.
        let daemon = try await measureDaemon(executable: daemonPath, broker: broker, mirrors: false)
        // Not an aim: the default config, which also mirrors each input to events/, state/ and
        // fired/ (4 messages out per input), against the C relay making the same 4 publishes.
        let mirroring = try await measureDaemon(executable: daemonPath, broker: broker, mirrors: true)
        let daemonLike = try await measure(name: "C relay, 4 publishes", broker: broker) {
          try ChildProcess(
            executable: relayPath, arguments: relayArguments + ["--daemon-like"], stdout: .inherit, stderr: .inherit)
        }
        mirroringRounds.append(mirroring)
        daemonLikeRounds.append(daemonLike)
        var results = [relay, daemon, mirroring, daemonLike]
        if let baselinePath {
          let baseline = try await measureDaemon(
            executable: baselinePath, broker: broker, mirrors: false, name: "ganglion (baseline)")
          baselineRounds.append(baseline)
          results.append(baseline)
        }
        for result in results {
          print(
            "  round \(round) \(pad(result.name, 26)) p50 \(format(result.percentile(50))) us"
              + "  p99 \(format(result.percentile(99))) us  \(Int(result.messagesPerSecond)) msg/s"
              + "  lost \(result.lost)  RSS \(mebibytes(result.rssKiB)) MiB, peak \(mebibytes(result.peakRSSKiB)) MiB"
              + "  CPU/msg: subject \(format(result.subjectCPUPerMessage)) us, broker \(format(result.brokerCPUPerMessage)) us"
          )
        }
        CurrentProcess.flushStandardOutput()  // progress shows even when the output goes to a file
        relayRounds.append(relay)
        daemonRounds.append(daemon)
      }
      report(
        relay: median(relayRounds), daemon: median(daemonRounds), mirroring: median(mirroringRounds),
        daemonLike: median(daemonLikeRounds))
      if !baselineRounds.isEmpty {
        let (daemon, baseline) = (median(daemonRounds), median(baselineRounds))
        print(
          "  this build against the baseline (same hop, same rounds): p50 \(format(daemon.percentile(50) / baseline.percentile(50)))x,"
            + " p99 \(format(daemon.percentile(99) / baseline.percentile(99)))x,"
            + " throughput \(format(daemon.messagesPerSecond / baseline.messagesPerSecond))x,"
            + " peak RSS \(mebibytes(daemon.peakRSSKiB)) against \(mebibytes(baseline.peakRSSKiB)) MiB")
      }
    } catch {
      print("mqtt: benchmark failed: \(error)")
    }
  }

  /// The daemon with one MQTT number input and one `on` rule that publishes the value; with
  /// `mirrors`, the default `mqtt.publish` (events/, state/ and fired/ for every input too),
  /// without, only the rule's message goes out.
  static func measureDaemon(executable: String, broker: MosquittoBroker, mirrors: Bool, name: String? = nil)
    async throws -> Result
  {
    let directory = try TemporaryDirectory(prefix: "ganglion-mqtt-bench")
    try directory.write(
      """
      rules:
        - name: echo
          on: bench.in
          do:
            - publish: { topic: \(outTopic), payload: "${value}", qos: 0 }

      """, to: "rules.yaml")
    let config = try directory.write(
      """
      device: bench
      rules: rules.yaml
      signals:
        bench.in:
          mqtt: { topic: \(inTopic), type: number }
      mqtt:
        url: \(broker.url)
        qos: 0
      \(mirrors ? "" : "  publish: { events: false, state: false, fired: false }")
      log:
        dir: \(directory.path("log"))
        sync: 1s
      http: off

      """, to: "ganglion.yaml")
    let outputPath = directory.path("daemon.out")
    do {
      return try await measure(name: name ?? (mirrors ? "ganglion, default mirrors" : "ganglion"), broker: broker) {
        try ChildProcess(
          executable: executable, arguments: ["run", "--config", config], stdout: .file(outputPath),
          stderr: .file(outputPath))
      }
    } catch {
      throw TestSupportError("\(error)\ndaemon output:\n\(readTextFile(outputPath) ?? "")")
    }
  }

  /// Starts the subject, waits until it echoes, then measures latency, throughput and memory.
  static func measure(name: String, broker: MosquittoBroker, start: () throws -> ChildProcess) async throws -> Result {
    let probe = try Probe(broker: broker)
    defer { probe.stop() }
    try probe.waitUntilConnected()
    let subject = try start()
    defer { subject.kill() }
    // Ready once a message comes back (the subject has connected and subscribed).
    var ready = false
    for _ in 0..<100 where !ready {
      guard subject.isRunning else { throw TestSupportError("\(subject.commandLine) \(subject.status!)") }
      let before = probe.receivedCount
      try probe.send("0")
      ready = probe.wait(untilReceived: before + 1, timeoutMilliseconds: 200)
    }
    guard ready else { throw TestSupportError("\(name) did not echo within 20 s") }
    probe.drain()

    var result = Result(name: name)
    // Latency: one message at a time; the echo must carry the payload sent.
    var latencies: [UInt64] = []
    latencies.reserveCapacity(latencySamples)
    for n in 0..<(warmUp + latencySamples) {
      let payload = String(1000 + n)
      let before = probe.receivedCount
      let sent = nanoseconds()
      try probe.send(payload)
      guard probe.wait(untilReceived: before + 1, timeoutMilliseconds: 2000) else {
        throw TestSupportError("\(name): no echo of message \(n) within 2 s")
      }
      let elapsed = nanoseconds() - sent
      let echoed = probe.lastPayload
      guard echoed == payload else { throw TestSupportError("\(name): sent \(payload), got back \(echoed)") }
      if n >= warmUp { latencies.append(elapsed) }
    }
    result.latencies = latencies.sorted()

    // Throughput: keep `window` messages in flight; stop early if echoes stop coming.
    probe.drain()
    let base = probe.receivedCount
    var sent = 0
    let brokerPID = brokerProcessID(broker)
    let cpuBefore = (subject: cpuSeconds(of: subject.pid), broker: cpuSeconds(of: brokerPID))
    let began = nanoseconds()
    var stalled = false
    while sent < throughputMessages, !stalled {
      let received = probe.receivedCount - base
      if sent - received < window {
        try probe.send(String(sent))
        sent += 1
      } else if !probe.wait(untilReceived: base + sent - window + 1, timeoutMilliseconds: 2000) {
        stalled = true
      }
    }
    if !stalled { _ = probe.wait(untilReceived: base + sent, timeoutMilliseconds: 2000) }
    let received = probe.receivedCount - base
    let lastArrival = probe.lastArrivalTime
    result.messagesPerSecond = Double(received) / (Double(max(lastArrival, began + 1) - began) / 1e9)
    result.lost = sent - received
    let echoed = Double(max(received, 1))
    result.subjectCPUPerMessage = (cpuSeconds(of: subject.pid) - cpuBefore.subject) * 1e6 / echoed
    result.brokerCPUPerMessage = (cpuSeconds(of: brokerPID) - cpuBefore.broker) * 1e6 / echoed
    (result.rssKiB, result.peakRSSKiB) = memory(of: subject.pid)
    return result
  }

  // MARK: Report

  static func report(relay: Result, daemon: Result, mirroring: Result, daemonLike: Result) {
    let latencyRatio = daemon.percentile(50) / relay.percentile(50)
    let p99Ratio = daemon.percentile(99) / relay.percentile(99)
    let rateRatio = daemon.messagesPerSecond / relay.messagesPerSecond
    let peakMB = Double(max(daemon.peakRSSKiB, mirroring.peakRSSKiB)) * 1024 / 1e6
    print("")
    print("  |           | p50 us | p99 us | msg/s | RSS MiB | peak RSS MiB | lost | CPU us/msg | broker CPU us/msg |")
    print("  |---|---|---|---|---|---|---|---|---|")
    for r in [relay, daemon, mirroring, daemonLike] {
      print(
        "  | \(r.name) | \(format(r.percentile(50))) | \(format(r.percentile(99))) | \(Int(r.messagesPerSecond))"
          + " | \(mebibytes(r.rssKiB)) | \(mebibytes(r.peakRSSKiB)) | \(r.lost)"
          + " | \(format(r.subjectCPUPerMessage)) | \(format(r.brokerCPUPerMessage)) |")
    }
    print(
      "  | ganglion / C relay | \(format(latencyRatio))x | \(format(p99Ratio))x | \(format(rateRatio))x | | | | | |")
    print("")
    print("  aim p50 <= 1.5x the C relay: \(latencyRatio <= 1.5 ? "met" : "MISSED") (\(format(latencyRatio))x)")
    print("  aim throughput >= 0.8x the C relay: \(rateRatio >= 0.8 ? "met" : "MISSED") (\(format(rateRatio))x)")
    print("  aim daemon RSS < 20 MB: \(peakMB < 20 ? "met" : "MISSED") (peak \(format(peakMB)) MB)")
    print(
      "  with the default mirrors (4 messages out per input): p50 \(format(mirroring.percentile(50) / relay.percentile(50)))x"
        + " and throughput \(format(mirroring.messagesPerSecond / relay.messagesPerSecond))x the C relay;"
        + " p50 \(format(mirroring.percentile(50) / daemonLike.percentile(50)))x and throughput"
        + " \(format(mirroring.messagesPerSecond / daemonLike.messagesPerSecond))x a C relay making the same 4 publishes"
    )
  }

  /// Each metric's median over the rounds, except: p50 and p99 come from the round with the
  /// median p50, losses are summed and the peak RSS is the highest. (The subjects run
  /// interleaved round by round, so load from other processes hits them alike.)
  static func median(_ rounds: [Result]) -> Result {
    func mid<T: Comparable>(_ values: [T]) -> T { values.sorted()[values.count / 2] }
    var result = Result(name: rounds[0].name)
    let byP50 = rounds.sorted { $0.percentile(50) < $1.percentile(50) }
    result.latencies = byP50[rounds.count / 2].latencies
    result.messagesPerSecond = mid(rounds.map(\.messagesPerSecond))
    result.lost = rounds.map(\.lost).reduce(0, +)
    result.rssKiB = mid(rounds.map(\.rssKiB))
    result.peakRSSKiB = rounds.map(\.peakRSSKiB).max() ?? 0
    result.subjectCPUPerMessage = mid(rounds.map(\.subjectCPUPerMessage))
    result.brokerCPUPerMessage = mid(rounds.map(\.brokerCPUPerMessage))
    return result
  }

  // MARK: Helpers

  /// User + system CPU seconds `pid` has used so far (0 if unreadable).
  static func cpuSeconds(of pid: Int32) -> Double {
    guard let stat = readTextFile("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return 0 }
    // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(CurrentProcess.clockTicksPerSecond)
  }

  /// The broker's pid, from the `owner` file MosquittoBroker writes ("<our pid> <broker pid>").
  static func brokerProcessID(_ broker: MosquittoBroker) -> Int32 {
    let owner = readTextFile(broker.directory.path("owner")) ?? ""
    return owner.split(whereSeparator: { $0 == " " || $0 == "\n" }).dropFirst().first.flatMap { Int32($0) } ?? 0
  }

  /// VmRSS and VmHWM of `pid` in KiB (0 if unreadable).
  static func memory(of pid: Int32) -> (rss: Int, peak: Int) {
    let status = readTextFile("/proc/\(pid)/status") ?? ""
    func field(_ name: String) -> Int {
      guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
      return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return (field("VmRSS"), field("VmHWM"))
  }

  static func executableFolder() -> String {
    guard let path = CurrentProcess.executablePath else { return ".build/release" }
    return FileSystem.directory(of: path)
  }

  static func nanoseconds() -> UInt64 { EngineBenchmark.nanoseconds() }
  static func format(_ x: Double) -> String { x.isFinite ? EngineBenchmark.format(x) : "-" }
  static func mebibytes(_ kib: Int) -> String { format(Double(kib) / 1024) }
  static func pad(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
  }
}

/// The measuring client: publishes to `bench/in`, counts what arrives on `bench/out`, and
/// wakes the waiting (main) thread through a non-blocking pipe. Callbacks run on the client's
/// thread.
final class Probe: Sendable {
  /// What the client thread records; shared with its message callback.
  final class Arrivals: Sendable {
    let count = Atomic<Int>(0)
    /// Monotonic nanoseconds of the latest arrival.
    let last = Atomic<UInt64>(0)
    let latestPayload = Mutex<[UInt8]>([])
  }

  let client: MQTTClient
  let arrivals = Arrivals()
  private let wakeup: WakePipe

  /// Messages received so far.
  var receivedCount: Int { arrivals.count.load(ordering: .acquiring) }
  /// Monotonic nanoseconds of the latest arrival.
  var lastArrivalTime: UInt64 { arrivals.last.load(ordering: .acquiring) }

  init(broker: MosquittoBroker) throws {
    let wakeup = try WakePipe()
    self.wakeup = wakeup
    let arrivals = arrivals
    let client = try MQTTClient(
      options: MQTTClientOptions(
        host: broker.host, port: broker.port,
        clientID: "bench-probe-\(CurrentProcess.id)-\(Int.random(in: 0..<1_000_000))",
        subscriptions: [MQTTBenchmark.outTopic]),
      onMessage: { message in
        arrivals.last.store(EngineBenchmark.nanoseconds(), ordering: .releasing)
        arrivals.latestPayload.withLock { $0 = message.payload }
        arrivals.count.add(1, ordering: .releasing)
        wakeup.wake()
      },
      onStateChange: { _ in })
    self.client = client
    try client.start()
  }

  func stop() {
    client.stop(finalMessage: nil)
  }

  func waitUntilConnected() throws {
    for _ in 0..<1000 {
      if client.isConnected { return }
      sleepOnThisThread(.milliseconds(10))
    }
    throw TestSupportError("the probe did not connect to the broker within 10 s")
  }

  func send(_ text: String) throws {
    try client.publish(MQTTMessage(topic: MQTTBenchmark.inTopic, payload: Array(text.utf8), qos: 0))
  }

  var lastPayload: String { String(decoding: arrivals.latestPayload.withLock { $0 }, as: UTF8.self) }

  /// Blocks until `received` reaches `count`; false after `timeoutMilliseconds`.
  func wait(untilReceived count: Int, timeoutMilliseconds: Int) -> Bool {
    let deadline = EngineBenchmark.nanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
    while receivedCount < count {
      let now = EngineBenchmark.nanoseconds()
      if now >= deadline { return false }
      var pollSet = PollSet(descriptors: [wakeup.readDescriptor])
      if (try? pollSet.wait(timeoutMilliseconds: Int32((deadline - now) / 1_000_000) + 1)) ?? 0 > 0 {
        wakeup.drain()
      }
    }
    return true
  }

  /// Waits until nothing has arrived for 100 ms (late echoes of the readiness probes).
  func drain() {
    while wait(untilReceived: receivedCount + 1, timeoutMilliseconds: 100) {}
  }
}
