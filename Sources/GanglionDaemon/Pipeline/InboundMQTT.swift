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
  /// Of a payload over the limit, only this much is kept in the dead letter: a flood of huge
  /// payloads must not fill the log's ring.
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
      var kept = MQTTMessage(topic: message.topic, payload: Array(message.payload.prefix(Self.keptPrefixBytes)))
      for cut in 0..<4 where String(validating: kept.payload.dropLast(cut), as: UTF8.self) != nil {
        kept.payload.removeLast(cut)  // end on a whole UTF-8 character when it is text
        break
      }
      return [
        .rejected(
          Rejection(
            message: kept, signal: nil,
            reason:
              "payload of \(message.payload.count) bytes is over the 256 KiB limit (its first \(kept.payload.count) bytes are kept here)"
          ))
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
  /// The `dead_letter` event of a rejected message (events.md): `{"topic", "payload" (text,
  /// or `{"base64": ...}` when not UTF-8), "reason"}`.
  init(time: Timestamp, rejected: InboundMQTT.Rejection) {
    let payload: Value =
      if let text = String(validating: rejected.message.payload, as: UTF8.self) {
        .string(text)
      } else {
        .object(["base64": .string(Base64.encode(rejected.message.payload))])
      }
    self.init(
      time: time, kind: .deadLetter, signal: rejected.signal,
      value: .object(["topic": .string(rejected.message.topic), "payload": payload, "reason": .string(rejected.reason)]
      ),
      source: .mqtt)
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
