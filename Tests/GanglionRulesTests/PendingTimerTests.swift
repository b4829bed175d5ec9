import GanglionCore
import Testing

@testable import GanglionRules

@Suite struct PendingTimerTests {
  static let rules = """
    rules:
      - name: off
        when: not hallway.motion
        for: 2m
        do: [{ set: { hallway.light: off } }]
      - name: doorbell
        on: doorbell.press
        do:
          - set: { porch.light: on }
          - after: 30s
            do:
              - set: { porch.light: off }
              - log: "porch off after ${value}"
    """

  @Test func runningCountdownsAreListedAndRoundTripThroughJSON() throws {
    let rig = try Rig(Self.rules)
    let revision = rig.engine.timerRevision
    rig.input("hallway.motion", false)
    rig.wait(.seconds(10))
    rig.input("doorbell.press", "single", source: .mqtt)
    #expect(rig.engine.timerRevision != revision)
    let timers = rig.engine.pendingTimers
    #expect(timers.map(\.rule) == ["doorbell", "off"])
    #expect(timers.map(\.deadline) == [t0 + .seconds(40), t0 + .seconds(120)])
    #expect(timers[0].kind == .after(0) && timers[0].value == "single" && timers[0].signal == "doorbell.press")
    #expect(timers[1].kind == .for && timers[1].cause == rig.log[0].seq)
    for timer in timers {
      #expect(PendingTimer(jsonValue: try JSON.parse(JSON.encode(timer.jsonValue))) == timer)
    }
    rig.wait(.seconds(200))
    #expect(rig.engine.pendingTimers.isEmpty)
  }

  @Test func countdownsResumeAfterARestartAndLateOnesFireLate() throws {
    let ruleSet = try compileRules(Self.rules)
    let before = Rig(ruleSet)
    before.input("hallway.motion", false)
    before.input("doorbell.press", "single", source: .mqtt)
    let saved = before.engine.pendingTimers

    // The daemon was down for a minute: the `after` (30 s) is overdue, the `for` (2 m) not.
    let after = Rig(ruleSet, start: t0 + .seconds(60))
    after.engine.restore(signal: "hallway.motion", value: false, time: t0)
    after.engine.restore(signal: "hallway.light", value: true, time: t0)
    after.engine.restore(signal: "porch.light", value: true, time: t0)
    #expect(after.engine.restoreTimers(saved).isEmpty)
    #expect(after.engine.nextDeadline() == t0 + .seconds(30))
    after.wait(.seconds(0))
    let lateFired = try #require(after.log.first { $0.kind == .fired })
    #expect(lateFired.rule == "doorbell" && lateFired.late)
    #expect(after.value("porch.light") == false)
    #expect(after.log.contains { $0.kind == .log && $0.value == "porch off after single" })
    after.wait(.seconds(60))
    let onTime = try #require(after.log.last { $0.kind == .fired })
    #expect(onTime.rule == "off" && !onTime.late && onTime.time == t0 + .seconds(120))
    #expect(after.value("hallway.light") == false)
  }

  @Test func aRestoredForDoesNotFireIfItsConditionNoLongerHolds() throws {
    let ruleSet = try compileRules(Self.rules)
    let before = Rig(ruleSet)
    before.input("hallway.motion", false)
    let saved = before.engine.pendingTimers
    let after = Rig(ruleSet, start: t0 + .seconds(60))
    after.engine.restore(signal: "hallway.motion", value: true, time: t0 + .seconds(50))
    after.engine.restoreTimers(saved)
    after.wait(.seconds(120))
    #expect(after.fired.isEmpty)
    // The next time the condition becomes true, a countdown of its own runs.
    after.input("hallway.motion", false)
    after.wait(.seconds(120))
    #expect(after.fired == ["off"])
    #expect(after.log.last { $0.kind == .fired }?.time == t0 + .seconds(300))
  }

  @Test func timersOfChangedRulesAreNotResumed() throws {
    let before = Rig(try compileRules(Self.rules))
    before.input("hallway.motion", false)
    let saved = before.engine.pendingTimers
    let changed = Rig(try compileRules(Self.rules.replacingOccurrences("for: 2m", "for: 3m")))
    #expect(changed.engine.restoreTimers(saved) == saved)
    #expect(changed.engine.nextDeadline() == nil)
  }

  @Test func aReloadReportsTheCountdownsItCancels() throws {
    let rig = Rig(try compileRules(Self.rules))
    rig.input("hallway.motion", false)
    rig.input("doorbell.press", "single", source: .mqtt)
    let cancelled = rig.engine.replaceRules(try compileRules(Self.rules.replacingOccurrences("30s", "45s")))
    #expect(cancelled.map(\.rule) == ["doorbell"])
    #expect(rig.engine.pendingTimers.map(\.rule) == ["off"])
  }
}
