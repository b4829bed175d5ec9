import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// events.md, checked the way an MQTT subscriber sees it.
@Suite struct SpecConformanceEventTests {
  static let lightRule = """
    rules:
      - name: light-on
        when: hallway.motion
        do:
          - set: { hallway.light: on }
          - publish: { topic: home/hallway/light, payload: "on" }
    """

  @Test func eventRecordHasTheDocumentedFieldsWithTheDocumentedTypes() async throws {
    let (broker, observer, daemon) = try await Spec.start(rules: Self.lightRule)
    let inject = try await daemon.cli(["inject", "hallway.motion", "on"])
    #expect(inject.code == 0, "\(inject.output)")

    let raw = try await observer.wait(for: "\(Spec.prefix)/events/hallway.motion") {
      (try? JSON.parse($0.text))?["value"] == true
    }
    #expect(raw.retain == false, "events/ topics are not retained")
    let motion = try JSON.parse(raw.text)
    guard case .object(let fields) = motion else {
      Issue.record("the event is not a JSON object: \(raw.text)")
      return
    }
    // events.md: "seq, id, time, kind, signal, value, previous, source, cause, rule"
    for name in ["seq", "id", "time", "kind", "signal", "value", "previous", "source", "cause", "rule"] {
      #expect(fields[name] != nil, "field '\(name)' missing from \(raw.text)")
    }
    let seq = try #require(motion["seq"]?.numberValue)
    #expect(seq == seq.rounded() && seq > 0, "seq is a positive whole number")
    #expect(
      raw.text.contains("\"seq\":\(Int(seq))") || raw.text.contains("\"seq\": \(Int(seq))"),
      "seq printed as an integer: \(raw.text)")
    #expect(motion["id"] == .string("\(Spec.device):\(Int(seq))"))
    let time = try #require(motion["time"]?.stringValue)
    #expect(isRFC3339MicrosecondsUTC(time), "time must be UTC with microseconds: \(time)")
    let stamp = try #require(Timestamp(iso8601: time))
    let now = SystemClock().now()
    #expect(abs(Double(now.microseconds - stamp.microseconds)) < 60_000_000, "time is the wall clock of the reading")
    #expect(motion["kind"] == "signal")
    #expect(motion["signal"] == "hallway.motion")
    #expect(motion["previous"] == false, "the start-up reading of a pull-down input is false")
    #expect(motion["source"] == "simulator")
    #expect(motion["cause"] == .null, "inputs have no cause")
    #expect(motion["rule"] == .null)

    // The rule's effects: a fired event and the light event, both caused by the motion.
    let fired = try await observer.event(on: "\(Spec.prefix)/fired/light-on")
    #expect(fired["kind"] == "fired")
    #expect(fired["rule"] == "light-on")
    #expect(fired["cause"] == .number(seq))
    #expect(fired["id"] == .string("\(Spec.device):\(Int(fired["seq"]?.numberValue ?? -1))"))
    #expect(isRFC3339MicrosecondsUTC(fired["time"]?.stringValue ?? ""))
    let light = try await observer.event(on: "\(Spec.prefix)/events/hallway.light") { $0["value"] == true }
    #expect(light["kind"] == "signal")
    #expect(light["source"] == "rule")
    #expect(light["rule"] == "light-on")
    #expect(light["cause"] == .number(seq), "set events are caused by the event that fired the rule")
    #expect(light["previous"] == false)
    _ = try await observer.wait(for: "home/hallway/light") { $0.text == "on" }

    // The publish action is an event too (events.md: kind `publish`), explained by its cause.
    let logged = try await waitFor("the publish event in the log") { () -> Value? in
      try await Spec.logEvents(daemon).first { $0["kind"] == "publish" }
    }
    #expect(logged["rule"] == "light-on")
    #expect(logged["cause"] == .number(seq))
    _ = await daemon.stop()
    withExtendedLifetime(broker) {}
  }

  @Test func everyPublishedEventArrivesInStrictlyIncreasingSeqOrder() async throws {
    let rules = """
      rules:
        - name: copy
          on: hallway.lux
          do:
            - set: { copy.lux: value }
      """
    let (broker, observer, daemon) = try await Spec.start(
      signals: "  copy.lux:\n    type: number\n    initial: 0", rules: rules)
    for reading in 1...20 {
      try await broker.publish(topic: "sensors/hallway/lux", text: String(reading))
    }
    _ = try await observer.event(on: "\(Spec.prefix)/events/copy.lux") { $0["value"] == 20 }
    let seqs = observer.messages.filter {
      $0.topic.hasPrefix("\(Spec.prefix)/events/") || $0.topic.hasPrefix("\(Spec.prefix)/fired/")
    }.compactMap { (try? JSON.parse($0.text))?["seq"]?.numberValue }
    #expect(seqs.count >= 60, "20 readings, 20 firings, 20 copies")
    #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }, "seq order on the wire: \(seqs)")
    _ = await daemon.stop()
  }

  @Test func stateTopicsAreRetainedPlainText() async throws {
    let signals = """
        count:
          mqtt: { topic: test/count, type: number }
        label:
          mqtt: { topic: test/label, type: string }
        blob:
          mqtt: { topic: test/blob, type: json }
        flag:
          mqtt: { topic: test/flag, type: bool }
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals)
    try await broker.publish(topic: "sensors/hallway/lux", text: "21.5")
    try await broker.publish(topic: "test/count", text: "3.0")
    try await broker.publish(topic: "test/label", text: "hello world")
    try await broker.publish(topic: "test/blob", text: #"{"a": [1, 2]}"#)
    try await broker.publish(topic: "test/flag", text: "ON")
    try await Spec.barrier(broker, observer, "done")

    // A subscriber that comes later gets every state from the broker's retained store.
    let late = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/state/#")
    func state(_ signal: String) async throws -> MQTTMessage {
      try await late.wait(for: "\(Spec.prefix)/state/\(signal)")
    }
    let lux = try await state("hallway.lux")
    #expect(lux.text == "21.5")
    #expect(lux.retain)
    #expect(try await state("count").text == "3", "numbers like 3, not 3.0")
    #expect(try await state("label").text == "hello world", "strings unquoted")
    let blob = try await state("blob")
    #expect((try? JSON.parse(blob.text)) == .object(["a": .array([1, 2])]), "JSON for json: \(blob.text)")
    #expect(try await state("flag").text == "true")
    #expect(try await state("hallway.light").text == "false", "outputs have state from their initial value")
    #expect(try await state("hallway.motion").text == "false", "inputs are read once at start-up")
    _ = await daemon.stop()
  }

  @Test func statusIsRetainedOnlineAndOfflineOnCleanStop() async throws {
    let (broker, _, daemon) = try await Spec.start()
    let late = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/status")
    let online = try await late.wait(for: "\(Spec.prefix)/status")
    #expect(online.text == "online")
    #expect(online.retain)
    let exit = await daemon.stop()
    #expect(exit == .exited(code: 0), "a clean stop exits 0: \(daemon.output)")
    let after = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/status")
    let offline = try await after.wait(for: "\(Spec.prefix)/status")
    #expect(offline.text == "offline")
    #expect(offline.retain)
  }

  @Test func statusWillSaysOfflineWhenTheDaemonDies() async throws {
    let (broker, _, daemon) = try await Spec.start()
    daemon.kill()
    try await waitUntil("the will to be retained", timeout: .seconds(15)) {
      let probe = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/status")
      let message = try await probe.wait(for: "\(Spec.prefix)/status")
      return message.text == "offline" && message.retain
    }
  }

  @Test func deadLettersAreJSONWithTopicPayloadReasonTimeAndBase64ForBinary() async throws {
    let (broker, observer, daemon) = try await Spec.start()
    let binary: [UInt8] = [0xff, 0xfe, 0x00, 0x80]
    _ = try observer.client.publish(MQTTMessage(topic: "sensors/hallway/lux", payload: binary))
    try await broker.publish(topic: "sensors/hallway/lux", text: "twelve")
    let letters = try await waitFor("two dead letters") { () -> [MQTTMessage]? in
      let found = observer.messages.filter { $0.topic == "\(Spec.prefix)/dead_letter" }
      return found.count >= 2 ? found : nil
    }
    for letter in letters {
      #expect(letter.retain == false)
      let json = try JSON.parse(letter.text)
      #expect(json["topic"] == "sensors/hallway/lux")
      #expect(json["reason"]?.stringValue?.isEmpty == false)
      #expect(isRFC3339MicrosecondsUTC(json["time"]?.stringValue ?? ""), "\(letter.text)")
    }
    let payloads = try letters.map { try JSON.parse($0.text)["payload"] }
    // events.md: "base64 if not UTF-8", carried as `{"base64": ...}` as in the log, so that a
    // text payload that happens to look like base64 cannot be mistaken for one (issue 10).
    #expect(payloads.contains(.object(["base64": .string(base64(binary))])), "binary payload as base64: \(payloads)")
    #expect(payloads.contains("twelve"), "UTF-8 payload as text: \(payloads)")
    // Neither changed the signal.
    #expect(observer.events(on: "\(Spec.prefix)/events/hallway.lux").isEmpty)
    // A dead letter is an event in the log too (events.md: kind `dead_letter`); with the
    // default `sync: 1s` it reaches the file within about a second of being published.
    try await waitUntil("both dead letters in the log", timeout: .seconds(10), pollInterval: .milliseconds(100)) {
      try await Spec.logEvents(daemon).filter { $0["kind"] == "dead_letter" }.count == 2
    }
    _ = await daemon.stop()
  }

  @Test func rulePublishActionsGoToTheirTopicsAsWritten() async throws {
    let rules = """
      rules:
        - name: report
          on: hallway.lux
          do:
            - publish:
                topic: alerts/${device}/lux
                payload: { lux: "${value}", text: "lux is ${value}", rule: "${rule}", nested: ["${value}", 1] }
                qos: 1
                retain: true
            - publish: { topic: "${prefix}/heartbeat", payload: "plain ${value}", qos: 0 }
      """
    let (broker, observer, daemon) = try await Spec.start(rules: rules)
    try await broker.publish(topic: "sensors/hallway/lux", text: "12.5")
    let alert = try await observer.wait(for: "alerts/\(Spec.device)/lux")
    let payload = try JSON.parse(alert.text)
    // rules.md: a whole "${EXPR}" keeps its type; other templates are strings.
    #expect(payload["lux"] == 12.5, "\(alert.text)")
    #expect(payload["text"] == "lux is 12.5")
    #expect(payload["rule"] == "report")
    #expect(payload["nested"] == .array([12.5, 1]), "\(alert.text)")
    #expect(alert.qos == 1)
    let heartbeat = try await observer.wait(for: "\(Spec.prefix)/heartbeat")
    #expect(heartbeat.text == "plain 12.5")
    #expect(heartbeat.qos == 0)
    #expect(heartbeat.retain == false)
    let late = try await MQTTObserver(broker: broker, filter: "alerts/#")
    let retained = try await late.wait(for: "alerts/\(Spec.device)/lux")
    #expect(retained.retain, "retain: true is retained by the broker")
    _ = await daemon.stop()
  }
}
