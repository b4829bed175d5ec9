import GanglionCore
import GanglionMQTT

/// The MQTT messages that tell the world about an event (events.md "MQTT topics"): a pure
/// function of the event and the configuration. Each signal's topics are built once, each
/// rule's on first use: they are on every event's path.
///
/// Not thread-safe (its topic cache): owned by whoever holds the pipeline's lock.
struct EventPublication {
  /// `mqtt.prefix`, `ganglion/<device>` by default.
  let prefix: String
  let device: String
  /// `mqtt.qos` of the messages about events.
  let qos: Int
  /// `mqtt.publish`: which mirror topics each event goes to.
  let mirrors: MQTTPublishedTopics
  private var signalTopics: [String: (events: String, state: String)] = [:]
  private var firedTopics: [String: String] = [:]

  init(config: Config) {
    prefix = config.mqtt?.prefix ?? "ganglion/\(config.device)"
    device = config.device
    qos = config.mqtt?.qos ?? 1
    mirrors = config.mqtt?.publish ?? MQTTPublishedTopics()
    for name in config.catalog.names { signalTopics[name] = Self.topics(prefix, name) }
  }

  private static func topics(_ prefix: String, _ signal: String) -> (events: String, state: String) {
    (events: "\(prefix)/events/\(signal)", state: "\(prefix)/state/\(signal)")
  }

  /// `<prefix>/status`, retained: `online`, and `offline` as the will and at a clean stop.
  var statusTopic: String { "\(prefix)/status" }

  func status(online: Bool) -> MQTTMessage {
    MQTTMessage(topic: statusTopic, payload: Array((online ? "online" : "offline").utf8), qos: 1, retain: true)
  }

  /// The messages of `event`, in the order they go out.
  /// - Parameter isNewestOfSignal: whether a signal event is its signal's newest in this run:
  ///   retained `state/` must end at the current value, so an event read back late (after a
  ///   burst, an outage or a restart) that is no longer the newest does not send its value
  ///   again; the newer event's message follows it in order.
  mutating func messages(for event: Event, isNewestOfSignal: Bool) -> [MQTTMessage] {
    switch event.kind {
    case .signal:
      guard let signal = event.signal else { return [] }
      let topics = signalTopics(signal)
      var messages: [MQTTMessage] = []
      if mirrors.events {
        var json: [UInt8] = []
        event.writeJSON(device: device, to: &json)
        messages.append(MQTTMessage(topic: topics.events, payload: json, qos: qos))
      }
      if mirrors.state, isNewestOfSignal {
        var state: [UInt8] = []
        event.value.writePlainText(to: &state)
        messages.append(MQTTMessage(topic: topics.state, payload: state, qos: qos, retain: true))
      }
      return messages
    case .fired:
      guard mirrors.fired, let rule = event.rule else { return [] }
      var json: [UInt8] = []
      event.writeJSON(device: device, to: &json)
      return [MQTTMessage(topic: firedTopic(rule), payload: json, qos: qos)]
    case .publish:
      // A publish the rule engine refused (its topic is invalid) sends nothing.
      guard event.publishRefusal == nil, case .object(let fields) = event.value,
        case .string(let topic)? = fields["topic"],
        case .string(let payload)? = fields["payload"]
      else { return [] }
      let qos = Int(fields["qos"]?.numberValue ?? 0)
      return [MQTTMessage(topic: topic, payload: Array(payload.utf8), qos: qos, retain: fields["retain"] == true)]
    case .deadLetter:
      return [deadLetterMessage(event)]
    case .log, .system:
      return []
    }
  }

  /// The retained `state/` message of a signal: its value as plain text, or an empty
  /// payload for an unknown value (which clears what an earlier run left there).
  mutating func stateMessage(signal: String, value: Value?) -> MQTTMessage {
    MQTTMessage(
      topic: signalTopics(signal).state, payload: Array((value?.plainText ?? "").utf8), qos: qos, retain: true)
  }

  /// events.md's keys, in its order: `{"topic", "payload", "reason", "time"}`, then
  /// `"payload_bytes"` and `"payload_sha256"`. `payload` is as in the log: at most its first
  /// KiB, as text, or `{"base64": ...}` when it is not UTF-8.
  private func deadLetterMessage(_ event: Event) -> MQTTMessage {
    var json: [UInt8] = Array(#"{"topic":"#.utf8)
    JSON.write(event.value["topic"] ?? .null, to: &json)
    json.append(contentsOf: #","payload":"#.utf8)
    JSON.write(event.value["payload"] ?? .null, to: &json)
    json.append(contentsOf: #","reason":"#.utf8)
    JSON.write(event.value["reason"] ?? .null, to: &json)
    json.append(contentsOf: #","time":""#.utf8)
    event.time.writeISO8601(to: &json)
    json.append(contentsOf: #"","payload_bytes":"#.utf8)
    JSON.write(event.value["payload_bytes"] ?? .null, to: &json)
    json.append(contentsOf: #","payload_sha256":"#.utf8)
    JSON.write(event.value["payload_sha256"] ?? .null, to: &json)
    json.append(UInt8(ascii: "}"))
    return MQTTMessage(topic: "\(prefix)/dead_letter", payload: json, qos: qos)
  }

  private mutating func signalTopics(_ signal: String) -> (events: String, state: String) {
    if let topics = signalTopics[signal] { return topics }
    let topics = Self.topics(prefix, signal)
    signalTopics[signal] = topics
    return topics
  }

  /// `<prefix>/fired/<rule>`, built once per rule name (bounded by the rules' names).
  private mutating func firedTopic(_ rule: String) -> String {
    if let topic = firedTopics[rule] { return topic }
    let topic = "\(prefix)/fired/\(rule)"
    firedTopics[rule] = topic
    return topic
  }
}
