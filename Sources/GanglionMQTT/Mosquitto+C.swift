import CMosquitto
import GanglionCore
import GanglionSystem
import Glibc

// The only file that calls mosquitto_*. Every call's result is checked here and turned into
// Swift values or a typed `MQTTError`; errno is read right after the call that set it.

/// What libmosquitto's network thread reports, in Swift terms.
enum MosquittoEvent {
  /// CONNACK accepted.
  case connected
  /// CONNACK refused, with the broker's reason.
  case connectRefused(reason: String)
  /// The connection ended (or a pending connection failed). `requested` if we disconnected.
  case disconnected(reason: String, requested: Bool)
  /// QoS 0 sent, or QoS 1/2 acknowledged.
  case published(messageID: Int32)
  /// SUBACK for a `subscribe`; `refusedCount` filters were refused by the broker.
  case subscribed(messageID: Int32, refusedCount: Int)
  case message(MQTTMessage)
}

/// Receives `MosquittoEvent`s on libmosquitto's network thread. Must stay alive while the
/// handle can run callbacks (the network thread keeps it alive).
protocol MosquittoEventHandler: AnyObject, Sendable {
  func handle(_ event: MosquittoEvent)
}

/// Owns one `struct mosquitto *`. Thread safety: libmosquitto's own (threaded mode is on):
/// `publish`, `subscribe` and `disconnect` may be called from any thread, the connect and
/// loop calls only from the network thread. `destroy` once, when nothing else uses it.
struct MosquittoHandle: @unchecked Sendable {
  private let mosq: OpaquePointer
  /// `host:port`, the context of every error.
  let broker: String

  /// `2.0.11`: the libmosquitto this process runs with. The corresponding C function is
  /// `mosquitto_lib_version`.
  static var libraryVersion: String {
    var major: Int32 = 0
    var minor: Int32 = 0
    var revision: Int32 = 0
    _ = mosquitto_lib_version(&major, &minor, &revision)
    return "\(major).\(minor).\(revision)"
  }

  private static let libraryInitialized: Bool = {
    mosquitto_lib_init() == MOSQ_ERR_SUCCESS.rawValue
  }()

  /// Creates the client with a clean or persistent session (`cleanSession`), threaded mode, TCP_NODELAY and the protocol
  /// version, will, credentials and TLS of `options`.
  init(options: MQTTClientOptions) throws(MQTTError) {
    broker = options.brokerAddress
    guard Self.libraryInitialized else {
      throw .library(call: "mosquitto_lib_init", code: -1, message: "failed", context: broker)
    }
    guard let created = mosquitto_new(options.clientID, options.cleanSession, nil) else {
      let error = SystemError.current()
      throw .library(
        call: "mosquitto_new", code: Int32(MOSQ_ERR_ERRNO.rawValue), message: error.text,
        context: "client id '\(options.clientID)'")
    }
    mosq = created
    do {
      try configure(options)
    } catch {
      mosquitto_destroy(created)
      throw error
    }
  }

  private func configure(_ options: MQTTClientOptions) throws(MQTTError) {
    try check(mosquitto_threaded_set(mosq, true), "mosquitto_threaded_set")
    try check(mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1), "mosquitto_int_option(TCP_NODELAY)")
    let version = options.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
    try check(
      mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, Int32(version)), "mosquitto_int_option(PROTOCOL_VERSION)")
    if let will = options.will {
      let rc = will.payload.withUnsafeBytes { bytes in
        mosquitto_will_set(
          mosq, will.topic, Int32(bytes.count), bytes.baseAddress, Int32(will.qos), will.retain)
      }
      try check(rc, "mosquitto_will_set", context: "will topic '\(will.topic)'")
    }
    if options.username != nil || options.password != nil {
      try check(mosquitto_username_pw_set(mosq, options.username, options.password), "mosquitto_username_pw_set")
    }
    if let tls = options.tls {
      for (role, path) in [("CA", tls.caFile), ("certificate", tls.certFile), ("key", tls.keyFile)] {
        guard let path else { continue }
        do {
          try FileIO.close(try FileIO.open(path, .read), path: path)
        } catch {
          throw .tls("cannot read \(role) file \(path): \(error.text)")
        }
      }
      guard (tls.certFile == nil) == (tls.keyFile == nil) else {
        throw .tls("a client certificate needs both a certificate file and a key file")
      }
      let rc = mosquitto_tls_set(mosq, tls.caFile, nil, tls.certFile, tls.keyFile, nil)
      guard rc == MOSQ_ERR_SUCCESS.rawValue else {
        let code = SystemError.current().code
        throw .tls("libmosquitto rejected CA \(tls.caFile): \(Self.describe(rc, errno: code))")
      }
    }
    mosquitto_connect_callback_set(mosq) { mosq, userdata, code in
      guard let handler = handler(userdata) else { return }
      if code == 0 {
        handler.handle(.connected)
      } else {
        let text = code < 128 ? mosquitto_connack_string(code) : mosquitto_reason_string(code)
        handler.handle(.connectRefused(reason: text.map { String(cString: $0) } ?? "code \(code)"))
      }
    }
    mosquitto_disconnect_callback_set(mosq) { _, userdata, code in
      let savedErrno = errno
      guard let handler = handler(userdata) else { return }
      let reason = code == 0 ? "disconnected" : MosquittoHandle.describe(code, errno: savedErrno)
      handler.handle(.disconnected(reason: reason, requested: code == 0))
    }
    mosquitto_publish_callback_set(mosq) { _, userdata, messageID in
      handler(userdata)?.handle(.published(messageID: messageID))
    }
    mosquitto_subscribe_callback_set(mosq) { _, userdata, messageID, count, grantedQoS in
      var refused = 0
      if let grantedQoS {
        for index in 0..<Int(count) where grantedQoS[index] >= 0x80 { refused += 1 }
      }
      handler(userdata)?.handle(.subscribed(messageID: messageID, refusedCount: refused))
    }
    mosquitto_message_callback_set(mosq) { _, userdata, message in
      guard let handler = handler(userdata), let message else { return }
      let m = message.pointee
      let payload: [UInt8] =
        m.payloadlen > 0 && m.payload != nil
        ? Array(UnsafeRawBufferPointer(start: m.payload, count: Int(m.payloadlen))) : []
      let topic = m.topic.map { String(cString: $0) } ?? ""
      handler.handle(.message(MQTTMessage(topic: topic, payload: payload, qos: Int(m.qos), retain: m.retain)))
    }
  }

  /// Routes callbacks to `handler` (unretained: the caller keeps it alive while callbacks can run).
  func setHandler(_ handler: any MosquittoEventHandler) {
    let box = Unmanaged.passRetained(HandlerBox(handler)).toOpaque()
    mosquitto_user_data_set(mosq, box)
  }

  /// Releases what `setHandler` retained and frees the client. Only when no thread uses it.
  func destroy() {
    if let box = mosquitto_userdata(mosq) {
      mosquitto_user_data_set(mosq, nil)
      Unmanaged<HandlerBox>.fromOpaque(box).release()
    }
    mosquitto_destroy(mosq)
  }

  /// Starts the first connection (stores host, port, keepalive). Non-blocking except for the
  /// name lookup. Network thread only.
  func connectAsync(host: String, port: Int, keepaliveSeconds: Int) throws(MQTTError) {
    try check(mosquitto_connect_async(mosq, host, Int32(port), Int32(keepaliveSeconds)), "mosquitto_connect_async")
  }

  /// Starts a new connection attempt with the stored settings. Network thread only.
  func reconnectAsync() throws(MQTTError) {
    try check(mosquitto_reconnect_async(mosq), "mosquitto_reconnect_async")
  }

  /// Runs network I/O once, waiting up to `timeoutMilliseconds`; callbacks run inside.
  /// Returns nil while the connection lives, and why it ended otherwise (a failed TLS
  /// handshake ends here without libmosquitto calling on_disconnect). Network thread only.
  func loop(timeoutMilliseconds: Int32) -> String? {
    let rc = mosquitto_loop(mosq, timeoutMilliseconds, 1)
    let code = errno
    guard rc != MOSQ_ERR_SUCCESS.rawValue else { return nil }
    return Self.describe(rc, errno: code)
  }

  /// Queues a message; returns its message id. QoS 0 fails with `notConnected` when there is
  /// no connection; QoS 1/2 are kept until acknowledged, across reconnects.
  func publish(_ message: MQTTMessage) throws(MQTTError) -> Int32 {
    guard message.payload.count <= 268_435_455 else {  // MQTT's largest remaining length
      throw .library(
        call: "mosquitto_publish", code: Int32(MOSQ_ERR_PAYLOAD_SIZE.rawValue),
        message: Self.describe(Int32(MOSQ_ERR_PAYLOAD_SIZE.rawValue), errno: 0),
        context: "\(broker), topic '\(message.topic)'")
    }
    var messageID: Int32 = 0
    let (rc, savedErrno) = message.payload.withUnsafeBytes { bytes in
      let rc = mosquitto_publish(
        mosq, &messageID, message.topic, Int32(bytes.count), bytes.baseAddress, Int32(clamping: message.qos),
        message.retain)
      return (rc, errno)
    }
    if rc == MOSQ_ERR_NO_CONN.rawValue {
      // QoS 1/2: the message is queued (libmosquitto reports only that it could not send it yet).
      if message.qos > 0 { return messageID }
      throw .notConnected(broker: broker, topic: message.topic)
    }
    try check(rc, "mosquitto_publish", context: "topic '\(message.topic)'", errno: savedErrno)
    return messageID
  }

  /// Subscribes to all `filters` in one SUBSCRIBE packet; returns its message id (the SUBACK
  /// arrives as `.subscribed`).
  func subscribe(_ filters: [String], qos: Int) throws(MQTTError) -> Int32 {
    var messageID: Int32 = 0
    let strings = filters.map { strdup($0) }
    defer { for string in strings { free(string) } }
    let rc = strings.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: UnsafeMutablePointer<CChar>?.self) { pointers in
        mosquitto_subscribe_multiple(mosq, &messageID, Int32(pointers.count), pointers.baseAddress, Int32(qos), 0, nil)
      }
    }
    try check(rc, "mosquitto_subscribe_multiple", context: "filters \(filters)")
    return messageID
  }

  /// Sends DISCONNECT (if connected) and stops reconnecting. Safe to repeat.
  func disconnect() {
    _ = mosquitto_disconnect(mosq)
  }

  private func check(_ rc: Int32, _ call: String, context: String? = nil, errno code: Int32 = errno)
    throws(MQTTError)
  {
    guard rc != MOSQ_ERR_SUCCESS.rawValue else { return }
    let location = context.map { "\(broker), \($0)" } ?? broker
    throw .library(call: call, code: rc, message: Self.describe(rc, errno: code), context: location)
  }

  /// True for codes that mean the call's arguments or the build are wrong, not the network.
  static func isArgumentError(_ code: Int32) -> Bool {
    code == MOSQ_ERR_INVAL.rawValue || code == MOSQ_ERR_NOMEM.rawValue || code == MOSQ_ERR_NOT_SUPPORTED.rawValue
  }

  /// libmosquitto's text for `rc`, or errno's text for MOSQ_ERR_ERRNO.
  static func describe(_ rc: Int32, errno code: Int32) -> String {
    if rc == MOSQ_ERR_ERRNO.rawValue { return errnoText(code) }
    guard let text = mosquitto_strerror(rc) else { return "error \(rc)" }
    return String(cString: text)
  }
}

/// Holds the handler for callbacks (a class, so it can travel through `void *userdata`).
private final class HandlerBox {
  unowned(unsafe) let handler: any MosquittoEventHandler

  init(_ handler: any MosquittoEventHandler) { self.handler = handler }
}

private func handler(_ userdata: UnsafeMutableRawPointer?) -> (any MosquittoEventHandler)? {
  guard let userdata else { return nil }
  return Unmanaged<HandlerBox>.fromOpaque(userdata).takeUnretainedValue().handler
}
