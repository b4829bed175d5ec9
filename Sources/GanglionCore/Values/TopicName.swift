/// What a topic must be for a message to be published to it: the one rule book for the rule
/// engine (which refuses a rendered `publish` topic before anything is sent) and the MQTT
/// client's C funnel (which refuses to hand libmosquitto anything else). MQTT 3.1.1
/// section 4.7 and libmosquitto's `mosquitto_validate_utf8` and `mosquitto_pub_topic_check`.
///
/// A C string ends at its first NUL byte: a topic `a/b` + NUL + `/c` would reach the broker as
/// `a/b`. Such a topic is refused, never cut short.
public enum TopicName {
  /// MQTT's limit on a topic: a 16-bit length prefix.
  public static let maximumBytes = 65_535
  /// MQTT's limit on a payload (the largest remaining length, less the topic's few bytes).
  public static let maximumPayloadBytes = 268_435_455

  /// Why nothing can be published to `topic`, in words; nil when it is a valid topic name:
  /// not empty, at most 65,535 bytes of UTF-8, no NUL, no wildcard (`+`, `#`), no control
  /// character (U+0001-U+001F, U+007F-U+009F) and no Unicode non-character.
  public static func problem(_ topic: String) -> String? {
    problem(utf8: topic.utf8)
  }

  /// The same check on raw bytes (which may not be UTF-8 at all).
  public static func problem(utf8 bytes: some Collection<UInt8>) -> String? {
    if bytes.isEmpty { return "the topic is empty" }
    if bytes.count > maximumBytes {
      return "the topic is \(bytes.count) bytes long, over MQTT's limit of \(maximumBytes)"
    }
    guard let text = String(validating: bytes, as: UTF8.self) else { return "the topic is not UTF-8 text" }
    var offset = 0
    for scalar in text.unicodeScalars {
      defer { offset += UTF8.width(scalar) }
      let value = scalar.value
      switch value {
      case 0:
        return "the topic holds a NUL byte (at byte \(offset)), which would cut it short"
      case 0x2B, 0x23:
        return "the topic holds the wildcard '\(Character(scalar))' (at byte \(offset)); wildcards are for subscribing"
      case 0x01...0x1F, 0x7F...0x9F:
        return "the topic holds the control character \(codePoint(value)) (at byte \(offset))"
      case 0xFDD0...0xFDEF:
        return "the topic holds the non-character \(codePoint(value)) (at byte \(offset))"
      default:
        if value & 0xFFFE == 0xFFFE {
          return "the topic holds the non-character \(codePoint(value)) (at byte \(offset))"
        }
      }
    }
    return nil
  }

  /// `U+000A`
  private static func codePoint(_ value: UInt32) -> String {
    let hex = String(value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
  }

  /// `topic` for a message or a log line: as JSON string content, so a NUL or a control
  /// character shows as `\u0000` instead of reaching a terminal.
  public static func display(_ topic: String) -> String {
    var bytes: [UInt8] = []
    JSON.writeStringContent(topic, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }
}
