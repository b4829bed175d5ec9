import GanglionCore

/// One MQTT message, inbound or outbound.
public struct MQTTMessage: Sendable, Equatable {
  public var topic: String
  public var payload: [UInt8]
  /// 0, 1 or 2.
  public var qos: Int
  public var retain: Bool

  public init(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) {
    self.topic = topic
    self.payload = payload
    self.qos = qos
    self.retain = retain
  }

  public init(topic: String, text: String, qos: Int = 1, retain: Bool = false) {
    self.init(topic: topic, payload: Array(text.utf8), qos: qos, retain: retain)
  }

  /// The payload as UTF-8 text (invalid bytes replaced).
  public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// Files for TLS (PEM). `caFile` verifies the broker; `certFile` + `keyFile` (both or
/// neither) authenticate the client.
public struct TLSOptions: Sendable, Equatable {
  public var caFile: String
  public var certFile: String?
  public var keyFile: String?

  public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
    self.caFile = caFile
    self.certFile = certFile
    self.keyFile = keyFile
  }
}

public enum MQTTProtocolVersion: Sendable, Equatable {
  case v311
  case v5
}

/// How to reach and talk to the broker.
public struct MQTTClientOptions: Sendable {
  public var host: String
  public var port: Int
  public var clientID: String
  /// Whole seconds, 5 s to 18 h (rounded up to a second).
  public var keepalive: Duration
  public var username: String?
  public var password: String?
  public var tls: TLSOptions?
  /// Published by the broker when the connection dies without a clean stop.
  public var will: MQTTMessage?
  /// Topic filters subscribed with QoS 1 on every (re)connection.
  public var subscriptions: [String]
  public var protocolVersion: MQTTProtocolVersion
  /// Reconnect delays grow exponentially from `minimum` to `maximum`; each actual delay is
  /// drawn at random from the upper half of the current step (jitter).
  public var reconnectDelay: (minimum: Duration, maximum: Duration)
  /// At most this many QoS 1/2 messages may await the broker's acknowledgement, including
  /// those queued while disconnected; `publish` throws `queueFull` beyond it. At most 65535.
  /// Each costs its topic and payload plus about 100 bytes of memory in libmosquitto.
  public var maxPendingMessages: Int
  /// false: the broker keeps this client's subscriptions and queues its QoS 1 messages while
  /// it is away (a persistent session, keyed by `clientID`).
  public var cleanSession: Bool

  public init(
    host: String, port: Int = 1883, clientID: String, keepalive: Duration = .seconds(30),
    username: String? = nil, password: String? = nil, tls: TLSOptions? = nil, will: MQTTMessage? = nil,
    subscriptions: [String] = [], protocolVersion: MQTTProtocolVersion = .v311,
    reconnectDelay: (minimum: Duration, maximum: Duration) = (.milliseconds(100), .seconds(30)),
    maxPendingMessages: Int = 10_000, cleanSession: Bool = true
  ) {
    self.cleanSession = cleanSession
    self.host = host
    self.port = port
    self.clientID = clientID
    self.keepalive = keepalive
    self.username = username
    self.password = password
    self.tls = tls
    self.will = will
    self.subscriptions = subscriptions
    self.protocolVersion = protocolVersion
    self.reconnectDelay = reconnectDelay
    self.maxPendingMessages = maxPendingMessages
  }

  /// `host:port`, for messages.
  public var brokerAddress: String { "\(host):\(port)" }

  /// Parses a broker URL `mqtt://host[:port]` or `mqtts://host[:port]` (TLS); an IPv6 host
  /// goes in brackets (`mqtt://[::1]:1883`). The port defaults to 1883 (mqtt) or 8883
  /// (mqtts); a trailing `/` is allowed. Returns nil for anything else (other schemes, user
  /// info, paths, bad ports).
  public static func parseBrokerURL(_ url: String) -> (host: String, port: Int, usesTLS: Bool)? {
    let usesTLS: Bool
    var rest: Substring
    if url.hasPrefix("mqtt://") {
      usesTLS = false
      rest = url.dropFirst(7)
    } else if url.hasPrefix("mqtts://") {
      usesTLS = true
      rest = url.dropFirst(8)
    } else {
      return nil
    }
    if rest.hasSuffix("/") { rest = rest.dropLast() }
    guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else { return nil }
    let host: Substring
    var portText: Substring?
    if rest.hasPrefix("[") {
      guard let close = rest.firstIndex(of: "]") else { return nil }
      host = rest[rest.index(after: rest.startIndex)..<close]
      let after = rest[rest.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { return nil }
        portText = after.dropFirst()
      }
    } else {
      let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
      guard parts.count <= 2 else { return nil }
      host = parts[0]
      portText = parts.count == 2 ? parts[1] : nil
    }
    guard !host.isEmpty else { return nil }
    var port = usesTLS ? 8883 : 1883
    if let portText {
      guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let number = Int(portText), (1...65535).contains(number)
      else { return nil }
      port = number
    }
    return (String(host), port, usesTLS)
  }
}

public enum MQTTConnectionState: Sendable, Equatable {
  /// Started, first connection attempt under way.
  case connecting
  /// Connected and subscribed.
  case connected
  /// Not connected; unless stopped, the client keeps retrying. `reason` says why (with host:port).
  case disconnected(reason: String)
}

/// What went wrong, with the broker address and topic it concerns.
public enum MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Options libmosquitto would reject (port, keepalive, client id, topic filter, QoS).
  case invalidOptions(String)
  /// A TLS file can't be read, or libmosquitto refused the TLS settings.
  case tls(String)
  /// Nothing can be published to this topic (`TopicName` says why): refused before it
  /// reached libmosquitto.
  case invalidTopic(topic: String, reason: String)
  /// QoS 0 messages are not queued while disconnected.
  case notConnected(broker: String, topic: String)
  /// `maxPendingMessages` QoS 1/2 messages already await acknowledgement.
  case queueFull(broker: String, topic: String, limit: Int)
  /// The client was stopped (or stop is in progress).
  case stopped(broker: String)
  /// A libmosquitto call failed: the call, its error code (MOSQ_ERR_*), the error text
  /// (errno's text for MOSQ_ERR_ERRNO) and what it concerned.
  case library(call: String, code: Int32, message: String, context: String)

  public var description: String {
    switch self {
    case .invalidOptions(let message): "invalid MQTT options: \(message)"
    case .tls(let message): "MQTT TLS: \(message)"
    case .invalidTopic(let topic, let reason): "cannot publish to \"\(TopicName.display(topic))\": \(reason)"
    case .notConnected(let broker, let topic):
      "cannot publish QoS 0 to '\(topic)': not connected to \(broker)"
    case .queueFull(let broker, let topic, let limit):
      "cannot publish to '\(topic)': \(limit) messages already await acknowledgement from \(broker)"
    case .stopped(let broker): "MQTT client for \(broker) is stopped"
    case .library(let call, _, let message, let context): "\(call) (\(context)): \(message)"
    }
  }
}
