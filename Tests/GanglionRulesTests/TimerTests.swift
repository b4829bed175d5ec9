import GanglionCore
import Testing

@testable import GanglionRules

@Suite struct TriggerAndTimerTests {
  @Test func onFiresOnEveryUpdateWithBindings() throws {
    let rig = try Rig(
      """
      rules:
        - name: bell
          on: doorbell.press
          if: value == "single"
          do:
            - log: "pressed ${value} after ${previous} on ${signal}"
      """)
    rig.input("doorbell.press", "single", source: .mqtt)
    rig.input("doorbell.press", "single", source: .mqtt)
    rig.input("doorbell.press", "double", source: .mqtt)
    #expect(rig.fired == ["bell", "bell"])
    let logs = rig.log.filter { $0.kind == .log }.map(\.value)
    #expect(
      logs == [
        "pressed single after unknown on doorbell.press", "pressed single after single on doorbell.press",
      ])
  }

  @Test func onAListOfSignalsBindsJSON() throws {
    let rig = try Rig(
      """
      rules:
        - name: any
          on: [hallway.motion, hallway.lux]
          do: [{ log: "${signal}=${value}" }]
      """)
    rig.input("hallway.motion", true)
    rig.input("hallway.lux", 12, source: .mqtt)
    #expect(rig.log.filter { $0.kind == .log }.map(\.value) == ["hallway.motion=true", "hallway.lux=12"])
  }

  static let offDelay = """
    rules:
      - name: off
        when: not hallway.motion
        for: 2m
        do: [{ set: { hallway.light: off } }]
    """

  @Test func forFiresOnceTheConditionHeld() throws {
    let rig = try Rig(Self.offDelay)
    rig.engine.restore(signal: "hallway.light", value: true, time: t0)
    rig.input("hallway.motion", true)
    rig.input("hallway.motion", false)
    #expect(rig.engine.nextDeadline() == t0 + .seconds(120))
    rig.wait(.seconds(119))
    #expect(rig.fired.isEmpty)
    rig.wait(.seconds(1))
    #expect(rig.fired == ["off"])
    #expect(rig.value("hallway.light") == false)
    let fired = rig.log.first { $0.kind == .fired }!
    #expect(fired.time == t0 + .seconds(120))
    #expect(fired.cause == rig.log[1].seq)  // the motion-off event started the countdown
    #expect(rig.engine.nextDeadline() == nil)
  }

  @Test func forIsCancelledWhenTheConditionFalls() throws {
    let rig = try Rig(Self.offDelay)
    rig.input("hallway.motion", false)
    rig.wait(.seconds(60))
    rig.input("hallway.motion", true)
    rig.wait(.seconds(60))
    rig.input("hallway.motion", false)
    rig.wait(.seconds(119))
    #expect(rig.fired.isEmpty)
    rig.wait(.seconds(1))
    #expect(rig.fired == ["off"])
  }

  @Test func afterRestartsWhenTheRuleFiresAgain() throws {
    let rig = try Rig(
      """
      rules:
        - name: doorbell
          on: doorbell.press
          do:
            - set: { porch.light: on }
            - after: 30s
              do:
                - set: { porch.light: off }
      """)
    rig.input("doorbell.press", "single", source: .mqtt)
    #expect(rig.value("porch.light") == true)
    rig.wait(.seconds(20))
    rig.input("doorbell.press", "single", source: .mqtt)
    rig.wait(.seconds(20))
    #expect(rig.value("porch.light") == true)
    rig.wait(.seconds(10))
    #expect(rig.value("porch.light") == false)
    let last = rig.log.last!
    #expect(last.signal == "porch.light" && last.time == t0 + .seconds(50))
    let afterFired = rig.log.last { $0.kind == .fired }!
    #expect(afterFired.value == .object(["after": "30s"]))
    #expect(last.cause == afterFired.seq)
  }

  @Test func everyFiresPeriodicallyFromTheStart() throws {
    let rig = try Rig(
      """
      rules:
        - name: heartbeat
          every: 1m
          do:
            - publish: { topic: "${prefix}/heartbeat", payload: "${uptime}" }
      """)
    #expect(rig.engine.nextDeadline() == t0 + .seconds(60))
    rig.wait(.seconds(5 * 60 + 30))
    #expect(rig.published.map(\.payload) == ["60", "120", "180", "240", "300"])
    #expect(rig.published.allSatisfy { $0.topic == "ganglion/hallway-pi/heartbeat" })
    #expect(rig.fired.count == 5)
  }

  @Test func atFiresDailyAtLocalTime() throws {
    // UTC+1: 07:30 local is 06:30 UTC.
    let rig = try Rig(
      """
      rules:
        - name: morning
          at: ["07:30", "19:00"]
          do: [{ log: "at ${time}" }]
      """, utcOffsetSeconds: 3600)
    #expect(rig.engine.nextDeadline() == t0 + .seconds(6 * 3600 + 30 * 60))
    rig.wait(.seconds(86_400 + 7 * 3600))
    #expect(rig.log.filter { $0.kind == .log }.map(\.value) == ["at 07:30", "at 19:00", "at 07:30"])
  }

  @Test func whenOverAnAverageFiresOnTheCrossingAndWhenTheWindowMoves() throws {
    let rig = try Rig(
      """
      rules:
        - name: too-hot
          when: avg(living.temperature, 5m) > 28
          do: [{ publish: { topic: alerts/heat, payload: "${avg(living.temperature, 5m)}" } }]
      """)
    rig.input("living.temperature", 27, source: .mqtt)
    rig.wait(.seconds(60))
    rig.input("living.temperature", 30, source: .mqtt)  // avg 28.5: crosses
    #expect(rig.fired == ["too-hot"])
    #expect(rig.published.last?.payload == "28.5")
    rig.wait(.seconds(60))
    rig.input("living.temperature", 31, source: .mqtt)  // still above: no new firing
    #expect(rig.fired.count == 1)
    rig.input("living.temperature", 20, source: .mqtt)  // avg 27: below
    rig.input("living.temperature", 26, source: .mqtt)  // avg 26.8
    #expect(rig.fired.count == 1)
    // At 5m the first reading (27) leaves the window: avg(30, 31, 20, 26) = 26.75; at 6m the
    // 30 leaves: avg(31, 20, 26) = 25.67. Nothing crosses.
    rig.wait(.seconds(5 * 60))
    #expect(rig.fired.count == 1)
  }

  @Test func windowExpiryAloneCanCrossTheThreshold() throws {
    let rig = try Rig(
      """
      rules:
        - name: cooled
          when: max(living.temperature, 5m) < 25
          do: [{ log: cooled }]
      """)
    rig.input("living.temperature", 30, source: .mqtt)
    rig.wait(.seconds(60))
    rig.input("living.temperature", 20, source: .mqtt)
    #expect(rig.fired.isEmpty)
    // No new reading: the 30 leaves the window at exactly 5m after it came.
    #expect(rig.engine.nextDeadline() == t0 + .seconds(300))
    rig.wait(.seconds(240))
    #expect(rig.fired == ["cooled"])
    #expect(rig.log.last { $0.kind == .fired }?.time == t0 + .seconds(300))
  }

  @Test func countSumMinChanged() throws {
    let rig = try Rig(
      """
      rules:
        - name: busy
          when: count(hallway.motion, 1m) >= 4
          do: [{ log: "sum=${sum(hallway.lux, 1m)} min=${min(hallway.lux, 1m)} changed=${changed(hallway.door, 1m)}" }]
      """)
    rig.input("hallway.lux", 10, source: .mqtt)
    rig.input("hallway.lux", 5, source: .mqtt)
    for value in [true, false, true] {
      rig.input("hallway.motion", .bool(value))
      rig.wait(.seconds(1))
    }
    #expect(rig.fired.isEmpty)
    rig.input("hallway.motion", false)
    #expect(rig.log.last?.value == "sum=15 min=5 changed=false")
  }

  @Test func ageBasedWhenFiresWithoutNewEvents() throws {
    let rig = try Rig(
      """
      rules:
        - name: stale
          when: age(hallway.lux) > 10m
          do: [{ log: "lux is stale" }]
      """)
    rig.input("hallway.lux", 10, source: .mqtt)
    rig.wait(.seconds(600))
    #expect(rig.fired.isEmpty)
    rig.wait(.seconds(1))
    #expect(rig.fired == ["stale"])
    #expect(rig.log.last { $0.kind == .fired }?.time == t0 + .microseconds(600_000_001))
  }

  @Test func aRestoredValueStartsTheAgeClock() throws {
    let rig = try Rig(
      """
      rules:
        - name: stale
          when: age(hallway.lux) > 10m
          do: [{ log: "lux is stale" }]
      """)
    rig.engine.restore(signal: "hallway.lux", value: 10, time: t0)
    #expect(rig.engine.nextDeadline() == t0 + .seconds(600))
    rig.wait(.seconds(601))
    #expect(rig.fired == ["stale"])
  }

  @Test func timeOfDayWhenFiresAtTheBoundary() throws {
    let rig = try Rig(
      """
      rules:
        - name: night
          when: time in 22:00..06:00
          do: [{ set: { house.mode: "night" } }]
      """)
    rig.wait(.seconds(21 * 3600))
    #expect(rig.fired.isEmpty)
    rig.wait(.seconds(3600))
    #expect(rig.fired == ["night"])
    #expect(rig.log.first { $0.kind == .fired }?.time == t0 + .seconds(22 * 3600))
  }

  @Test func replaceRulesKeepsStateAndTimersOfUnchangedRules() throws {
    let offDelay = try compileRules(Self.offDelay)
    let rig = Rig(offDelay)
    rig.engine.restore(signal: "hallway.light", value: true, time: t0)
    rig.input("hallway.motion", false)
    rig.wait(.seconds(60))
    // Reload with the same rule plus a new one that is already true: it must not fire.
    let more = try compileRules(
      Self.offDelay + """

          - name: dark
            when: hallway.lux < 40
            do: [{ log: dark }]
        """)
    rig.engine.restore(signal: "hallway.lux", value: 10, time: t0)
    rig.engine.replaceRules(more)
    #expect(rig.value("hallway.light") == true)
    rig.wait(.seconds(60))
    #expect(rig.fired == ["off"])
    #expect(rig.value("hallway.light") == false)
  }

  @Test func replaceRulesDropsTimersOfChangedRules() throws {
    let rig = Rig(try compileRules(Self.offDelay))
    rig.engine.restore(signal: "hallway.light", value: true, time: t0)
    rig.input("hallway.motion", false)  // the 2-minute countdown starts
    let cancelled = rig.engine.replaceRules(try compileRules(Self.offDelay.replacingOccurrences("2m", "3m")))
    #expect(cancelled.map(\.rule) == ["off"])
    // Neither the old countdown nor one started by the reload runs out: the light stays on.
    rig.wait(.seconds(200))
    #expect(rig.fired.isEmpty)
    #expect(rig.value("hallway.light") == true)
    // The changed rule counts its 3 minutes from its next edge.
    rig.input("hallway.motion", true)
    rig.input("hallway.motion", false)
    rig.wait(.seconds(179))
    #expect(rig.fired.isEmpty)
    rig.wait(.seconds(1))
    #expect(rig.fired == ["off"])
    #expect(rig.log.last { $0.kind == .fired }?.time == t0 + .seconds(380))
    #expect(rig.value("hallway.light") == false)
  }

  @Test func timersDueBeforeAReadingRunFirst() throws {
    let rig = try Rig(Self.offDelay)
    rig.engine.restore(signal: "hallway.light", value: true, time: t0)
    rig.input("hallway.motion", false)
    rig.clock = t0 + .seconds(300)
    rig.input("hallway.motion", true)
    #expect(rig.log.map(\.kind) == [.signal, .fired, .signal, .signal])
    #expect(rig.log[1].time == t0 + .seconds(120))
  }
}

extension String {
  func replacingOccurrences(_ target: String, _ replacement: String) -> String {
    var out = ""
    var rest = self[...]
    while let range = rest.firstRange(of: target) {
      out += rest[..<range.lowerBound] + replacement
      rest = rest[range.upperBound...]
    }
    return out + rest
  }
}

@Suite struct TimerHeapTests {
  @Test func restartedTimersDoNotPileUp() throws {
    let rig = try Rig(
      """
      rules:
        - name: stale
          when: age(hallway.lux) > 10m
          do: [{ log: stale }]
        - name: porch
          on: doorbell.press
          do: [{ after: 1h, do: [{ log: late }] }]
      """)
    for i in 0..<10_000 {
      rig.input("hallway.lux", .number(Double(i)), source: .mqtt)
      rig.input("doorbell.press", "single", source: .mqtt)
      rig.clock = rig.clock + .milliseconds(10)
    }
    let engine = rig.engine
    #expect(engine.pendingTimers.count == 1)
    #expect(engine.timerHeapCount < 3000)
    rig.wait(.seconds(601))
    #expect(rig.fired.filter { $0 == "stale" }.count == 1)
  }
}

@Suite struct ReloadTests {
  @Test func aReloadWithNewSignalsKeepsValuesByName() throws {
    let rig = Rig(try compileRules(TriggerAndTimerTests.offDelay))
    rig.engine.restore(signal: "hallway.light", value: true, time: t0)
    rig.input("hallway.lux", 12, source: .mqtt)
    rig.input("hallway.motion", false)
    // The new config declares a signal first: every slot moves.
    let bigger = SignalCatalog(
      [SignalInfo(name: "garage.door", type: .bool, role: .input)] + demoSignals.all)
    let rules = try compileRules(
      TriggerAndTimerTests.offDelay + """

          - name: garage
            when: garage.door
            do: [{ set: { porch.light: on } }]
        """, signals: bigger)
    rig.engine.replaceRules(rules)
    #expect(rig.value("hallway.lux") == 12)
    #expect(rig.value("hallway.light") == true)
    rig.wait(.seconds(120))
    #expect(rig.value("hallway.light") == false)
    rig.input("garage.door", true)
    #expect(rig.value("porch.light") == true)
    #expect(rig.drives.last.map { $0.0 } == "porch.light")
  }
}

@Suite struct LocalTimeTests {
  @Test func atFollowsAChangingUTCOffset() throws {
    // Daylight saving starts at 10:00 UTC: the offset goes from +1h to +2h.
    let change = t0 + .seconds(10 * 3600)
    let context = EngineContext(device: "d", startTime: t0, timeZone: OneChangeZone(change: change.seconds))
    let rules = try compileRules("rules:\n  - name: noon\n    at: \"12:00\"\n    do: [{ log: \"${time}\" }]\n")
    let engine = Engine(rules: rules, signals: demoSignals, context: context)
    // 12:00 local is 10:00 UTC on this day (+2h), not 11:00.
    #expect(engine.nextDeadline() == t0 + .seconds(10 * 3600))
    var log: [Event] = []
    _ = engine.advance(to: t0 + .seconds(36 * 3600)) { log.append($0) }
    #expect(log.filter { $0.kind == .log }.map(\.time) == [t0 + .seconds(10 * 3600), t0 + .seconds(34 * 3600)])
    #expect(log.filter { $0.kind == .log }.map(\.value) == ["12:00", "12:00"])
  }
}

/// A zone at +1h that moves to +2h at `change` (seconds since the epoch), once.
struct OneChangeZone: TimeZoneRules {
  let change: Int64
  var identifier: String { "test" }

  func localTimeType(atUTC seconds: Int64) -> LocalTimeType {
    seconds < change
      ? LocalTimeType(utcOffset: 3600, isDaylightSaving: false, abbreviation: "ONE")
      : LocalTimeType(utcOffset: 7200, isDaylightSaving: true, abbreviation: "TWO")
  }

  func nextTransition(afterUTC seconds: Int64) -> Int64? { seconds < change ? change : nil }
}
