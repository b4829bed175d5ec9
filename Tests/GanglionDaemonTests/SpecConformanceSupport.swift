import GanglionCore
import GanglionMQTT
import GanglionTestSupport
import Synchronization
import Testing

/// Shared pieces of the spec-conformance tests: these tests were written from the product
/// contract alone (its user-facing form is docs/: config.md, rules.md, events.md, cli.md)
/// and drive the real `ganglion` executable and a real broker.
enum Spec {
  static let device = "spec-pi"
  static let prefix = "ganglion/spec-pi"

  /// A config with the signals most tests need; `signals`, `mqtt` and `top` add lines to the
  /// `signals:` map, the `mqtt:` map and the top level.
  static func config(
    broker: MosquittoBroker, signals: String = "", mqtt: String = "  commands: true", top: String = ""
  ) -> String {
    """
    device: \(device)
    hardware: \(repositoryRoot)/Hardware/simulated.yaml
    rules: rules.yaml
    signals:
      hallway.motion:
        gpio: { pin: GPIO17, bias: pull-down }
      hallway.light:
        gpio: { pin: GPIO27, output: true, initial: off }
      hallway.lux:
        mqtt: { topic: sensors/hallway/lux, type: number }
      marker:
        mqtt: { topic: test/marker, type: string }
    \(signals)
    mqtt:
      url: \(broker.url)
    \(mqtt)
    log:
      dir: log
      sync: always
    http:
      listen: 127.0.0.1:HTTP_PORT
    \(top)
    """
  }

  /// Indents a block of YAML lines by `spaces`.
  static func indent(_ text: String, _ spaces: Int) -> String {
    let pad = String(repeating: " ", count: spaces)
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : pad + $0 }
      .joined(separator: "\n")
  }

  /// Starts a broker, an observer on `ganglion/#` plus `extraFilter`, and the daemon; returns
  /// once the daemon has said `online`.
  static func start(
    signals: String = "", mqtt: String = "  commands: true", top: String = "", rules: String = "rules: []",
    filter: String = "#"
  ) async throws -> (broker: MosquittoBroker, observer: MQTTObserver, daemon: DaemonHarness) {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: filter)
    let text = config(broker: broker, signals: signals, mqtt: mqtt, top: top)
    // DaemonHarness takes "the port answers" as ready; with many tests picking random ports,
    // that can be another process's listener while this daemon exits on EADDRINUSE. Start
    // again in that case.
    for _ in 0..<3 {
      let daemon = try await DaemonHarness(config: text, files: ["rules.yaml": rules])
      let online: Bool
      do {
        online = try await waitFor("the daemon to say online", timeout: .seconds(20)) { () -> Bool? in
          if observer.messages.contains(where: { $0.topic == "\(prefix)/status" && $0.text == "online" }) {
            return true
          }
          return daemon.process.withLock { $0?.isRunning ?? false } ? nil : false
        }
      } catch {
        throw TestSupportError("\(error)\ndaemon output:\n\(daemon.output)\nbroker log:\n\(broker.log)")
      }
      if online { return (broker, observer, daemon) }
      guard daemon.output.contains("Address already in use") || daemon.output.contains("in use") else {
        throw TestSupportError("the daemon exited:\n\(daemon.output)")
      }
    }
    throw TestSupportError("the daemon could not get a free port")
  }

  /// Every event in the daemon's log, oldest first, through `ganglion log tail --json`.
  static func logEvents(_ daemon: DaemonHarness, count: Int = 10000) async throws -> [Value] {
    let tail = try await daemon.cli(["log", "tail", "-n", String(count), "--json"])
    try #require(tail.code == 0, "log tail failed: \(tail.output)")
    return tail.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
  }

  /// Publishes a marker on an MQTT input and waits for its event on `events/marker`: every
  /// event with a lower seq has then been published (events.md: published in seq order).
  @discardableResult
  static func barrier(_ broker: MosquittoBroker, _ observer: MQTTObserver, _ name: String) async throws -> Double {
    try await broker.publish(topic: "test/marker", text: name)
    let event = try await observer.event(on: "\(prefix)/events/marker") { $0["value"] == .string(name) }
    return try #require(event["seq"]?.numberValue)
  }
}

extension MQTTObserver {
  /// Parsed JSON of every message so far on `topic`, in arrival order.
  func events(on topic: String) -> [Value] {
    messages.filter { $0.topic == topic }.compactMap { try? JSON.parse($0.text) }
  }
}

/// `2026-11-29T18:02:03.123456Z`: UTC with exactly six fractional digits (events.md).
func isRFC3339MicrosecondsUTC(_ text: String) -> Bool {
  let bytes = Array(text.utf8)
  let pattern = Array("dddd-dd-ddTdd:dd:dd.ddddddZ".utf8)
  guard bytes.count == pattern.count else { return false }
  for (byte, expected) in zip(bytes, pattern) {
    if expected == UInt8(ascii: "d") {
      guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return false }
    } else if byte != expected {
      return false
    }
  }
  return true
}

/// Standard base64 (RFC 4648, with padding), for checking dead-letter payloads.
func base64(_ bytes: [UInt8]) -> String {
  let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  var out = ""
  var index = 0
  while index < bytes.count {
    let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
    let b0 = UInt32(chunk[0])
    let b1 = chunk.count > 1 ? UInt32(chunk[1]) : 0
    let b2 = chunk.count > 2 ? UInt32(chunk[2]) : 0
    let triple = b0 << 16 | b1 << 8 | b2
    out.append(alphabet[Int(triple >> 18 & 63)])
    out.append(alphabet[Int(triple >> 12 & 63)])
    out.append(chunk.count > 1 ? alphabet[Int(triple >> 6 & 63)] : "=")
    out.append(chunk.count > 2 ? alphabet[Int(triple & 63)] : "=")
    index += 3
  }
  return out
}
