import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Synchronization
import Testing

@testable import GanglionDaemon

/// An MQTT message is handled on the network thread when the pipeline is idle, and queued
/// behind the pipeline's own work when it is busy (Pipeline.handleOrQueue). Either way, inputs
/// must be handled in the order they arrived.
@Suite struct MQTTInlineHandlingTests {
  static func config(brokerURL: String, withRules: Bool = false, sync: String = "200ms") -> String {
    """
    device: test-pi
    signals:
      bench.level:
        mqtt: { topic: sensors/level, type: number }
      other.level:
        mqtt: { topic: sensors/other, type: number }
    mqtt:
      url: \(brokerURL)
    \(withRules ? "rules: rules.yaml" : "")
    log:
      dir: log
      sync: \(sync)
    http:
      listen: 127.0.0.1:HTTP_PORT
    """
  }

  @Test func messagesKeepTheirOrderWhetherHandledInlineOrQueuedBehindOtherWork() async throws {
    let broker = try await MosquittoBroker()
    let daemon = try await DaemonHarness(config: Self.config(brokerURL: broker.url))
    try await daemon.waitForBroker()
    let publisher = try await connectedPublisher(broker, label: "inline-publisher")
    defer { publisher.stop(finalMessage: nil) }

    // One at a time, each message finds the pipeline idle and is handled inline.
    let total = 3000
    let oneByOne = 20
    for value in 1...oneByOne {
      try publisher.publish(MQTTMessage(topic: "sensors/level", text: String(value), qos: 1))
      try await waitUntil("message \(value) to be handled", timeout: .seconds(10)) {
        try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["signals"]?["bench.level"]?["value"]
          == .number(Double(value))
      }
    }
    // Then a burst, while HTTP injections keep the pipeline's own thread busy: messages that
    // find it working queue behind it.
    final class Flag: Sendable { let raised = Atomic<Bool>(true) }
    let publishing = Flag()
    let injections = Task {
      var injected = 0
      while publishing.raised.load(ordering: .acquiring) || injected < 50 {
        injected += 1
        let query = [("signal", "other.level"), ("value", String(injected))]
        let reply = try await offThePool {
          try HTTPClient.request(
            method: "POST", host: "127.0.0.1", port: daemon.httpPort, path: "/inject", query: query)
        }
        guard reply.status == 202 else { throw TestSupportError("inject: \(reply.status) \(reply.body)") }
      }
      return injected
    }
    // QoS 1: the broker forwards one publisher's messages in order and drops none (and
    // `total` is well under the client's 10,000 unacknowledged messages).
    for value in (oneByOne + 1)...total {
      try publisher.publish(MQTTMessage(topic: "sensors/level", text: String(value), qos: 1))
    }
    try await waitUntil("the last message to be handled", timeout: .seconds(30)) {
      try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["signals"]?["bench.level"]?["value"]
        == .number(Double(total))
    }
    publishing.raised.store(false, ordering: .releasing)
    let injected = try await injections.value
    try await waitUntil("the last injection to be handled", timeout: .seconds(30)) {
      try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["signals"]?["other.level"]?["value"]
        == .number(Double(injected))
    }
    let counters = try #require(
      try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["counters"])
    // A clean stop writes out what the log still buffers.
    #expect(await daemon.stop() == .exited(code: 0))

    let tail = try await daemon.cli(["log", "tail", "-n", String(total + injected + 100), "--json"])
    #expect(tail.code == 0, "\(tail.output)")
    let events = tail.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    func firstDifference(_ signal: String, _ expected: [Double]) -> String? {
      let values = events.filter { $0["signal"] == .string(signal) }.compactMap { $0["value"]?.numberValue }
      if let index = zip(values, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
        return "\(signal): input \(index) was \(values[index]), sent \(expected[index])"
      }
      return values.count == expected.count ? nil : "\(signal): \(values.count) inputs, sent \(expected.count)"
    }
    #expect(firstDifference("bench.level", (1...total).map(Double.init)) == nil)
    #expect(firstDifference("other.level", (1...injected).map(Double.init)) == nil)

    let inline = try #require(counters["mqtt_messages_inline"]?.numberValue)
    let queued = try #require(counters["mqtt_messages_queued"]?.numberValue)
    #expect(inline + queued == Double(total))
    #expect(inline > 0 && queued > 0, "both ways must have been taken: \(inline) inline, \(queued) queued")
    #expect(counters["input_queue_drops"] == 0)
  }

  /// A message handled inline that starts a countdown must wake the pipeline's thread, which
  /// may be asleep until its next log sync (here 10 s away), so the countdown ends on time.
  @Test func aCountdownStartedByAnInlineMessageEndsOnTime() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "alerts/#")
    // QoS 0: no acknowledgements arrive to wake the pipeline's thread either.
    let config = Self.config(brokerURL: broker.url, withRules: true, sync: "10s")
      .replacing("  url: \(broker.url)", with: "  url: \(broker.url)\n  qos: 0")
    let rules = """
      rules:
        - name: level-high
          when: bench.level > 10
          for: 100ms
          do:
            - publish: { topic: alerts/level, payload: "high" }
      """
    let daemon = try await DaemonHarness(config: config, files: ["rules.yaml": rules])
    try await daemon.waitForBroker()
    try await broker.publish(topic: "sensors/level", text: "20")
    // Far less than the 10 s the pipeline's thread would otherwise sleep.
    #expect(try await observer.wait(for: "alerts/level", timeout: .seconds(4)).text == "high")
    let counters = try #require(try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["counters"])
    #expect(counters["mqtt_messages_inline"] == 1, "the message must have been handled inline: \(counters)")
    _ = await daemon.stop()
  }
}
