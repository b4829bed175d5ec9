import GanglionTestSupport
import Synchronization
import Testing

@testable import GanglionMQTT

@Suite struct MQTTClientEdgeTests {
  @Test func backoffDoublesWithinJitterUpToTheMaximum() {
    let backoff = ReconnectBackoff(minimum: .milliseconds(100), maximum: .seconds(30))
    #expect(backoff.delay(afterFailures: 0, random: 1) == .milliseconds(100))
    #expect(backoff.delay(afterFailures: 0, random: 0) == .milliseconds(50))
    #expect(backoff.delay(afterFailures: 3, random: 1) == .milliseconds(800))
    #expect(backoff.delay(afterFailures: 9, random: 1) == .seconds(30))
    #expect(backoff.delay(afterFailures: 1000, random: 0.5) == .milliseconds(22_500))
  }

  @Test func onlyAHealthyConnectionResetsTheBackoff() {
    var backoff = ReconnectBackoff(minimum: .milliseconds(100), maximum: .seconds(30))
    let start = ContinuousClock.now
    #expect(backoff.nextDelay(at: start, random: 1) == .milliseconds(100))
    #expect(backoff.nextDelay(at: start, random: 1) == .milliseconds(200))
    // Connected, and dropped after one second: keep backing off.
    backoff.connectionEstablished(at: start)
    #expect(backoff.nextDelay(at: start + .seconds(1), random: 1) == .milliseconds(400))
    // Connected for a minute: start over.
    backoff.connectionEstablished(at: start + .seconds(2))
    #expect(backoff.nextDelay(at: start + .seconds(62), random: 1) == .milliseconds(100))
  }

  @Test func pendingQueueIsBoundedAndDrainsInOrderAfterReconnect() async throws {
    let broker = try await MosquittoBroker()
    await broker.stop()
    let (client, _) = try makeClient(broker, label: "bounded", maxPendingMessages: 3)
    defer { client.stop(finalMessage: nil) }
    try client.start()
    for index in 1...3 {
      try client.publish(MQTTMessage(topic: "ganglion/q/\(index)", text: "\(index)", qos: 1, retain: true))
    }
    #expect(throws: MQTTError.queueFull(broker: client.options.brokerAddress, topic: "ganglion/q/4", limit: 3)) {
      try client.publish(MQTTMessage(topic: "ganglion/q/4", text: "4", qos: 1))
    }

    try await broker.restart()
    try await waitUntil("queue drained") { client.pendingMessageCount == 0 }
    try client.publish(MQTTMessage(topic: "ganglion/q/4", text: "4", qos: 1, retain: true))
    let (observer, recorder) = try makeClient(broker, label: "bounded-observer", subscriptions: ["ganglion/q/#"])
    defer { observer.stop(finalMessage: nil) }
    try observer.start()
    try await waitUntil("4 retained messages") { recorder.messages.count == 4 }
    #expect(Set(recorder.messages.map(\.text)) == ["1", "2", "3", "4"])
  }

  @Test func messagesPublishedBeforeStartKeepTheirRetainFlag() async throws {
    // libmosquitto 2.0.11 drops the retain flag of messages published before its first
    // connect call; the client holds them back until then.
    let broker = try await MosquittoBroker()
    let acknowledged = Mutex<[Int32]>([])
    let options = MQTTClientOptions(host: broker.host, port: broker.port, clientID: uniqueClientID("early"))
    let client = try MQTTClient(
      options: options, onMessage: { _ in }, onStateChange: { _ in },
      onAcknowledged: { id in acknowledged.withLock { $0.append(id) } })
    defer { client.stop(finalMessage: nil) }
    let first = try client.publish(MQTTMessage(topic: "ganglion/early/1", text: "a", qos: 1, retain: true))
    let second = try client.publish(MQTTMessage(topic: "ganglion/early/2", text: "b", qos: 1, retain: true))
    #expect(client.pendingMessageCount == 2)
    try await startAndWaitConnected(client)
    let third = try client.publish(MQTTMessage(topic: "ganglion/early/3", text: "c", qos: 1))
    try await waitUntil("acknowledged") { client.pendingMessageCount == 0 }
    #expect([first, second, third] == [1, 2, 3])
    #expect(acknowledged.withLock { $0 } == [1, 2, 3])

    let (observer, recorder) = try makeClient(broker, label: "early-observer", subscriptions: ["ganglion/early/#"])
    defer { observer.stop(finalMessage: nil) }
    try observer.start()
    try await waitUntil("2 retained messages") { recorder.messages.count == 2 }
    #expect(recorder.messages.allSatisfy { $0.retain })
    #expect(recorder.messages.map(\.text).sorted() == ["a", "b"])
  }

  @Test func deliversManyQoS1MessagesInOrder() async throws {
    let broker = try await MosquittoBroker()
    let (subscriber, recorder) = try makeClient(broker, label: "order-sub", subscriptions: ["ganglion/seq"])
    let (publisher, _) = try makeClient(broker, label: "order-pub")
    defer {
      subscriber.stop(finalMessage: nil)
      publisher.stop(finalMessage: nil)
    }
    try await startAndWaitConnected(subscriber)
    try await startAndWaitConnected(publisher)
    let count = 5000
    for index in 0..<count { try publisher.publish(MQTTMessage(topic: "ganglion/seq", text: "\(index)", qos: 1)) }
    try await waitUntil("\(count) messages", timeout: .seconds(10)) { recorder.messages.count >= count }
    #expect(recorder.messages.map(\.text) == (0..<count).map { "\($0)" })
    try await waitUntil("all acknowledged") { publisher.pendingMessageCount == 0 }
  }

  @Test func stopFromACallbackDoesNotDeadlock() async throws {
    let broker = try await MosquittoBroker()
    let clientBox = Mutex<MQTTClient?>(nil)
    let states = Recorder()
    let options = MQTTClientOptions(
      host: broker.host, port: broker.port, clientID: uniqueClientID("self-stop"),
      subscriptions: ["ganglion/stop"])
    let client = try MQTTClient(
      options: options,
      onMessage: { message in
        let client = clientBox.withLock { $0 }
        client?.stop(finalMessage: MQTTMessage(topic: "ganglion/stopped", text: message.text, retain: true))
      },
      onStateChange: { states.record($0) })
    clientBox.withLock { $0 = client }
    defer { clientBox.withLock { $0 = nil } }
    try await startAndWaitConnected(client)
    try client.publish(MQTTMessage(topic: "ganglion/stop", text: "bye", qos: 1))
    try await waitUntil("stopped") { client.state == .disconnected(reason: "stopped") }
    #expect(states.stateHistory == [.connecting, .connected, .disconnected(reason: "stopped")])
    // The final message queued from inside the callback still reached the broker.
    let (observer, recorder) = try makeClient(broker, label: "self-stop-observer", subscriptions: ["ganglion/stopped"])
    defer { observer.stop(finalMessage: nil) }
    try observer.start()
    let final = try await waitFor("final message") { recorder.messages.first }
    #expect(final.text == "bye")
  }

  @Test func stopReturnsPromptlyDuringALongReconnectDelay() async throws {
    let broker = try await MosquittoBroker()
    await broker.stop()
    let recorder = Recorder()
    let options = MQTTClientOptions(
      host: broker.host, port: broker.port, clientID: uniqueClientID("slow-backoff"),
      reconnectDelay: (.seconds(10), .seconds(30)))
    let client = try MQTTClient(
      options: options, onMessage: { recorder.record($0) }, onStateChange: { recorder.record($0) })
    try client.start()
    // After the first refusal the network thread sleeps 5-10 s before the next attempt.
    try await waitUntil("first refusal") { recorder.stateHistory.count >= 2 }
    let elapsed = ContinuousClock().measure { client.stop(finalMessage: nil) }
    #expect(elapsed < .milliseconds(500), "stop took \(elapsed)")
    #expect(client.state == .disconnected(reason: "stopped"))
  }

  @Test(arguments: [MQTTProtocolVersion.v311, .v5])
  func usernameAndPasswordAreSentAndRefusalIsReported(version: MQTTProtocolVersion) async throws {
    let files = try TemporaryDirectory()
    let passwordFile = files.path("passwords")
    try await ChildProcess.run("mosquitto_passwd", ["-c", "-b", passwordFile, "hallway", "s3cret"])
    let broker = try await MosquittoBroker(extraConfiguration: [
      "allow_anonymous false", "password_file \(passwordFile)",
    ])

    func client(password: String) throws -> (MQTTClient, Recorder) {
      let recorder = Recorder()
      let options = MQTTClientOptions(
        host: broker.host, port: broker.port, clientID: uniqueClientID("auth"), username: "hallway",
        password: password, protocolVersion: version, reconnectDelay: (.milliseconds(50), .milliseconds(200)))
      let client = try MQTTClient(
        options: options, onMessage: { recorder.record($0) }, onStateChange: { recorder.record($0) })
      return (client, recorder)
    }
    let (good, _) = try client(password: "s3cret")
    defer { good.stop(finalMessage: nil) }
    try await startAndWaitConnected(good)

    let (bad, recorder) = try client(password: "wrong")
    defer { bad.stop(finalMessage: nil) }
    try bad.start()
    let reason = try await waitFor("refusal") { () -> String? in
      guard case .disconnected(let reason) = bad.state else { return nil }
      return reason
    }
    #expect(reason.lowercased().contains("not authori"), "\(reason)")
    #expect(!recorder.stateHistory.contains(.connected))
  }

  @Test func connectsOverTLSAndRejectsAnUnknownCA() async throws {
    let pki = try await TestPKI.make()
    let broker = try await MosquittoBroker(extraConfiguration: [
      "cafile \(pki.caFile)", "certfile \(pki.serverCertFile)", "keyfile \(pki.serverKeyFile)",
    ])

    func client(caFile: String) throws -> (MQTTClient, Recorder) {
      let recorder = Recorder()
      let options = MQTTClientOptions(
        host: broker.host, port: broker.port, clientID: uniqueClientID("tls"), tls: TLSOptions(caFile: caFile),
        subscriptions: ["ganglion/tls"], reconnectDelay: (.milliseconds(50), .milliseconds(200)))
      let client = try MQTTClient(
        options: options, onMessage: { recorder.record($0) }, onStateChange: { recorder.record($0) })
      return (client, recorder)
    }
    let (trusted, messages) = try client(caFile: pki.caFile)
    defer { trusted.stop(finalMessage: nil) }
    try await startAndWaitConnected(trusted)
    try trusted.publish(MQTTMessage(topic: "ganglion/tls", text: "secret", qos: 1))
    let received = try await waitFor("message over TLS") { messages.messages.first }
    #expect(received.text == "secret")

    let (untrusted, recorder) = try client(caFile: pki.otherCAFile)
    defer { untrusted.stop(finalMessage: nil) }
    try untrusted.start()
    let reason = try await waitFor("a failed TLS attempt") { () -> String? in
      guard case .disconnected(let reason) = untrusted.state else { return nil }
      return reason
    }
    #expect(!recorder.stateHistory.contains(.connected))
    #expect(reason.contains("TLS"), "\(reason)")
  }
}

/// The C funnel never hands libmosquitto a string it would cut at a NUL (issue 10): a topic
/// with a NUL inside is refused whole, as are wildcards and the other invalid topic names, and
/// nothing reaches the topic before the NUL.
@Suite struct TopicFunnelTests {
  @Test func aTopicWithANULIsRefusedAndNothingReachesItsPrefix() async throws {
    let broker = try await MosquittoBroker()
    let (observer, recorder) = try makeClient(broker, label: "nul-observer", subscriptions: ["#"])
    defer { observer.stop(finalMessage: nil) }
    try await startAndWaitConnected(observer)
    let (client, _) = try makeClient(broker, label: "nul-publisher")
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)

    for qos in [0, 1] {
      for topic in ["victim/set\u{0}/tail", "a/+/b", "a/#", "", "tab\u{9}topic", String(repeating: "x", count: 65_536)]
      {
        #expect(throws: MQTTError.self, "qos \(qos), \(topic.prefix(20))") {
          try client.publish(MQTTMessage(topic: topic, text: "on", qos: qos))
        }
      }
    }
    // The options refuse NUL bytes too: libmosquitto would see them cut short.
    #expect(throws: MQTTError.invalidOptions("the username holds a NUL byte")) {
      _ = try MQTTClient(
        options: MQTTClientOptions(host: broker.host, port: broker.port, clientID: "x", username: "user\u{0}x"),
        onMessage: { _ in }, onStateChange: { _ in })
    }
    try client.publish(MQTTMessage(topic: "after", text: "done", qos: 1))
    try await waitUntil("the message after them") { !recorder.messages(on: "after").isEmpty }
    #expect(recorder.messages.filter { $0.topic.hasPrefix("victim") }.isEmpty, "\(recorder.messages.map(\.topic))")
  }
}
