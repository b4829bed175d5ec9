import GanglionCore
import GanglionMQTT
import GanglionRules

/// What an inbound MQTT message means: the readings it gives the signals that subscribe to
/// its topic, a command on `<prefix>/set/<signal>` (with `mqtt.commands`), or why it is
/// rejected (a dead letter, events.md). Pure: the same message and configuration always
/// give the same outcomes; nothing is recorded or published here.
struct InboundMQTT: Sendable {
  struct Route: Sendable {
    var signal: String
    var filter: String
    var jsonPath: String?
    var type: SignalType
    /// A message without the `jsonPath` field is a dead letter (else ignored).
    var required: Bool
  }

  /// A rejected message: what of it is kept, for which signal, and why.
  struct Rejection: Sendable {
    var message: MQTTMessage
    var signal: String?
    var reason: String
  }

  enum Outcome: Sendable {
    case reading(Reading)
    case rejected(Rejection)
    /// A JSON message without the field a signal reads, which does not require it: the signal
    /// keeps its value and the message is counted (config.md: zigbee2mqtt's partial updates).
    case ignored(signal: String, reason: String)
  }

  /// Payloads larger than this are dead-lettered (events.md).
  static let maximumPayloadBytes = 256 * 1024
  /// Of a rejected payload, only this much is kept in the dead letter (with its length and
  /// SHA-256): a flood of large payloads must not fill the log's ring.
  static let keptPrefixBytes = 1024

  private let catalog: SignalCatalog
  private var exact: [String: [Route]] = [:]
  private var wildcards: [Route] = []
  /// `<prefix>/set/` when `mqtt.commands` is on.
  let commandPrefix: String?

  init(config: Config) {
    catalog = config.catalog
    let prefix = config.mqtt?.prefix ?? "ganglion/\(config.device)"
    commandPrefix = config.mqtt?.commands == true ? "\(prefix)/set/" : nil
    for signal in config.signals {
      guard case .mqtt(let mqtt) = signal.source else { continue }
      let route = Route(
        signal: signal.name, filter: mqtt.topic, jsonPath: mqtt.jsonPath, type: signal.type, required: mqtt.required)
      if mqtt.topic.contains("+") || mqtt.topic.contains("#") {
        wildcards.append(route)
      } else {
        exact[mqtt.topic, default: []].append(route)
      }
    }
  }

  /// Every distinct topic filter to subscribe to (inputs, then commands).
  var filters: [String] {
    var seen = Set<String>()
    var filters = (exact.keys.sorted() + wildcards.map(\.filter)).filter { seen.insert($0).inserted }
    if let commandPrefix { filters.append("\(commandPrefix)#") }
    return filters
  }

  /// The signals that read `topic`.
  func routes(for topic: String) -> [Route] {
    var found = exact[topic] ?? []
    for route in wildcards where MQTTTopic.matches(filter: route.filter, topic: topic) { found.append(route) }
    return found
  }

  /// What `message`, received at `time`, means: one outcome per signal that reads its
  /// topic, one for a command, one rejection for a payload over the limit, none for a topic
  /// nobody reads.
  func interpret(_ message: MQTTMessage, at time: Timestamp) -> [Outcome] {
    if message.payload.count > Self.maximumPayloadBytes {
      return [
        .rejected(
          Rejection(
            message: message, signal: nil,
            reason: "payload of \(message.payload.count) bytes is over the 256 KiB limit"))
      ]
    }
    if let commandPrefix, message.topic.hasPrefix(commandPrefix) {
      return [command(String(message.topic.dropFirst(commandPrefix.count)), message, at: time)]
    }
    return routes(for: message.topic).map { route in
      switch Self.parse(payload: message.payload, as: route.type, jsonPath: route.jsonPath) {
      case .value(let value):
        .reading(Reading(signal: route.signal, value: value, time: time, source: .mqtt))
      case .rejected(let reason):
        .rejected(Rejection(message: message, signal: route.signal, reason: "\(route.signal): \(reason)"))
      case .missingField(let reason) where route.required:
        .rejected(Rejection(message: message, signal: route.signal, reason: "\(route.signal): \(reason) (required)"))
      case .missingField(let reason):
        .ignored(signal: route.signal, reason: "\(route.signal): \(reason)")
      }
    }
  }

  private func command(_ name: String, _ message: MQTTMessage, at time: Timestamp) -> Outcome {
    guard let signal = catalog[name] else {
      return .rejected(
        Rejection(
          message: message, signal: nil,
          reason: "unknown signal '\(name)'\(Spelling.suggestion(for: name, in: catalog.names))"))
    }
    guard signal.isSettable else {
      return .rejected(
        Rejection(
          message: message, signal: name, reason: "\(name) is an input; only outputs and virtual signals can be set"))
    }
    switch Self.parse(payload: message.payload, as: signal.type, jsonPath: nil) {
    case .value(let value):
      return .reading(Reading(signal: name, value: value, time: time, source: .command))
    case .rejected(let reason), .missingField(let reason):  // commands have no json path
      return .rejected(Rejection(message: message, signal: name, reason: "\(name): \(reason)"))
    }
  }

  enum Parsed {
    case value(Value)
    case rejected(String)
    /// A JSON payload without the field the path names.
    case missingField(String)
  }

  /// The value a payload gives a signal of `type` (config.md "MQTT"), or why it gives none.
  static func parse(payload: [UInt8], as type: SignalType, jsonPath: String?) -> Parsed {
    guard let text = String(validating: payload, as: UTF8.self) else {
      return .rejected("payload is not UTF-8 text")
    }
    guard let path = jsonPath else {
      if let value = type.parse(text: text) { return .value(value) }
      // A JSON string holding the value (`"21.5"`, `"on"`) counts, as it does under a `json` path.
      if let quoted = try? JSON.parse(text), case .string = quoted, let value = type.coerce(quoted) {
        return .value(value)
      }
      return .rejected("payload is not a valid \(type.rawValue)")
    }
    let document: Value
    do {
      document = try JSON.parse(text)
    } catch {
      return .rejected("payload is not JSON (\(error)), needed for json path '\(path)'")
    }
    guard let field = document.value(atPath: path) else {
      return .missingField("json path '\(path)' not found in payload")
    }
    guard let value = type.coerce(field) else {
      return .rejected("json path '\(path)' holds \(JSON.encode(field)), not a valid \(type.rawValue)")
    }
    return .value(value)
  }
}

extension Event {
  /// The `dead_letter` event of a rejected message (events.md "Dead letters"): `{"topic",
  /// "payload", "payload_bytes", "payload_sha256", "reason"}`, where `payload` is at most the
  /// first `InboundMQTT.keptPrefixBytes` of it (text, or `{"base64": ...}` when not UTF-8),
  /// and `"held_back"` says how many dead letters of the topic were not recorded before it.
  init(time: Timestamp, rejected: InboundMQTT.Rejection, heldBack: Int = 0) {
    let bytes = rejected.message.payload
    var fields: [String: Value] = [
      "topic": .string(rejected.message.topic), "payload": Self.deadLetterPayload(bytes),
      "payload_bytes": .number(Double(bytes.count)), "payload_sha256": .string(SHA256.hex(bytes)),
      "reason": .string(rejected.reason),
    ]
    if heldBack > 0 { fields["held_back"] = .number(Double(heldBack)) }
    self.init(time: time, kind: .deadLetter, signal: rejected.signal, value: .object(fields), source: .mqtt)
  }

  /// At most the first `keptPrefixBytes` of `payload`: as text when it is UTF-8 (ending on a
  /// whole character), else `{"base64": ...}`.
  static func deadLetterPayload(_ payload: [UInt8]) -> Value {
    let prefix = payload.prefix(InboundMQTT.keptPrefixBytes)
    let cuts = payload.count > prefix.count ? 0..<4 : 0..<1
    for cut in cuts {
      if let text = String(validating: prefix.dropLast(cut), as: UTF8.self) { return .string(text) }
    }
    return .object(["base64": .string(Base64.encode(Array(prefix)))])
  }
}

/// Which dead letters are recorded (events.md "Dead letters"): per topic a burst of
/// `topicBurst`, then one per `topicInterval`; across all topics a burst of `totalBurst`,
/// then one per `totalInterval`. The others are only counted, and the next recorded one of
/// the topic says how many were held back. A flood of junk therefore costs the log at most a
/// few KiB a minute, and the history before it survives. Bounded: at most `maximumTopics`
/// topics are tracked; past that, new ones share one allowance.
struct DeadLetterGate: Sendable {
  static let topicBurst = 10.0
  static let topicInterval: Int64 = 60_000_000
  static let totalBurst = 100.0
  static let totalInterval: Int64 = 10_000_000
  static let maximumTopics = 1024

  private struct Bucket: Sendable {
    var tokens: Double
    var updated: Int64
    var heldBack = 0

    mutating func refill(now: Int64, burst: Double, interval: Int64) {
      tokens = min(burst, tokens + Double(max(0, now - updated)) / Double(interval))
      updated = now
    }
  }

  private var topics: [String: Bucket] = [:]
  private var total: Bucket?

  /// Whether a dead letter on `topic` is recorded now (monotonic µs), and if so how many of
  /// the topic were held back before it.
  mutating func admit(topic: String, now: Int64) -> (admitted: Bool, heldBack: Int) {
    var all = total ?? Bucket(tokens: Self.totalBurst, updated: now)
    all.refill(now: now, burst: Self.totalBurst, interval: Self.totalInterval)
    var key = topic
    if topics[key] == nil, topics.count >= Self.maximumTopics {
      // Forget topics whose allowance is whole again; if none, share one for the rest.
      topics = topics.filter { _, bucket in
        var bucket = bucket
        bucket.refill(now: now, burst: Self.topicBurst, interval: Self.topicInterval)
        return bucket.tokens < Self.topicBurst || bucket.heldBack > 0
      }
      if topics.count >= Self.maximumTopics { key = "" }
    }
    var own = topics[key] ?? Bucket(tokens: Self.topicBurst, updated: now)
    own.refill(now: now, burst: Self.topicBurst, interval: Self.topicInterval)
    defer {
      topics[key] = own
      total = all
    }
    guard own.tokens >= 1, all.tokens >= 1 else {
      own.heldBack += 1
      return (false, 0)
    }
    own.tokens -= 1
    all.tokens -= 1
    defer { own.heldBack = 0 }
    return (true, own.heldBack)
  }
}

/// At most one log line per `interval` for a kind of trouble that can repeat fast (dead
/// letters, dropped inputs), saying how many were held back since the last line.
struct LogLineRateLimit: Sendable {
  let interval: Int64
  private var lastLine: Int64?
  private var heldBack = 0

  /// - Parameter interval: microseconds between lines.
  init(interval: Int64 = 10_000_000) { self.interval = interval }

  /// Whether a line may be written now (monotonic µs); if so, how many were held back
  /// before it.
  mutating func admit(now: Int64) -> (admitted: Bool, heldBack: Int) {
    if let lastLine, now - lastLine < interval {
      heldBack += 1
      return (false, 0)
    }
    defer { heldBack = 0 }
    lastLine = now
    return (true, heldBack)
  }
}

enum Base64 {
  private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  static func encode(_ bytes: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index + 3 <= bytes.count {
      let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
      out += [
        alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)],
      ]
      index += 3
    }
    let rest = bytes.count - index
    if rest > 0 {
      let n = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
      out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
      out += rest == 2 ? [alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")] : [UInt8(ascii: "="), UInt8(ascii: "=")]
    }
    return String(decoding: out, as: UTF8.self)
  }
}
