import GanglionMQTT
import GanglionTestSupport
import Testing

@Suite struct MQTTClientTests {
  @Test(arguments: [0, 1])
  func roundTripsThroughTheBroker(qos: Int) async throws {
    let broker = try await MosquittoBroker()
    let (client, recorder) = try makeClient(broker, label: "roundtrip", subscriptions: ["ganglion/test/#"])
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)

    let sent = MQTTMessage(topic: "ganglion/test/lux", payload: [0, 1, 2, 255], qos: qos)
    try client.publish(sent)
    let received = try await waitFor("message on \(sent.topic)") { recorder.messages(on: sent.topic).first }
    #expect(received.payload == sent.payload)
    #expect(received.qos == qos)
    #expect(!received.retain)
    #expect(recorder.stateHistory == [.connecting, .connected])
  }

  @Test func receivesFromOtherClientsOnlyWhatItSubscribed() async throws {
    let broker = try await MosquittoBroker()
    let (subscriber, recorder) = try makeClient(
      broker, label: "sub", subscriptions: ["sensors/+/lux", "zigbee2mqtt/#"])
    let (publisher, _) = try makeClient(broker, label: "pub")
    defer {
      subscriber.stop(finalMessage: nil)
      publisher.stop(finalMessage: nil)
    }
    try await startAndWaitConnected(subscriber)
    try await startAndWaitConnected(publisher)

    // `.connected` means subscribed: a message published right away must arrive.
    for topic in ["sensors/hallway/lux", "sensors/hallway/temp", "zigbee2mqtt/doorbell/action", "other"] {
      try publisher.publish(MQTTMessage(topic: topic, text: "v-\(topic)", qos: 1))
    }
    try publisher.publish(MQTTMessage(topic: "zigbee2mqtt/end", text: "end", qos: 1))
    try await waitUntil("the last message") { !recorder.messages(on: "zigbee2mqtt/end").isEmpty }
    #expect(
      recorder.messages.map(\.topic) == ["sensors/hallway/lux", "zigbee2mqtt/doorbell/action", "zigbee2mqtt/end"])
    #expect(recorder.messages.first?.text == "v-sensors/hallway/lux")
  }

  @Test func laterSubscriberSeesRetainedMessage() async throws {
    let broker = try await MosquittoBroker()
    let (publisher, _) = try makeClient(broker, label: "retain-pub")
    defer { publisher.stop(finalMessage: nil) }
    try await startAndWaitConnected(publisher)
    try publisher.publish(MQTTMessage(topic: "ganglion/dev/state/lux", text: "42", qos: 1, retain: true))
    try await waitUntil("broker acknowledged the retained message") { publisher.pendingMessageCount == 0 }

    let (late, recorder) = try makeClient(broker, label: "retain-sub", subscriptions: ["ganglion/dev/state/#"])
    defer { late.stop(finalMessage: nil) }
    try late.start()
    let received = try await waitFor("retained message") { recorder.messages.first }
    #expect(received.topic == "ganglion/dev/state/lux")
    #expect(received.text == "42")
    #expect(received.retain)
  }

  @Test func cleanStopPublishesFinalMessageAndNotTheWill() async throws {
    let broker = try await MosquittoBroker()
    let statusTopic = "ganglion/dev/status"
    let (observer, observed) = try makeClient(broker, label: "observer", subscriptions: [statusTopic])
    defer { observer.stop(finalMessage: nil) }
    try await startAndWaitConnected(observer)

    let (client, _) = try makeClient(
      broker, label: "device", will: MQTTMessage(topic: statusTopic, text: "lost", qos: 1, retain: true))
    try await startAndWaitConnected(client)
    try client.publish(MQTTMessage(topic: statusTopic, text: "online", qos: 1, retain: true))
    client.stop(finalMessage: MQTTMessage(topic: statusTopic, text: "offline", qos: 1, retain: true))

    #expect(client.state == .disconnected(reason: "stopped"))
    #expect(throws: MQTTError.stopped(broker: broker.host + ":\(broker.port)")) {
      try client.publish(MQTTMessage(topic: statusTopic, text: "late"))
    }
    // stop() returned after the broker acknowledged "offline": it is there for new subscribers.
    let (late, lateRecorder) = try makeClient(broker, label: "late", subscriptions: [statusTopic])
    defer { late.stop(finalMessage: nil) }
    try late.start()
    let retained = try await waitFor("retained status") { lateRecorder.messages.first }
    #expect(retained.text == "offline")

    // A marker sent after the stop arrives after anything the stop caused: no will among them.
    try observer.publish(MQTTMessage(topic: statusTopic, text: "marker", qos: 1))
    try await waitUntil("marker") { observed.messages.contains { $0.text == "marker" } }
    #expect(observed.messages.map(\.text) == ["online", "offline", "marker"])
  }

  @Test func willIsPublishedWhenTheConnectionDiesUncleanly() async throws {
    let broker = try await MosquittoBroker()
    let statusTopic = "ganglion/dev/status"
    let (observer, observed) = try makeClient(broker, label: "observer", subscriptions: [statusTopic])
    defer { observer.stop(finalMessage: nil) }
    try await startAndWaitConnected(observer)

    let clientID = uniqueClientID("device")
    let (client, _) = try makeClient(
      broker, label: "device", will: MQTTMessage(topic: statusTopic, text: "lost", qos: 1, retain: true),
      clientID: clientID)
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)

    // Another connection with the same client id makes the broker drop ours without a
    // DISCONNECT from us: exactly what it sees when a device loses power.
    let intruder = try ChildProcess(
      executable: "mosquitto_sub",
      arguments: ["-h", broker.host, "-p", "\(broker.port)", "-i", clientID, "-t", "unused/topic"])
    defer { intruder.kill() }
    let will = try await waitFor("the will") { observed.messages.first { $0.text == "lost" } }
    #expect(will.topic == statusTopic)
  }

  @Test func connectsOnceTheBrokerComesUp() async throws {
    let broker = try await MosquittoBroker()
    await broker.stop()
    let (client, recorder) = try makeClient(broker, label: "late-broker", subscriptions: ["ganglion/test/#"])
    defer { client.stop(finalMessage: nil) }
    try client.start()
    try await waitUntil("a failed attempt") { !recorder.stateHistory.dropFirst().isEmpty }
    guard case .disconnected(let reason) = recorder.stateHistory[1] else {
      Issue.record("expected disconnected, got \(recorder.stateHistory)")
      return
    }
    #expect(reason.contains("\(broker.port)") && reason.contains("refused"), "\(reason)")
    #expect(!client.isConnected)
    // QoS 0 is not queued while disconnected; QoS 1 is.
    #expect(throws: MQTTError.self) { try client.publish(MQTTMessage(topic: "ganglion/test/q0", text: "x", qos: 0)) }
    try client.publish(MQTTMessage(topic: "ganglion/test/q1", text: "queued", qos: 1, retain: true))
    #expect(client.pendingMessageCount == 1)

    try await broker.restart()
    try await waitUntil("connected after broker start") { client.isConnected }
    let queued = try await waitFor("queued message") { recorder.messages(on: "ganglion/test/q1").first }
    #expect(queued.text == "queued")
    try await waitUntil("queued message acknowledged") { client.pendingMessageCount == 0 }
  }

  @Test func reconnectsAndResubscribesAfterBrokerRestart() async throws {
    let broker = try await MosquittoBroker()
    let (client, recorder) = try makeClient(broker, label: "restart", subscriptions: ["ganglion/test/#"])
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)

    await broker.stop()
    try await waitUntil("disconnect noticed") { !client.isConnected }
    try await broker.restart()
    try await waitUntil("reconnected") { client.isConnected }

    // A fresh broker knows nothing of earlier subscriptions: receiving proves re-subscription.
    let (publisher, _) = try makeClient(broker, label: "restart-pub")
    defer { publisher.stop(finalMessage: nil) }
    try await startAndWaitConnected(publisher)
    try publisher.publish(MQTTMessage(topic: "ganglion/test/after", text: "again", qos: 1))
    let received = try await waitFor("message after restart") { recorder.messages(on: "ganglion/test/after").first }
    #expect(received.text == "again")
    #expect(recorder.connectionCount == 2)
  }

  @Test func stopIsIdempotentAndWorksBeforeStart() async throws {
    let broker = try await MosquittoBroker()
    let (idle, _) = try makeClient(broker, label: "idle")
    idle.stop(finalMessage: MQTTMessage(topic: "a", text: "b"))
    #expect(throws: MQTTError.self) { try idle.start() }

    let (client, recorder) = try makeClient(broker, label: "twice")
    try await startAndWaitConnected(client)
    client.stop(finalMessage: nil)
    client.stop(finalMessage: nil)
    #expect(recorder.stateHistory == [.connecting, .connected, .disconnected(reason: "stopped")])
  }

  @Test func worksWithMQTT5() async throws {
    let broker = try await MosquittoBroker()
    let (client, recorder) = try makeClient(
      broker, label: "v5", subscriptions: ["ganglion/v5/#"], protocolVersion: .v5)
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)
    try client.publish(MQTTMessage(topic: "ganglion/v5/x", text: "five", qos: 1))
    let received = try await waitFor("v5 message") { recorder.messages.first }
    #expect(received.text == "five")
    #expect(broker.log.contains("(p5,"))
  }

  @Test func rejectsInvalidOptions() throws {
    func options(_ change: (inout MQTTClientOptions) -> Void) -> MQTTClientOptions {
      var options = MQTTClientOptions(host: "127.0.0.1", port: 1883, clientID: "x")
      change(&options)
      return options
    }
    let invalid: [MQTTClientOptions] = [
      options { $0.port = 0 },
      options { $0.clientID = "" },
      options { $0.keepalive = .seconds(1) },
      options { $0.subscriptions = ["a/#/b"] },
      options { $0.will = MQTTMessage(topic: "a/+", text: "x") },
    ]
    for option in invalid {
      #expect(throws: MQTTError.self) {
        _ = try MQTTClient(options: option, onMessage: { _ in }, onStateChange: { _ in })
      }
    }
  }

  @Test func unreadableCAFileIsATLSError() throws {
    var options = MQTTClientOptions(host: "127.0.0.1", clientID: "tls")
    options.tls = TLSOptions(caFile: "/nonexistent/ca.pem")
    do {
      _ = try MQTTClient(options: options, onMessage: { _ in }, onStateChange: { _ in })
      Issue.record("expected a TLS error")
    } catch {
      guard case .tls(let message) = error else {
        Issue.record("expected .tls, got \(error)")
        return
      }
      #expect(message.contains("/nonexistent/ca.pem") && message.contains("No such file"))
    }
  }
}

/// MQTTStreamingClient: the client's callbacks bridged into bounded async streams.
@Suite struct MQTTStreamingClientTests {
  static func options(_ broker: MosquittoBroker, _ label: String, subscriptions: [String] = []) -> MQTTClientOptions {
    MQTTClientOptions(
      host: broker.host, port: broker.port, clientID: uniqueClientID(label), subscriptions: subscriptions,
      reconnectDelay: (.milliseconds(20), .milliseconds(200)))
  }

  @Test func messagesAndStatesArriveInOrderThroughForAwait() async throws {
    let broker = try await MosquittoBroker()
    let subscriber = try MQTTStreamingClient(options: Self.options(broker, "stream-sub", subscriptions: ["s/#"]))
    try subscriber.start()
    var states = subscriber.states.makeAsyncIterator()
    #expect(await states.next() == .connecting)
    #expect(await states.next() == .connected)

    let (publisher, _) = try makeClient(broker, label: "stream-pub")
    defer { publisher.stop(finalMessage: nil) }
    try await startAndWaitConnected(publisher)
    for n in 1...50 { try publisher.publish(MQTTMessage(topic: "s/\(n % 3)", text: String(n), qos: 1)) }

    var received: [String] = []
    for await message in subscriber.messages {
      received.append(message.text)
      if received.count == 50 { break }
    }
    #expect(received == (1...50).map(String.init))
    #expect(subscriber.droppedMessages == 0)
    subscriber.stop()  // brief: the network thread ends at once
    #expect(await states.next() == .disconnected(reason: "stopped"))
    #expect(await states.next() == nil, "the state stream ends after stop")
  }

  @Test func aReaderThatFallsBehindLosesTheNewestAndTheyAreCounted() async throws {
    let broker = try await MosquittoBroker()
    let subscriber = try MQTTStreamingClient(
      options: Self.options(broker, "stream-slow", subscriptions: ["slow/#"]), bufferLimit: 5)
    try await startAndWaitConnected(subscriber.client)
    let (publisher, _) = try makeClient(broker, label: "stream-fast")
    defer { publisher.stop(finalMessage: nil) }
    try await startAndWaitConnected(publisher)

    // Nobody reads while 20 messages arrive: 5 wait, 15 are dropped, none blocks the client.
    for n in 1...20 { try publisher.publish(MQTTMessage(topic: "slow/x", text: String(n), qos: 1)) }
    try await waitUntil("15 messages dropped") { subscriber.droppedMessages == 15 }
    #expect(subscriber.client.isConnected)
    subscriber.stop()  // brief: the network thread ends at once
    var kept: [String] = []
    for await message in subscriber.messages { kept.append(message.text) }
    #expect(kept == ["1", "2", "3", "4", "5"])
  }
}
