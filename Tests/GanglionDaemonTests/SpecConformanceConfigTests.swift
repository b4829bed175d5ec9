import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Testing

/// config.md, checked through MQTT input, commands and `ganglion check`.
@Suite struct SpecConformanceConfigTests {
  @Test func boolPayloadsAcceptEverySpellingCaseInsensitively() async throws {
    let (broker, observer, daemon) = try await Spec.start(
      signals: "  door.open:\n    mqtt: { topic: test/door, type: bool }")
    // Alternating values, so every message is a change whatever the update semantics.
    let spellings = [
      "true", "false", "on", "off", "1", "0", "ON", "OFF", "True", "False", "On", "oFF", "TRUE", "FALSE",
    ]
    for spelling in spellings {
      try await broker.publish(topic: "test/door", text: spelling)
    }
    // Not in the list: dead-lettered, never a value.
    try await broker.publish(topic: "test/door", text: "yes")
    try await broker.publish(topic: "test/door", text: "2")
    try await Spec.barrier(broker, observer, "done")
    let values = observer.events(on: "\(Spec.prefix)/events/door.open").map { $0["value"] }
    let expected: [Value?] = spellings.indices.map { .bool($0 % 2 == 0) }
    #expect(values == expected, "\(values)")
    let letters = observer.events(on: "\(Spec.prefix)/dead_letter").filter { $0["topic"] == "test/door" }
    #expect(letters.map { $0["payload"] } == ["yes", "2"])
    _ = await daemon.stop()
  }

  @Test func numberPayloadsAcceptJSONNumbersAndPlainDecimalText() async throws {
    let (broker, observer, daemon) = try await Spec.start()
    let accepted: [(String, Value)] = [("21.5", 21.5), ("-3", -3), ("0.25", 0.25), ("1e3", 1000), ("7", 7)]
    for (text, _) in accepted {
      try await broker.publish(topic: "sensors/hallway/lux", text: text)
    }
    for bad in ["12abc", "", "nan", "twelve"] {
      try await broker.publish(topic: "sensors/hallway/lux", text: bad)
    }
    try await Spec.barrier(broker, observer, "done")
    let values = observer.events(on: "\(Spec.prefix)/events/hallway.lux").compactMap { $0["value"] }
    #expect(values == accepted.map(\.1), "\(values)")
    let letters = observer.events(on: "\(Spec.prefix)/dead_letter").filter { $0["topic"] == "sensors/hallway/lux" }
    #expect(letters.map { $0["payload"] } == ["12abc", "", "nan", "twelve"])
    _ = await daemon.stop()
  }

  @Test func jsonPathExtractsNestedFieldsAndArrayIndexes() async throws {
    let signals = """
        deep.value:
          mqtt: { topic: test/deep, json: a.b.0.c, type: number }
        deep.name:
          mqtt: { topic: test/deep, json: name }
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals)
    try await broker.publish(topic: "test/deep", text: #"{"a": {"b": [{"c": 7}, {"c": 8}]}, "name": "kitchen"}"#)
    let deep = try await observer.event(on: "\(Spec.prefix)/events/deep.value")
    #expect(deep["value"] == 7)
    #expect(deep["previous"] == .null, "the first reading has no previous value")
    #expect(deep["source"] == "mqtt")
    // MQTT signals default to `string`.
    let name = try await observer.event(on: "\(Spec.prefix)/events/deep.name")
    #expect(name["value"] == "kitchen")
    // A payload that is not JSON at all is dead-lettered and changes nothing.
    try await broker.publish(topic: "test/deep", text: "not json")
    try await Spec.barrier(broker, observer, "done")
    #expect(observer.events(on: "\(Spec.prefix)/dead_letter").contains { $0["payload"] == "not json" })
    #expect(observer.events(on: "\(Spec.prefix)/events/deep.value").count == 1)
    _ = await daemon.stop()
  }

  @Test func wildcardJSONCatchAllReceivesEveryMatchingMessage() async throws {
    let signals = """
        buttons:
          mqtt: { topic: "zigbee2mqtt/+/action", type: json }
        everything:
          mqtt: { topic: "home/#", type: json }
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals)
    try await broker.publish(topic: "zigbee2mqtt/kitchen/action", text: #"{"press": "single"}"#)
    try await broker.publish(topic: "zigbee2mqtt/porch/action", text: #"{"press": "double"}"#)
    try await broker.publish(topic: "home/a/b/c", text: "[1, 2]")
    try await Spec.barrier(broker, observer, "done")
    let buttons = observer.events(on: "\(Spec.prefix)/events/buttons").compactMap { $0["value"] }
    #expect(buttons == [.object(["press": "single"]), .object(["press": "double"])], "\(buttons)")
    let everything = observer.events(on: "\(Spec.prefix)/events/everything").compactMap { $0["value"] }
    #expect(everything == [.array([1, 2])], "\(everything)")
    // A catch-all is still typed: a payload that is not JSON is dead-lettered.
    try await broker.publish(topic: "zigbee2mqtt/hall/action", text: "not json {")
    try await Spec.barrier(broker, observer, "done2")
    #expect(observer.events(on: "\(Spec.prefix)/dead_letter").contains { $0["topic"] == "zigbee2mqtt/hall/action" })
    #expect(observer.events(on: "\(Spec.prefix)/events/buttons").count == 2)
    _ = await daemon.stop()
  }

  @Test func payloadsOver256KiBAreDeadLetteredAndExactly256KiBIsAccepted() async throws {
    let (broker, observer, daemon) = try await Spec.start(
      signals: "  big:\n    mqtt: { topic: test/big, type: string }")
    // "payloads larger than 256 KiB" are refused: 262144 bytes is not larger.
    let limit = 256 * 1024
    try await broker.publish(topic: "test/big", text: String(repeating: "a", count: limit + 1))
    try await broker.publish(topic: "test/big", text: String(repeating: "b", count: limit))
    try await Spec.barrier(broker, observer, "done")
    let letters = observer.events(on: "\(Spec.prefix)/dead_letter").filter { $0["topic"] == "test/big" }
    #expect(letters.count == 1)
    let values = observer.events(on: "\(Spec.prefix)/events/big").compactMap { $0["value"]?.stringValue }
    #expect(values.map(\.count) == [limit], "only the 256 KiB payload becomes a value")
    #expect(values.first?.hasPrefix("b") == true)
    _ = await daemon.stop()
  }

  @Test func commandsSetOutputsAndVirtualSignalsParsedAsTheirType() async throws {
    let signals = """
        alarm.armed:
          type: bool
          initial: false
        target:
          type: number
          initial: 20
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals)
    try await broker.publish(topic: "\(Spec.prefix)/set/hallway.light", text: "on")
    try await broker.publish(topic: "\(Spec.prefix)/set/alarm.armed", text: "true")
    try await broker.publish(topic: "\(Spec.prefix)/set/target", text: "21.5")
    try await broker.publish(topic: "\(Spec.prefix)/set/target", text: "warm")
    try await broker.publish(topic: "\(Spec.prefix)/set/hallway.lux", text: "5")
    try await broker.publish(topic: "\(Spec.prefix)/set/no.such.signal", text: "1")
    try await Spec.barrier(broker, observer, "done")

    let light = try #require(observer.events(on: "\(Spec.prefix)/events/hallway.light").last)
    #expect(light["value"] == true)
    #expect(light["source"] == "command")
    #expect(light["cause"] == .null)
    #expect(observer.events(on: "\(Spec.prefix)/events/alarm.armed").last?["source"] == "command")
    let targets = observer.events(on: "\(Spec.prefix)/events/target").filter { $0["source"] == "command" }
    #expect(targets.compactMap { $0["value"] } == [21.5], "'warm' is not a number")
    #expect(observer.events(on: "\(Spec.prefix)/events/hallway.lux").isEmpty, "inputs cannot be commanded")
    let letters = observer.events(on: "\(Spec.prefix)/dead_letter").compactMap { $0["topic"]?.stringValue }
    #expect(
      letters == [
        "\(Spec.prefix)/set/target", "\(Spec.prefix)/set/hallway.lux", "\(Spec.prefix)/set/no.such.signal",
      ], "bad type, an input, an unknown signal: \(letters)")
    _ = await daemon.stop()
  }

  // config.md shows `commands: true` in the example without a "default:" note, and events.md
  // says `set/` works "if `mqtt.commands`": commands are opt-in, as they are in ESPHome's and
  // zigbee2mqtt's remote-control settings. A broker-reachable device must not accept remote
  // control unless asked to.
  @Test func commandsAreIgnoredUnlessEnabledAndOffByDefault() async throws {
    for mqtt in ["  commands: false", ""] {
      let (broker, observer, daemon) = try await Spec.start(
        signals: "  alarm.armed:\n    type: bool\n    initial: false", mqtt: mqtt)
      try await broker.publish(topic: "\(Spec.prefix)/set/hallway.light", text: "on")
      try await broker.publish(topic: "\(Spec.prefix)/set/alarm.armed", text: "true")
      try await Spec.barrier(broker, observer, "done")
      let status = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
      #expect(
        observer.events(on: "\(Spec.prefix)/events/hallway.light").allSatisfy { $0["value"] != true },
        "mqtt: [\(mqtt)]")
      #expect(observer.events(on: "\(Spec.prefix)/events/alarm.armed").allSatisfy { $0["value"] != true })
      #expect(status["signals"]?["alarm.armed"]?["value"] == false, "mqtt: [\(mqtt)]")
      _ = await daemon.stop()
    }
  }

  @Test func httpOffRunsWithoutAListener() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/#")
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-http-off")
    _ = try folder.write("rules: []", to: "rules.yaml")
    let config = Spec.config(broker: broker, signals: "  alarm.armed:\n    type: bool\n    initial: false")
      .replacingAll("http:\n  listen: 127.0.0.1:HTTP_PORT", with: "http: off")
    #expect(!config.contains("HTTP_PORT"))
    let path = try folder.write(config, to: "ganglion.yaml")
    let check = try await runGanglion(["check", "--config", path])
    #expect(check.code == 0, "\(check.output)")
    let child = try ChildProcess(
      executable: ganglionExecutable, arguments: ["run", "--config", path, "--simulate"],
      stdout: .file(folder.path("out")), stderr: .file(folder.path("out")))
    defer { _ = child.kill() }
    _ = try await observer.wait(for: "\(Spec.prefix)/status", timeout: .seconds(20)) { $0.text == "online" }
    try await broker.publish(topic: "\(Spec.prefix)/set/alarm.armed", text: "on")
    let armed = try await observer.event(on: "\(Spec.prefix)/events/alarm.armed") { $0["value"] == true }
    #expect(armed["source"] == "command")
    #expect(!(readTextFile(folder.path("out")) ?? "").contains("9120"), "no listener on the default port")
    #expect(await child.terminate(gracePeriod: .seconds(10)) == .exited(code: 0))
  }

  @Test func checkRejectsUnknownKeysAndSpecViolationsNamingEveryOne() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-check")
    _ = try folder.write("rules: []", to: "rules.yaml")
    let path = try folder.write(
      """
      device: spec-pi
      rules: rules.yaml
      signals:
        hallway.motion:
          gpio: { chip: gpiochip0, line: 17, bais: pull-down }
        hallway.door:
          gpio: { chip: gpiochip0, line: 17 }
        sensors.any:
          mqtt: { topic: "sensors/+/lux", type: number }
        alarm.armed:
          initial: false
        Bad.Name:
          mqtt: { topic: test/bad }
      mqtt:
        url: mqtt://127.0.0.1:1883
        comands: true
      """, to: "ganglion.yaml")
    let result = try await runGanglion(["check", "--config", path])
    #expect(result.code == 1, "a failed check exits 1: \(result.output)")
    let errors = result.output.split(separator: "\n").filter { $0.contains(": error: ") }
    // config.md: unknown keys are errors with did-you-mean; two signals on one line; wildcards
    // only for json; virtual signals must give `type`; names are [a-z0-9_-] segments.
    #expect(errors.count >= 6, "every error, not just the first:\n\(result.output)")
    #expect(result.output.contains("\(path):5:40: error:"), "\(result.output)")
    #expect(result.output.contains("did you mean 'bias'?"), "\(result.output)")
    #expect(result.output.contains("did you mean 'commands'?"), "\(result.output)")
    #expect(result.output.contains("\(path):16:3: error:"), "\(result.output)")
    #expect(errors.contains { $0.contains("\(path):7:") }, "the second claim of line 17: \(result.output)")
    #expect(errors.contains { $0.contains("\(path):9:") }, "a wildcard on a number signal: \(result.output)")
    #expect(errors.contains { $0.contains("\(path):10:") || $0.contains("\(path):11:") }, "\(result.output)")
    #expect(errors.contains { $0.contains("\(path):12:") }, "an upper-case signal name: \(result.output)")
    // The daemon refuses the same file as a bad config.
    #expect(try await runGanglion(["run", "--config", path, "--simulate"]).code == 2)
  }

  // zigbee2mqtt publishes `{"state": "ON", "occupancy": true}`: a bool field extracted with
  // `json` takes the same spellings as a bool payload (config.md), and a JSON true is true.
  @Test func boolFieldsExtractedFromJSONAcceptTheBoolSpellings() async throws {
    let signals = """
        plug.on:
          mqtt: { topic: zigbee2mqtt/plug, json: state, type: bool }
        room.occupied:
          mqtt: { topic: zigbee2mqtt/plug, json: occupancy, type: bool }
        plug.power:
          mqtt: { topic: zigbee2mqtt/plug, json: power, type: number }
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals)
    try await broker.publish(topic: "zigbee2mqtt/plug", text: #"{"state": "ON", "occupancy": true, "power": 12.5}"#)
    try await broker.publish(topic: "zigbee2mqtt/plug", text: #"{"state": "OFF", "occupancy": false, "power": true}"#)
    try await Spec.barrier(broker, observer, "done")
    let occupied = observer.events(on: "\(Spec.prefix)/events/room.occupied").compactMap { $0["value"] }
    #expect(occupied == [true, false])
    let power = observer.events(on: "\(Spec.prefix)/events/plug.power").compactMap { $0["value"] }
    #expect(power == [12.5], "a JSON true is not a number")
    let plug = observer.events(on: "\(Spec.prefix)/events/plug.on").compactMap { $0["value"] }
    #expect(plug == [true, false], "\"ON\"/\"OFF\" strings in JSON are bools: \(plug)")
    _ = await daemon.stop()
  }
}
