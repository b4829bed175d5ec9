import GanglionCore
import Testing

@testable import GanglionRules

@Suite struct EngineTests {
  static let motionLight = """
    rules:
      - name: light-on
        when: hallway.motion
        if: hallway.lux < 40 or not known(hallway.lux)
        do:
          - set: { hallway.light: on }
          - publish: { topic: home/hallway/light, payload: "on" }
    """

  @Test func whenFiresOnTheRisingEdgeOnly() throws {
    let rig = try Rig(Self.motionLight)
    rig.input("hallway.lux", 10, source: .mqtt)
    rig.input("hallway.motion", true)
    #expect(rig.fired == ["light-on"])
    #expect(rig.value("hallway.light") == true)
    rig.input("hallway.motion", true)  // still true: no edge
    #expect(rig.fired == ["light-on"])
    rig.input("hallway.motion", false)
    rig.input("hallway.light", false, source: .command)
    rig.input("hallway.motion", true)
    #expect(rig.fired == ["light-on", "light-on"])
    #expect(rig.value("hallway.light") == true)
  }

  @Test func unknownToTrueIsAnEdgeAndUnknownConditionsAreFalse() throws {
    let rig = try Rig(
      """
      rules:
        - name: dark
          when: hallway.motion
          if: hallway.lux < 40
          do: [{ set: { hallway.light: on } }]
      """)
    rig.input("hallway.motion", true)  // lux unknown: the if does not hold
    #expect(rig.fired.isEmpty)
    #expect(rig.value("hallway.light") == false || rig.value("hallway.light") == .null)
    rig.input("hallway.motion", false)
    rig.input("hallway.lux", 5, source: .mqtt)
    rig.input("hallway.motion", true)
    #expect(rig.fired == ["dark"])
  }

  @Test func eventsCarryCausesRulesAndPrevious() throws {
    let rig = try Rig(Self.motionLight)
    rig.input("hallway.motion", true)
    let kinds = rig.log.map(\.kind)
    #expect(kinds == [.signal, .fired, .publish, .signal])
    let input = rig.log[0]
    #expect(input.source == .gpio && input.cause == nil && input.previous == .null && input.value == true)
    let fired = rig.log[1]
    #expect(fired.rule == "light-on" && fired.cause == input.seq)
    let publish = rig.log[2]
    #expect(publish.cause == input.seq && publish.rule == "light-on")
    #expect(
      publish.value
        == .object(["topic": "home/hallway/light", "payload": "on", "qos": 0, "retain": false]))
    let set = rig.log[3]
    #expect(set.signal == "hallway.light" && set.value == true && set.previous == .null)
    #expect(set.source == .rule && set.rule == "light-on" && set.cause == input.seq)
    // The engine's one effect is the output to drive; the publish leaves as its event.
    #expect(rig.effects == [.drive(signal: "hallway.light", value: true, cause: set.seq)])
  }

  @Test func settingTheCurrentValueIsNoEvent() throws {
    let rig = try Rig(Self.motionLight)
    rig.engine.restore(signal: "hallway.light", value: true, time: t0)
    rig.input("hallway.motion", true)
    #expect(rig.log.map(\.kind) == [.signal, .fired, .publish])
    #expect(rig.drives.isEmpty)
    // A command of the current value is no event either.
    #expect(rig.input("hallway.light", true, source: .command).isEmpty)
    #expect(rig.log.count == 3)
  }

  @Test func virtualSignalsChangeStateWithoutDriving() throws {
    let rig = try Rig(
      """
      rules:
        - name: arm
          when: hallway.door
          do: [{ set: { alarm.armed: on, house.mode: "away" } }]
      """)
    rig.input("hallway.door", true)
    #expect(rig.value("alarm.armed") == true)
    #expect(rig.value("house.mode") == "away")
    #expect(rig.drives.isEmpty)
  }

  @Test func derivedEventsRunBreadthFirst() throws {
    // Both rules trigger on the same input; `check` reads hallway.light, which `on`
    // changes: it sees the old value because sets run after all rules of the event.
    let rig = try Rig(
      """
      rules:
        - name: on
          when: hallway.motion
          do: [{ set: { hallway.light: on } }]
        - name: check
          when: hallway.motion
          if: not hallway.light
          do: [{ set: { alarm.armed: on } }]
        - name: follow
          when: hallway.light
          do: [{ set: { ping: on } }]
      """)
    rig.engine.restore(signal: "hallway.light", value: false, time: t0)
    rig.input("hallway.motion", true)
    #expect(rig.value("alarm.armed") == true)
    #expect(rig.fired == ["on", "check", "follow"])
    let signals = rig.log.filter { $0.kind == .signal }.compactMap(\.signal)
    #expect(signals == ["hallway.motion", "hallway.light", "alarm.armed", "ping"])
    // `follow` was caused by the light's event, not the motion.
    let lightSeq = rig.log.first { $0.signal == "hallway.light" }!.seq
    #expect(rig.log.first { $0.kind == .fired && $0.rule == "follow" }?.cause == lightSeq)
  }

  @Test func ruleOrderDoesNotChangeOutcomes() throws {
    let forward = """
      rules:
        - name: a
          when: hallway.motion
          do: [{ set: { counter: 1 } }]
        - name: b
          when: hallway.motion
          if: not known(counter)
          do: [{ set: { house.mode: "first" } }]
      """
    let backward = """
      rules:
        - name: b
          when: hallway.motion
          if: not known(counter)
          do: [{ set: { house.mode: "first" } }]
        - name: a
          when: hallway.motion
          do: [{ set: { counter: 1 } }]
      """
    for text in [forward, backward] {
      let rig = try Rig(text)
      rig.input("hallway.motion", true)
      #expect(rig.value("house.mode") == "first")
      #expect(rig.value("counter") == 1)
    }
  }

  @Test func loopsAreStoppedByDepth() throws {
    let rig = try Rig(
      """
      rules:
        - name: ping
          when: ping
          do: [{ set: { ping: off, pong: on } }]
        - name: pong
          when: pong
          do: [{ set: { pong: off, ping: on } }]
        - name: start
          when: hallway.motion
          do: [{ set: { ping: on } }]
      """)
    rig.input("hallway.motion", true)
    let loops = rig.log.filter { $0.kind == .system }
    #expect(loops.count == 1)
    #expect(loops.first?.value["event"] == "rule loop")
    #expect(loops.first?.value["rules"] == .array(["start", "ping", "pong"]))
    #expect(loops.first?.cause == rig.log[0].seq)
    // The chain stopped around depth 32.
    let depthEvents = rig.log.filter { $0.kind == .signal && $0.source == .rule }.count
    #expect(depthEvents > 32 && depthEvents < 100)
    // The engine keeps going.
    rig.input("hallway.motion", false)
    rig.input("hallway.lux", 3, source: .mqtt)
    #expect(rig.value("hallway.lux") == 3)
  }

  @Test func loopsAreStoppedByEventCount() throws {
    // Each firing publishes 40 times: 1000 events are reached before depth 32.
    var actions = ""
    for i in 0..<40 { actions += "      - publish: { topic: t/\(i) }\n" }
    let rig = try Rig(
      """
      rules:
        - name: count
          on: counter
          do:
      \(actions)      - set: { counter: counter + 1 }
        - name: start
          when: hallway.motion
          do: [{ set: { counter: 0 } }]
      """)
    rig.input("hallway.motion", true)
    let loop = try #require(rig.log.first { $0.kind == .system })
    #expect(loop.value["rules"] == .array(["start", "count"]))
    let derived = rig.log.count - 2  // all but the input and the loop event
    #expect(derived >= 1000 && derived < 1100)
  }

  @Test func disabledRulesDoNotFire() throws {
    let rig = try Rig(
      """
      rules:
        - name: off-rule
          enabled: false
          when: hallway.motion
          do: [{ set: { hallway.light: on } }]
        - name: on-rule
          when: hallway.motion
          do: [{ set: { porch.light: on } }]
      """)
    rig.input("hallway.motion", true)
    #expect(rig.fired == ["on-rule"])
    #expect(rig.value("porch.light") == true)
    #expect(rig.value("hallway.light") != true)
    #expect(rig.engine.ruleNames == ["off-rule", "on-rule"])
  }

  @Test func publishTemplatesAndJSONPayloads() throws {
    let rig = try Rig(
      """
      rules:
        - name: report
          when: living.temperature > 28
          do:
            - publish:
                topic: alerts/${device}/heat
                payload: { temperature: "${living.temperature}", text: "t=${living.temperature}", rule: "${rule}", n: 3, ok: on, list: ["${1 + 1}"] }
                qos: 1
                retain: true
            - publish: { topic: "${prefix}/plain", payload: on }
      """)
    rig.input("living.temperature", 29.5, source: .mqtt)
    let published = rig.published
    #expect(published.count == 2)
    #expect(published.first?.topic == "alerts/hallway-pi/heat")
    let payload = try JSON.parse(published.first?.payload ?? "")
    #expect(
      payload
        == .object([
          "temperature": 29.5, "text": "t=29.5", "rule": "report", "n": 3, "ok": true, "list": .array([2]),
        ]))
    #expect(published.last?.topic == "ganglion/hallway-pi/plain")
    #expect(published.last?.payload == "on")
    let event = try #require(rig.log.first { $0.kind == .publish })
    #expect(event.value["qos"] == 1 && event.value["retain"] == true)
  }

  /// Issue 10: a rendered topic that cannot be published to is refused by the engine, recorded
  /// exactly as rendered with `"sent": false` and why; the other publishes of the firing go on.
  @Test func aRenderedTopicThatCannotBePublishedToIsRecordedAsRefused() throws {
    let rig = try Rig(
      """
      rules:
        - name: relay
          on: doorbell.press
          do:
            - publish: { topic: "${value}/notify", payload: "on" }
            - publish: { topic: "fine", payload: "${value}" }
      """)
    for value in ["ganglion/hallway-pi/set/hallway.light\u{0}", "a/+", "#"] {
      rig.input("doorbell.press", .string(value), source: .mqtt)
    }
    let publishes = rig.log.filter { $0.kind == .publish }
    let refused = publishes.filter { $0.value["topic"] != "fine" }
    #expect(refused.count == 3)
    #expect(refused.allSatisfy { $0.value["sent"] == false && $0.publishRefusal != nil })
    #expect(refused[0].value["topic"] == "ganglion/hallway-pi/set/hallway.light\u{0}/notify")
    #expect(refused[0].publishRefusal?.contains("NUL") == true)
    #expect(refused[1].publishRefusal?.contains("wildcard") == true)
    #expect(publishes.filter { $0.value["topic"] == "fine" }.allSatisfy { $0.publishRefusal == nil })
  }

  @Test func systemReadingsFireNothingButSetTheEdgeState() throws {
    let rig = try Rig(Self.motionLight)
    rig.input("hallway.motion", true, source: .system)
    #expect(rig.fired.isEmpty)
    #expect(rig.log.count == 1)
    rig.input("hallway.motion", true)  // still true: no edge after the start-up read
    #expect(rig.fired.isEmpty)
    rig.input("hallway.motion", false)
    rig.input("hallway.motion", true)  // a real edge
    #expect(rig.fired == ["light-on"])
  }

  @Test func restoreSetsStateWithoutFiring() throws {
    let rig = try Rig(
      """
      rules:
        - name: dark
          when: hallway.lux < 40
          do: [{ set: { hallway.light: on } }]
      """)
    rig.engine.restore(signal: "hallway.lux", value: 10, time: t0)
    #expect(rig.log.isEmpty)
    rig.input("hallway.lux", 5, source: .mqtt)  // already below 40: no edge
    #expect(rig.fired.isEmpty)
    rig.input("hallway.lux", 50, source: .mqtt)
    rig.input("hallway.lux", 5, source: .mqtt)
    #expect(rig.fired == ["dark"])
  }

  @Test func unknownSignalsAreRecordedAndReadable() throws {
    let rig = try Rig(Self.motionLight)
    rig.input("garage.door", true, source: .mqtt)
    #expect(rig.value("garage.door") == true)
    #expect(rig.log.count == 1)
  }
}

@Suite struct ReplayTests {
  @Test func replayingLoggedInputsReproducesTheRulesEvents() throws {
    let rules = try compileRules(EngineTests.motionLight)
    let live = Rig(rules)
    live.input("hallway.lux", 10, source: .mqtt)
    live.input("hallway.motion", true)
    live.input("hallway.motion", false)
    live.input("hallway.light", false, source: .command)
    live.input("hallway.motion", true)
    #expect(live.fired == ["light-on", "light-on"])

    let replay = Rig(rules)
    for event in live.log {
      guard let reading = Reading(event: event) else { continue }
      replay.clock = reading.time
      replay.input(reading.signal, reading.value, source: reading.source)
    }
    #expect(replay.log == live.log)
  }
}
