import GanglionMQTT
import GanglionTestSupport
import Testing

/// The client behind a `TCPProxy` that cuts or freezes the network.
@Suite struct NetworkFaultTests {
  @Test func proxyForwardsAndCutResetsConnections() async throws {
    let broker = try await MosquittoBroker()
    let proxy = try TCPProxy(targetPort: broker.port)
    let (client, recorder) = try makeClient(broker, label: "cut", subscriptions: ["ganglion/cut/#"], port: proxy.port)
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)
    #expect(proxy.connectionCount == 1)

    await proxy.cut()
    try await waitUntil("reconnected after the cut") { recorder.connectionCount == 2 && client.isConnected }
    guard let lost = recorder.stateHistory.first(where: { if case .disconnected = $0 { true } else { false } }),
      case .disconnected(let reason) = lost
    else {
      Issue.record("no disconnect reported: \(recorder.stateHistory)")
      return
    }
    #expect(reason.contains("\(proxy.port)"), "\(reason)")
    try client.publish(MQTTMessage(topic: "ganglion/cut/after", text: "still here", qos: 1))
    let received = try await waitFor("message after the cut") { recorder.messages.first }
    #expect(received.text == "still here")
  }

  @Test func willIsPublishedWhenTheNetworkIsCut() async throws {
    let broker = try await MosquittoBroker()
    let proxy = try TCPProxy(targetPort: broker.port)
    let (observer, observed) = try makeClient(broker, label: "cut-observer", subscriptions: ["ganglion/dev/status"])
    defer { observer.stop(finalMessage: nil) }
    try await startAndWaitConnected(observer)
    let (client, _) = try makeClient(
      broker, label: "cut-device", will: MQTTMessage(topic: "ganglion/dev/status", text: "offline", retain: true),
      port: proxy.port)
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)

    await proxy.cut()
    let will = try await waitFor("the will") { observed.messages.first }
    #expect(will.text == "offline")
  }

  @Test func frozenNetworkIsDetectedByKeepaliveAndRecovers() async throws {
    let broker = try await MosquittoBroker()
    let proxy = try TCPProxy(targetPort: broker.port)
    let recorder = Recorder()
    let options = MQTTClientOptions(
      host: proxy.host, port: proxy.port, clientID: uniqueClientID("frozen"), keepalive: .seconds(5),
      subscriptions: ["ganglion/frozen/#"], reconnectDelay: (.milliseconds(50), .milliseconds(200)))
    let client = try MQTTClient(
      options: options, onMessage: { recorder.record($0) }, onStateChange: { recorder.record($0) })
    defer { client.stop(finalMessage: nil) }
    try await startAndWaitConnected(client)

    await proxy.freeze()
    // No bytes move and no socket closes: only the keepalive (5 s, PINGRESP due within another 5 s)
    // can tell.
    try await waitUntil("keepalive noticed the dead link", timeout: .seconds(15)) { !client.isConnected }
    await proxy.resume()
    try await waitUntil("reconnected", timeout: .seconds(5)) { client.isConnected }
    try client.publish(MQTTMessage(topic: "ganglion/frozen/after", text: "thawed", qos: 1))
    let received = try await waitFor("message after recovery") { recorder.messages.first }
    #expect(received.text == "thawed")
  }
}
