import GanglionCore
import Testing

@testable import GanglionRules

/// Issue 10 item 9: a rule whose publish comes back as its own trigger (through the broker, on
/// the daemon's own `set/` topic) looped forever: each turn is a new input, so the chain
/// limits never see it. A per-rule firing-rate breaker, on the engine's clock, stops it.
@Suite struct FiringBreakerTests {
  static let rules = """
    rules:
      - name: echo
        on: counter
        do:
          - publish: { topic: "ganglion/hallway-pi/set/counter", payload: "${value + 1}" }
    """

  @Test func aRuleFiringFasterThanTheLimitIsPausedAndSaysSoOnce() throws {
    let rig = try Rig(Self.rules)
    // The loop: every publish comes back 1 ms later as a command.
    for value in 0..<5000 {
      rig.input("counter", .number(Double(value)), source: .command)
      rig.clock = rig.clock + .milliseconds(1)
    }
    let firings = rig.fired.count
    #expect(firings == Engine.breakerFirings, "it fires up to the limit, then no more: \(firings)")
    let trips = rig.log.compactMap(\.systemEvent).filter { if case .ruleBreaker = $0 { true } else { false } }
    #expect(trips.count == 1)
    guard case .ruleBreaker(let rule, let count, let seconds, let pause)? = trips.first else { return }
    #expect(rule == "echo" && count == Engine.breakerFirings)
    #expect(seconds == 10 && pause == 60)

    // After the pause the rule fires again.
    rig.clock = rig.clock + .seconds(61)
    rig.input("counter", 1, source: .command)
    #expect(rig.fired.count == firings + 1)
  }

  @Test func aRuleFiringBelowTheLimitIsNeverPaused() throws {
    let rig = try Rig(Self.rules)
    for value in 0..<(3 * Engine.breakerFirings) {
      rig.input("counter", .number(Double(value)), source: .command)
      rig.clock = rig.clock + .milliseconds(10_000 / (Engine.breakerFirings - 1) + 1)
    }
    #expect(rig.fired.count == 3 * Engine.breakerFirings)
    #expect(!rig.log.contains { $0.kind == .system })
  }

  @Test func checkWarnsAboutAPublishToTheDaemonsOwnCommandTopics() {
    let own = OwnCommandTopics(device: "hallway-pi", prefix: "ganglion/hallway-pi")
    let (_, diagnostics) = RuleCompiler.compile(
      [
        RuleSource(
          file: "rules.yaml",
          text: Self.rules
            + "\n      - publish: { topic: \"${prefix}/set/alarm.armed\" }\n      - publish: { topic: \"${prefix}/heartbeat\" }\n"
        )
      ],
      signals: demoSignals, ownCommands: own)
    let warnings = diagnostics.filter { $0.severity == .warning }.map(\.description)
    #expect(warnings.count == 2, "\(warnings)")
    #expect(warnings.first?.hasPrefix("rules.yaml:5:28: warning:") == true, "\(warnings)")
    #expect(warnings.allSatisfy { $0.contains("own command topic") }, "\(warnings)")
  }
}
