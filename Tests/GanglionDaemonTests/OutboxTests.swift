import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Synchronization
import Testing

@testable import GanglionDaemon

/// events.md "Delivery and ordering": with qos 1, every logged event reaches the broker at
/// least once, in seq order, across broker restarts and daemon restarts.
@Suite struct OutboxTests {
  static func config(broker: MosquittoBroker, outbox: Int = 20_000) -> String {
    """
    device: test-pi
    signals:
      bench.level:
        mqtt: { topic: sensors/level, type: number }
    mqtt:
      url: \(broker.url)
      qos: 1
      outbox: \(outbox)
    log:
      dir: log
      sync: 200ms
    http:
      listen: 127.0.0.1:HTTP_PORT
    """
  }

  /// A subscriber with a persistent session on a broker that saves its state on a clean stop,
  /// so that what reached the broker while the subscriber was away is still delivered.
  final class DurableObserver: Sendable {
    final class Arrivals: Sendable {
      let list = Mutex<[(seq: Double, value: Double)]>([])
    }

    let client: MQTTClient
    let arrivals = Arrivals()

    init(broker: MosquittoBroker) async throws {
      let arrivals = self.arrivals
      client = try MQTTClient(
        options: MQTTClientOptions(
          host: broker.host, port: broker.port, clientID: "durable-observer-\(Int.random(in: 0...1_000_000))",
          subscriptions: ["ganglion/test-pi/events/bench.level"],
          reconnectDelay: (.milliseconds(50), .milliseconds(200)),
          cleanSession: false),
        onMessage: { message in
          guard let event = try? JSON.parse(message.text), let seq = event["seq"]?.numberValue,
            let value = event["value"]?.numberValue
          else { return }
          arrivals.list.withLock { $0.append((seq, value)) }
        },
        onStateChange: { _ in })
      try client.start()
      try await waitUntil("the observer to connect", timeout: .seconds(10)) { client.isConnected }
    }

    deinit { client.stop(finalMessage: nil) }

    /// Values in the order they first arrived (duplicates, allowed by at-least-once, removed).
    var firstArrivals: [(seq: Double, value: Double)] {
      var seen = Set<Double>()
      return arrivals.list.withLock { $0 }.filter { seen.insert($0.seq).inserted }
    }
  }

  static func inject(_ value: Int, port: Int) async throws {
    let reply = try await offThePool {
      try HTTPClient.request(
        method: "POST", host: "127.0.0.1", port: port, path: "/inject",
        query: [("signal", "bench.level"), ("value", String(value))])
    }
    guard reply.status == 202 else { throw TestSupportError("inject \(value): \(reply.status) \(reply.body)") }
  }

  @Test func tenThousandQoS1EventsSurviveThreeBrokerRestartsInOrder() async throws {
    let broker = try await MosquittoBroker(extraConfiguration: [
      "persistence true", "autosave_interval 0",
    ])
    let observer = try await DurableObserver(broker: broker)
    let daemon = try await DaemonHarness(config: Self.config(broker: broker))
    try await daemon.waitForBroker()

    let total = 10_000
    for value in 1...total {
      try await Self.inject(value, port: daemon.httpPort)
      if value % 2500 == 0 && value < total {
        await broker.stop()
        // The daemon keeps going without a broker: these only reach the outbox.
        for extra in 1...300 { try await Self.inject(value * 10_000 + extra, port: daemon.httpPort) }
        try await broker.restart()
      }
    }
    let expected = total + 3 * 300
    try await waitUntil(
      "all \(expected) events at the subscriber", timeout: .seconds(60), pollInterval: .milliseconds(50)
    ) {
      observer.firstArrivals.count >= expected
    }
    let arrivals = observer.firstArrivals
    #expect(arrivals.count == expected)
    let outOfOrder = zip(arrivals, arrivals.dropFirst()).first { $0.seq >= $1.seq }
    #expect(outOfOrder == nil, "seq \(outOfOrder?.1.seq ?? 0) arrived after seq \(outOfOrder?.0.seq ?? 0)")
    var injected = Array(1...total).map(Double.init)
    for stop in [2500, 5000, 7500] {
      let index = injected.firstIndex(of: Double(stop))! + 1
      injected.insert(contentsOf: (1...300).map { Double(stop * 10_000 + $0) }, at: index)
    }
    let firstDifference = zip(arrivals.map(\.value), injected).enumerated().first { $0.element.0 != $0.element.1 }
    #expect(
      firstDifference == nil,
      "arrival \(firstDifference?.offset ?? 0) is \(firstDifference?.element.0 ?? 0), injected \(firstDifference?.element.1 ?? 0)"
    )
    let status = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
    #expect(status["mqtt"]?["outbox_dropped"] == 0)
    _ = await daemon.stop()
  }

  @Test func eventsLoggedWhileTheBrokerWasDownAreSentAfterADaemonRestart() async throws {
    let broker = try await MosquittoBroker(extraConfiguration: ["persistence true", "autosave_interval 0"])
    let observer = try await DurableObserver(broker: broker)
    let daemon = try await DaemonHarness(config: Self.config(broker: broker))
    try await daemon.waitForBroker()
    await broker.stop()
    for value in 1...200 { try await Self.inject(value, port: daemon.httpPort) }
    // A clean stop while the broker is away: the events are only in the log now.
    #expect(await daemon.stop() == .exited(code: 0))
    try await broker.restart()
    try await daemon.restart()
    try await waitUntil("the 200 events from before the restart", timeout: .seconds(20)) {
      observer.firstArrivals.filter { $0.value <= 200 }.count == 200
    }
    let values = observer.firstArrivals.map(\.value).filter { $0 <= 200 }
    #expect(values.count == 200 && values == (1...200).map(Double.init), "the first 200 values arrived out of order")
    _ = await daemon.stop()
  }

  @Test func aFullOutboxDropsTheOldestAndSaysHowMany() async throws {
    let broker = try await MosquittoBroker(extraConfiguration: ["persistence true", "autosave_interval 0"])
    let observer = try await DurableObserver(broker: broker)
    let daemon = try await DaemonHarness(config: Self.config(broker: broker, outbox: 50))
    try await daemon.waitForBroker()
    await broker.stop()
    try await waitUntil("the daemon to notice", timeout: .seconds(10)) {
      try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["mqtt"]?["connected"] == false
    }
    for value in 1...500 { try await Self.inject(value, port: daemon.httpPort) }
    // Nothing vanishes uncounted: every event is waiting or counted as dropped.
    let (depth, dropped) = try await waitFor("all 500 events to be waiting or counted", timeout: .seconds(20)) {
      () -> (Double, Double)? in
      let mqtt = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["mqtt"]
      guard let depth = mqtt?["outbox"]?.numberValue, let dropped = mqtt?["outbox_dropped"]?.numberValue,
        depth + dropped >= 500
      else { return nil }
      return (depth, dropped)
    }
    #expect(depth == 50)
    #expect(dropped == 450)
    let metrics = try await HTTPGet.text(port: daemon.httpPort, path: "/metrics")
    #expect(metrics.contains("ganglion_mqtt_outbox_dropped_total 450"))
    let text = try await daemon.cli(["status"])
    #expect(text.output.contains("50 events waiting for the broker, 450 dropped from a full outbox"), "\(text.output)")

    // events.md: past the outbox size the oldest unsent are dropped, so the newest 50 arrive.
    try await broker.restart()
    try await waitUntil("the 50 kept events at the subscriber", timeout: .seconds(20)) {
      observer.firstArrivals.count >= 50
    }
    #expect(observer.firstArrivals.map(\.value) == (451...500).map(Double.init))
    _ = await daemon.stop()
  }

  /// The outbox bound is for a broker that is away: a burst larger than it (and larger than
  /// what the outbox keeps in memory, so the rest is read back from the log) loses nothing
  /// while the broker is there.
  @Test func aBurstLargerThanTheOutboxIsDeliveredWhole() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "ganglion/test-pi/events/#")
    let daemon = try await DaemonHarness(config: Self.config(broker: broker, outbox: 100))
    try await daemon.waitForBroker()
    let publisher = try await connectedPublisher(broker, label: "burst-publisher")
    defer { publisher.stop(finalMessage: nil) }
    let total = 4000
    for value in 1...total {
      try publisher.publish(MQTTMessage(topic: "sensors/level", text: String(value), qos: 1))
    }
    try await waitUntil("all \(total) events at the subscriber", timeout: .seconds(60)) {
      observer.messages.count >= total
    }
    let values = observer.messages.compactMap { try? JSON.parse($0.text)["value"]?.numberValue }
    #expect(values.count == total)
    let misplaced = zip(values, 1...total).first { $0.0 != Double($0.1) }
    #expect(misplaced == nil, "event \(misplaced?.1 ?? 0) arrived as \(misplaced?.0 ?? 0): out of order or lost")
    let mqtt = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["mqtt"]
    #expect(mqtt?["outbox_dropped"] == 0)
    _ = await daemon.stop()
  }

  /// After a kill -9 the log skips the rest of its reserved block of seqs: the gap is not
  /// events, and must be neither resent, counted as unsent, nor counted as dropped.
  @Test func aSeqGapAfterAKillIsNotCountedAsUnsentOrDropped() async throws {
    let broker = try await MosquittoBroker()
    let daemon = try await DaemonHarness(config: Self.config(broker: broker))
    func mqttStatus() async throws -> Value? {
      try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["mqtt"]
    }
    try await waitUntil("the daemon to connect", timeout: .seconds(10)) { try await mqttStatus()?["connected"] == true }
    for value in 1...3 { try await Self.inject(value, port: daemon.httpPort) }
    try await waitUntil("3 events delivered", timeout: .seconds(10)) { try await mqttStatus()?["outbox"] == 0 }
    #expect(await daemon.stop() == .exited(code: 0))  // saves the delivered position
    try await daemon.restart()
    // The position is saved at the first log sync after a start, then at most every 30 s:
    // once it is on disk, what comes next is unconfirmed there when the kill comes.
    try await waitUntil("the position saved after the restart", timeout: .seconds(10)) {
      let saved = readTextFile(daemon.folder.path("log/mqtt-delivered.seq"))?.trimmingASCIIWhitespace()
      let delivered = try await mqttStatus()?["delivered_seq"]?.numberValue
      return try await mqttStatus()?["connected"] == true && delivered.map { saved == String(Int($0)) } == true
    }
    for value in 4...8 { try await Self.inject(value, port: daemon.httpPort) }
    try await waitUntil("5 more delivered", timeout: .seconds(10)) { try await mqttStatus()?["outbox"] == 0 }
    // On disk (sync: 200ms), so they survive the kill.
    try await waitUntil("the 5 events in the log file", timeout: .seconds(10)) {
      let tail = try await daemon.cli(["log", "tail", "-n", "1", "--json"])
      return try JSON.parse(tail.output.trimmingASCIIWhitespace())["value"] == 8
    }
    daemon.kill()  // the delivered position of these 5 is not saved: they are sent again

    try await daemon.restart()
    try await waitUntil("the resent events delivered", timeout: .seconds(10)) {
      let mqtt = try await mqttStatus()
      return mqtt?["connected"] == true && mqtt?["outbox"] == 0
    }
    #expect(try await mqttStatus()?["outbox_dropped"] == 0)
    let notice = daemon.outputSinceRestart.split(separator: "\n").last { $0.contains("were not acknowledged") } ?? ""
    let resent = Int(notice.split(separator: " ").first { Int($0) != nil } ?? "") ?? -1
    #expect((5...10).contains(resent), "the 5 unconfirmed events (and the start events), not the seq gap: \(notice)")
    _ = await daemon.stop()
  }
}
