import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Testing

/// rules.md "Semantics that users depend on", through the running daemon.
@Suite struct SpecConformanceRuleTests {
  /// The seqs of the events on `events/<signal>` once there are `count` of them.
  static func seqs(_ observer: MQTTObserver, _ signal: String, count: Int) async throws -> [Double] {
    try await waitFor("\(count) events of \(signal)") { () -> [Double]? in
      let seqs = observer.events(on: "\(Spec.prefix)/events/\(signal)").compactMap { $0["seq"]?.numberValue }
      return seqs.count >= count ? seqs : nil
    }
  }

  @Test func whenFiresOnTheRisingEdgeOnlyNotOnEveryUpdate() async throws {
    let rules = """
      rules:
        - name: bright
          when: hallway.lux > 40
          do:
            - publish: { topic: test/bright, payload: "${hallway.lux}" }
      """
    let (broker, observer, daemon) = try await Spec.start(rules: rules)
    for reading in ["50", "60", "70", "30", "50"] {
      try await broker.publish(topic: "sensors/hallway/lux", text: reading)
    }
    let lux = try await Self.seqs(observer, "hallway.lux", count: 5)
    // The firing for the last reading comes after every other firing (seq order).
    _ = try await observer.event(on: "\(Spec.prefix)/fired/bright") { $0["cause"] == .number(lux[4]) }
    let causes = observer.events(on: "\(Spec.prefix)/fired/bright").compactMap { $0["cause"]?.numberValue }
    // unknown -> 50 is an edge; 60 and 70 hold; 30 falls; 50 rises again.
    #expect(causes == [lux[0], lux[4]], "lux seqs \(lux)")
    #expect(observer.messages.filter { $0.topic == "test/bright" }.map(\.text) == ["50", "50"])
    _ = await daemon.stop()
  }

  @Test func onFiresOnEveryUpdateAndAFailingIfIsNoFiring() async throws {
    let signals = """
        doorbell.press:
          mqtt: { topic: "zigbee2mqtt/doorbell/action", type: string }
        porch.light:
          type: bool
          initial: false
      """
    let rules = """
      rules:
        - name: doorbell
          on: doorbell.press
          if: value == "single"
          do:
            - set: { porch.light: on }
            - log: "ring ${value}"
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals, rules: rules)
    for press in ["single", "single", "double", "single"] {
      try await broker.publish(topic: "zigbee2mqtt/doorbell/action", text: press)
    }
    // Every message is an event, same value or not.
    let presses = try await Self.seqs(observer, "doorbell.press", count: 4)
    _ = try await observer.event(on: "\(Spec.prefix)/fired/doorbell") { $0["cause"] == .number(presses[3]) }
    try await Spec.barrier(broker, observer, "done")
    let causes = observer.events(on: "\(Spec.prefix)/fired/doorbell").compactMap { $0["cause"]?.numberValue }
    #expect(causes == [presses[0], presses[1], presses[3]], "no firing for 'double': \(presses)")
    #expect(observer.events(on: "\(Spec.prefix)/events/doorbell.press").count == 4)

    let log = try await Spec.logEvents(daemon)
    #expect(
      !log.contains { $0["kind"] == "fired" && $0["cause"] == .number(presses[2]) }, "no fired event when `if` fails")
    #expect(log.filter { $0["kind"] == "log" }.count == 3, "one log action per firing")
    // Setting a signal to its current value is no event: only the first firing changes it.
    let porch = log.filter { $0["signal"] == "porch.light" && $0["source"] != "system" }
    #expect(porch.map { $0["value"] } == [true], "\(porch)")
    #expect(porch.first?["cause"] == .number(presses[0]))
    _ = await daemon.stop()
  }

  /// The classic toggle: two rules on one button, each testing the lamp. Breadth-first means
  /// both see the lamp as it was when the button was pressed, in either order in the file.
  @Test func rulesSeeTheStateOfTheTriggeringEventWhateverTheirOrder() async throws {
    let signals = """
        button:
          mqtt: { topic: test/button, type: string }
        lamp.a:
          type: bool
          initial: false
        lamp.b:
          type: bool
          initial: false
        lamp.c:
          type: bool
          initial: false
      """
    let rules = """
      rules:
        - name: a-on
          on: button
          if: not lamp.a
          do:
            - set: { lamp.a: on }
        - name: a-off
          on: button
          if: lamp.a
          do:
            - set: { lamp.a: off }
        - name: b-off
          on: button
          if: lamp.b
          do:
            - set: { lamp.b: off }
        - name: b-on
          on: button
          if: not lamp.b
          do:
            - set: { lamp.b: on }
        - name: follow-a
          on: lamp.a
          do:
            - set: { lamp.c: value }
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals, rules: rules)
    try await broker.publish(topic: "test/button", text: "press")
    _ = try await observer.event(on: "\(Spec.prefix)/events/lamp.c") { $0["value"] == true }
    try await broker.publish(topic: "test/button", text: "press")
    _ = try await observer.event(on: "\(Spec.prefix)/events/lamp.c") { $0["value"] == false }
    try await Spec.barrier(broker, observer, "done")

    let a = observer.events(on: "\(Spec.prefix)/events/lamp.a").filter { $0["source"] == "rule" }
    let b = observer.events(on: "\(Spec.prefix)/events/lamp.b").filter { $0["source"] == "rule" }
    #expect(a.map { $0["value"] } == [true, false], "lamp.a toggles once per press")
    #expect(b.map { $0["value"] } == [true, false], "lamp.b toggles once per press, its rules in the other order")
    let fired = observer.messages.filter { $0.topic.hasPrefix("\(Spec.prefix)/fired/") }.map {
      String($0.topic.split(separator: "/").last ?? "")
    }
    #expect(fired.filter { $0 != "follow-a" }.sorted() == ["a-off", "a-on", "b-off", "b-on"], "\(fired)")
    // Breadth-first: lamp.c (caused by lamp.a's event) comes after lamp.b (caused by the press).
    let c = observer.events(on: "\(Spec.prefix)/events/lamp.c").filter { $0["source"] == "rule" }
    let bSeq = try #require(b.first?["seq"]?.numberValue)
    let cSeq = try #require(c.first?["seq"]?.numberValue)
    #expect(cSeq > bSeq, "derived events are processed after the current event's rules")
    #expect(c.first?["cause"] == a.first?["seq"])
    _ = await daemon.stop()
  }

  @Test func restartIsNotATrigger() async throws {
    let signals = """
        alarm.armed:
          type: bool
          initial: false
          persist: true
      """
    let rules = """
      rules:
        - name: armed-edge
          when: alarm.armed
          do:
            - log: armed
        - name: armed-any
          on: alarm.armed
          do:
            - log: armed changed
        - name: still
          when: not hallway.motion
          do:
            - log: no motion
        - name: motion-any
          on: hallway.motion
          do:
            - log: motion
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals, rules: rules)
    try await broker.publish(topic: "\(Spec.prefix)/set/alarm.armed", text: "true")
    _ = try await observer.wait(for: "\(Spec.prefix)/fired/armed-edge")
    _ = try await observer.wait(for: "\(Spec.prefix)/fired/armed-any")
    #expect(await daemon.stop() == .exited(code: 0))
    try await daemon.restart()
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
    let log = try await waitFor("motion-any to fire after the restart") { () -> [Value]? in
      let log = try await Spec.logEvents(daemon)
      return log.contains { $0["kind"] == "fired" && $0["rule"] == "motion-any" } ? log : nil
    }
    let fired = log.filter { $0["kind"] == "fired" }.compactMap { $0["rule"]?.stringValue }
    // The start-up readings (motion false: `not hallway.motion` goes unknown -> true) and the
    // restored alarm.armed are events but fire nothing.
    #expect(
      fired == ["armed-edge", "armed-any", "motion-any"] || fired == ["armed-any", "armed-edge", "motion-any"],
      "\(fired)")
    let startupMotion = log.filter { $0["signal"] == "hallway.motion" && $0["source"] == "system" }
    #expect(startupMotion.count == 2, "one start-up reading per start: \(startupMotion)")
    let restored = log.filter { $0["signal"] == "alarm.armed" && $0["source"] == "system" }
    #expect(restored.last?["value"] == true, "the persisted value comes back as a system event")
  }

  @Test func forFiresOnlyAfterTheConditionHeldAndIsCancelledWhenItTurnsFalse() async throws {
    let rules = """
      rules:
        - name: bright-for
          when: hallway.lux > 40
          for: 2s
          do:
            - log: bright a while
      """
    let (broker, observer, daemon) = try await Spec.start(rules: rules)
    // Published back to back from one client (no process start between them), so the drop to
    // 30 comes well inside the 2 s.
    for reading in ["50", "30", "50"] {
      _ = try observer.client.publish(MQTTMessage(topic: "sensors/hallway/lux", text: reading))
    }
    let lux = try await waitFor("three lux events") { () -> [Value]? in
      let events = observer.events(on: "\(Spec.prefix)/events/hallway.lux")
      return events.count >= 3 ? events : nil
    }
    let times = lux.compactMap { $0["time"]?.stringValue.flatMap(Timestamp.init(iso8601:)) }
    try #require(times.count == 3)
    try #require(
      times[1].microseconds - times[0].microseconds < 2_000_000, "the machine is too loaded for this test")
    let fired = try await observer.event(on: "\(Spec.prefix)/fired/bright-for", timeout: .seconds(10))
    try await broker.publish(topic: "sensors/hallway/lux", text: "10")
    try await Spec.barrier(broker, observer, "done")
    #expect(observer.events(on: "\(Spec.prefix)/fired/bright-for").count == 1, "the first countdown was cancelled")
    let start = times[2]
    let firedAt = try #require(fired["time"]?.stringValue.flatMap(Timestamp.init(iso8601:)))
    #expect(firedAt.microseconds - start.microseconds >= 2_000_000, "held for the whole 2 s from the last rise")
    _ = await daemon.stop()
  }
}
