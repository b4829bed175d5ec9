import GanglionMQTT
import GanglionTestSupport
import Synchronization

/// Collects what a client's callbacks report, for assertions from the test's thread.
final class Recorder: Sendable {
  private let received = Mutex<[MQTTMessage]>([])
  private let states = Mutex<[MQTTConnectionState]>([])

  var messages: [MQTTMessage] { received.withLock { $0 } }
  var stateHistory: [MQTTConnectionState] { states.withLock { $0 } }

  func record(_ message: MQTTMessage) { received.withLock { $0.append(message) } }
  func record(_ state: MQTTConnectionState) { states.withLock { $0.append(state) } }

  func messages(on topic: String) -> [MQTTMessage] { messages.filter { $0.topic == topic } }

  /// How many times the client reported `.connected`.
  var connectionCount: Int { stateHistory.filter { $0 == .connected }.count }
}

/// A client id no other test uses.
func uniqueClientID(_ label: String) -> String {
  "test-\(label)-\(UInt32.random(in: 0...UInt32.max))"
}

/// A client for `broker` with fast reconnects, recording into a new `Recorder`.
func makeClient(
  _ broker: MosquittoBroker, label: String, subscriptions: [String] = [], will: MQTTMessage? = nil,
  clientID: String? = nil, port: Int? = nil, protocolVersion: MQTTProtocolVersion = .v311,
  maxPendingMessages: Int = 10_000
) throws -> (MQTTClient, Recorder) {
  let recorder = Recorder()
  let options = MQTTClientOptions(
    host: broker.host, port: port ?? broker.port, clientID: clientID ?? uniqueClientID(label),
    keepalive: .seconds(10), will: will, subscriptions: subscriptions, protocolVersion: protocolVersion,
    reconnectDelay: (.milliseconds(20), .milliseconds(200)), maxPendingMessages: maxPendingMessages)
  let client = try MQTTClient(
    options: options, onMessage: { recorder.record($0) }, onStateChange: { recorder.record($0) })
  return (client, recorder)
}

/// Starts `client` and waits until it is connected and subscribed.
func startAndWaitConnected(_ client: MQTTClient, timeout: Duration = .seconds(5)) async throws {
  try client.start()
  try await waitUntil("client connected to \(client.options.brokerAddress)", timeout: timeout) { client.isConnected }
}
