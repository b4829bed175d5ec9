import GanglionCore
import GanglionRules
import GanglionSystem
import GanglionTestSupport
import Synchronization
import Testing

@testable import GanglionDaemon

/// Issue 10 item 3: a FIFO named `*.yaml` in the rules folder froze the daemon: `check` hung, a
/// reload blocked the pipeline's thread (all events stopped), and SIGTERM was ignored. Files are
/// opened without blocking and only regular files are read; rules are read and compiled off
/// the pipeline's thread; a reload its caller gave up on is cancelled, not left queued.
@Suite struct NonBlockingReloadTests {
  static let rules = """
    rules:
      - name: follow
        on: hallway.motion
        do:
          - set: { hallway.light: value }
    """

  @Test func aFIFONamedLikeARuleFileIsAnErrorForCheckAndReloadAndNeverFreezesTheDaemon() async throws {
    let config = hallwayConfig(device: "fifo-pi").replacingAll("rules: rules.yaml", with: "rules: .")
    let daemon = try await DaemonHarness(config: config, files: ["main.yaml": Self.rules])
    let fifo = daemon.folder.path("extra.yaml")
    try await ChildProcess.run("mkfifo", [fifo])

    let check = try await runGanglion(["check", "--config", daemon.configPath], timeout: .seconds(10))
    #expect(check.code == 1, "\(check.output)")
    #expect(check.output.contains("extra.yaml") && check.output.contains("FIFO"), "\(check.output)")

    let reload = try await runGanglion(["reload", "--config", daemon.configPath], timeout: .seconds(10))
    #expect(reload.code == 1, "\(reload.output)")
    #expect(reload.output.contains("extra.yaml") && reload.output.contains("FIFO"), "\(reload.output)")

    // Events still flow: the pipeline never waited on the FIFO.
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
    try await waitUntil("the rule to follow the motion", timeout: .seconds(5)) {
      try await daemon.status()["signals"]?["hallway.light"]?["value"] == true
    }
    let start = ContinuousClock.now
    #expect(await daemon.stop() == .exited(code: 0), "\(daemon.output)")
    #expect(ContinuousClock.now - start < .seconds(10))
  }

  /// A reload whose reading takes longer than its caller waits: the caller hears it timed out,
  /// and the reload is cancelled (never applied later), so it cannot wedge anything afterwards.
  @Test func aReloadItsCallerGaveUpOnIsCancelledNotAppliedLater() async throws {
    let gate = Gate()
    let applied = Counter()
    let reloader = RuleReloader(
      minimumInterval: .zero, prepare: { gate.pass() },
      apply: { prepared, ticket in
        guard ticket.beginApplying() else { return true }
        applied.increment()
        ticket.finish(ReloadOutcome(accepted: true, ruleCount: 0, diagnostics: [], time: Timestamp(seconds: 0)))
        return true
      })
    try reloader.start()
    defer { reloader.stop() }

    let slow = reloader.request()
    #expect(try await offThePool { slow.wait(timeout: .milliseconds(200)) } == nil, "the caller timed out")
    gate.open()
    // A later reload runs and is applied; the abandoned one never is.
    let next = reloader.request()
    let outcome = try await offThePool { next.wait(timeout: .seconds(5)) }
    #expect(outcome?.accepted == true)
    #expect(applied.value == 1)
    #expect(slow.isCancelled)
  }

  /// Requests that arrive while one waits to start join it: one reading, one answer for all.
  @Test func reloadsQueuedTogetherAreCoalescedIntoOne() async throws {
    let gate = Gate()
    let prepared = Counter()
    let reloader = RuleReloader(
      minimumInterval: .zero,
      prepare: {
        prepared.increment()
        return gate.pass()
      },
      apply: { _, ticket in
        guard ticket.beginApplying() else { return true }
        ticket.finish(ReloadOutcome(accepted: true, ruleCount: 0, diagnostics: [], time: Timestamp(seconds: 0)))
        return true
      })
    try reloader.start()
    defer { reloader.stop() }
    let first = reloader.request()  // being prepared, held at the gate
    try await waitUntil("the first reload to start") { prepared.value == 1 }
    let queued = (0..<5).map { _ in reloader.request() }
    #expect(queued.allSatisfy { $0 === queued[0] }, "later requests join the queued one")
    gate.open()
    for ticket in [first] + queued {
      #expect(try await offThePool { ticket.wait(timeout: .seconds(5)) }?.accepted == true)
    }
    #expect(prepared.value == 2)
  }
}

/// Holds `pass()` until `open()`.
final class Gate: Sendable {
  private let opened = Atomic<Bool>(false)

  func open() { opened.store(true, ordering: .releasing) }

  func pass() -> PreparedRules {
    while !opened.load(ordering: .acquiring) { sleepOnThisThread(.milliseconds(1)) }
    return PreparedRules(rules: nil, sources: [], diagnostics: [])
  }
}

final class Counter: Sendable {
  private let count = Atomic<Int>(0)
  var value: Int { count.load(ordering: .acquiring) }
  func increment() { count.add(1, ordering: .acquiringAndReleasing) }
}
