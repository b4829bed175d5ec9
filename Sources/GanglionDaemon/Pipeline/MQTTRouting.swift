import GanglionCore
import GanglionMQTT

/// Maps inbound MQTT topics to the signals that read them, and payloads to values.
struct MQTTRouting: Sendable {
  struct Route: Sendable {
    var signal: String
    var filter: String
    var jsonPath: String?
    var type: SignalType
    var hasWildcard: Bool
  }

  /// Payloads larger than this are dead-lettered (events.md).
  static let maximumPayloadBytes = 256 * 1024

  private var exact: [String: [Route]] = [:]
  private var wildcards: [Route] = []

  init(config: Config) {
    for signal in config.signals {
      guard case .mqtt(let mqtt) = signal.source else { continue }
      let wildcard = mqtt.topic.contains("+") || mqtt.topic.contains("#")
      let route = Route(
        signal: signal.name, filter: mqtt.topic, jsonPath: mqtt.jsonPath, type: signal.type, hasWildcard: wildcard)
      if wildcard { wildcards.append(route) } else { exact[mqtt.topic, default: []].append(route) }
    }
  }

  /// Every distinct topic filter to subscribe to.
  var filters: [String] {
    var seen = Set<String>()
    return (exact.keys.sorted() + wildcards.map(\.filter)).filter { seen.insert($0).inserted }
  }

  func routes(for topic: String) -> [Route] {
    var found = exact[topic] ?? []
    for route in wildcards where MQTTTopic.matches(filter: route.filter, topic: topic) { found.append(route) }
    return found
  }

  enum Parsed {
    case value(Value)
    case rejected(String)
  }

  /// The value a payload gives a signal, or why it gives none.
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
      return .rejected("json path '\(path)' not found in payload")
    }
    guard let value = type.coerce(field) else {
      return .rejected("json path '\(path)' holds \(JSON.encode(field)), not a valid \(type.rawValue)")
    }
    return .value(value)
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
