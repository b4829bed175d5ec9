import GanglionCore
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// Issue 10 item 9: a rule publishing to the daemon's own `<prefix>/set/` topic looped
/// through the broker forever. `check` warns about it, and the rule's firing-rate breaker
/// stops the loop and says so.
@Suite struct RuleLoopThroughBrokerTests {
  @Test func aRuleThatFeedsItselfThroughTheBrokerIsWarnedAboutAndStopped() async throws {
    let broker = try await MosquittoBroker()
    let daemon = try await DaemonHarness(
      config: hallwayConfig(
        device: "loop-pi", signals: "visits: { type: number, initial: 0 }\nmarker: { type: string }",
        sections: "mqtt:\n  url: \(broker.url)\n  commands: true\n"),
      files: [
        "rules.yaml": """
        rules:
          - name: echo
            on: visits
            do:
              - publish: { topic: "${prefix}/set/visits", payload: "${value + 1}" }
        """
      ])
    let check = try await daemon.cli(["check"])
    #expect(check.code == 0, "a warning, not an error: \(check.output)")
    #expect(
      check.output.contains("rules.yaml:5:28: warning:") && check.output.contains("own command topic"),
      "\(check.output)")

    try await daemon.waitForBroker()
    try await broker.publish(topic: "ganglion/loop-pi/set/visits", text: "1")
    try await waitUntil("the breaker to stop the loop", timeout: .seconds(30)) {
      try await daemon.status()["counters"]?["rule_breaker_trips"] == 1
    }
    // Commands are handled in order: once a later one is in, the loop had its chance to go on.
    try await broker.publish(topic: "ganglion/loop-pi/set/marker", text: "after")
    try await waitUntil("the marker") { try await daemon.status()["signals"]?["marker"]?["value"] == "after" }
    let status = try await daemon.status()
    #expect(status["rules"]?["echo"]?["fired"]?.numberValue == Double(2000), "\(String(describing: status["rules"]))")
    #expect(daemon.output.contains("rule echo fired 2000 times within 10 s"), "\(daemon.output)")
    _ = await daemon.stop()
  }
}
