import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Synchronization
import Testing

@testable import GanglionDaemon

/// The daemon as a user meets it: the real executable, a real Mosquitto broker, the CLI.
@Suite struct EndToEndTests {
  static let rules = """
    rules:
      - name: light-on
        when: hallway.motion
        if: hallway.lux < 40 or not known(hallway.lux)
        do:
          - set: { hallway.light: on }
          - publish: { topic: home/hallway/light, payload: "on" }
    """

  static func config(broker: MosquittoBroker, extra: String = "") -> String {
    hallwayConfig(
      device: "test-pi",
      signals: """
        hallway.lux:
          mqtt: { topic: sensors/hallway/lux, type: number }
        living.temperature:
          mqtt: { topic: zigbee2mqtt/living, json: temperature, type: number }
        house.mode:
          type: string
          initial: home
          persist: true
        """,
      log: "dir: log\nsync: always",
      sections: "mqtt:\n  url: \(broker.url)\n  commands: true\n\(extra)\n")
  }

  @Test func injectedMotionTurnsTheLightOnThroughRealMQTTAndStopSaysOffline() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "#")
    let daemon = try await DaemonHarness(config: Self.config(broker: broker), files: ["rules.yaml": Self.rules])
    _ = try await observer.wait(for: "ganglion/test-pi/status") {
      $0.text == "online" && $0.retain == false || $0.text == "online"
    }

    let inject = try await daemon.cli(["inject", "hallway.motion", "on"])
    #expect(inject.code == 0, "\(inject.output)")

    let motion = try await observer.event(on: "ganglion/test-pi/events/hallway.motion") { $0["value"] == true }
    #expect(motion["source"] == "simulator")
    #expect(motion["previous"] == false)
    #expect(motion["kind"] == "signal")
    let motionSeq = try #require(motion["seq"]?.numberValue)
    #expect(motion["id"] == .string("test-pi:\(Int(motionSeq))"))

    let fired = try await observer.event(on: "ganglion/test-pi/fired/light-on")
    #expect(fired["cause"] == .number(motionSeq))
    let light = try await observer.event(on: "ganglion/test-pi/events/hallway.light") { $0["value"] == true }
    #expect(light["cause"] == .number(motionSeq))
    #expect(light["rule"] == "light-on")
    #expect(light["source"] == "rule")
    #expect(try #require(light["seq"]?.numberValue) > motionSeq)
    let published = try await observer.wait(for: "home/hallway/light")
    #expect(published.text == "on")
    // ... and the light's GPIO line is driven high on the (simulated) board.
    try await waitUntil("the light's line to go high") {
      try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["simulated_lines"]?["hallway.light"]
        == true
    }

    // A client that subscribes later sees the retained state.
    let late = try await MQTTObserver(broker: broker, filter: "ganglion/test-pi/state/#")
    let state = try await late.wait(for: "ganglion/test-pi/state/hallway.light")
    #expect(state.text == "true")
    #expect(state.retain)

    let status = await daemon.stop()
    #expect(status == .exited(code: 0), "\(daemon.output)")
    #expect(!daemon.output.contains("while stopping"), "nothing was sent during the stop: \(daemon.output)")
    _ = try await observer.wait(for: "ganglion/test-pi/status") { $0.text == "offline" }
    let afterStop = try await MQTTObserver(broker: broker, filter: "ganglion/test-pi/status")
    #expect(try await afterStop.wait(for: "ganglion/test-pi/status").text == "offline")
  }

  @Test func mirrorTopicsTurnedOffStayQuietWhileStateAndRulePublishesFlow() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "#")
    let daemon = try await DaemonHarness(
      config: Self.config(broker: broker, extra: "  publish: { events: false, fired: false }"),
      files: ["rules.yaml": Self.rules])
    _ = try await observer.wait(for: "ganglion/test-pi/status") { $0.text == "online" }

    let inject = try await daemon.cli(["inject", "hallway.motion", "on"])
    #expect(inject.code == 0, "\(inject.output)")
    // The daemon publishes in seq order: motion, fired, light, then the rule's own topic. Once
    // that last one is here, any mirror of the earlier events would be here too.
    _ = try await observer.wait(for: "ganglion/test-pi/state/hallway.motion") { $0.text == "true" }
    _ = try await observer.wait(for: "ganglion/test-pi/state/hallway.light") { $0.text == "true" }
    #expect(try await observer.wait(for: "home/hallway/light").text == "on")
    let mirrored = observer.messages.map(\.topic).filter {
      $0.hasPrefix("ganglion/test-pi/events/") || $0.hasPrefix("ganglion/test-pi/fired/")
    }
    #expect(mirrored.isEmpty, "published although turned off: \(mirrored)")
    _ = await daemon.stop()
  }

  /// QoS 0 is at most once: a rule's qos 0 `publish` that happened while the broker was away
  /// is not sent late when it returns, while the QoS 1 events around it are.
  @Test func aQoS0RulePublishIsNotSentLateAfterAnOutage() async throws {
    // A persistent session and queued QoS 0: whatever the daemon sends after the outage
    // reaches this subscriber, whichever of the two reconnects first.
    let broker = try await MosquittoBroker(extraConfiguration: [
      "persistence true", "autosave_interval 0", "queue_qos0_messages true",
    ])
    final class Inbox: Sendable { let messages = Mutex<[MQTTMessage]>([]) }
    let inbox = Inbox()
    let subscriber = try MQTTClient(
      options: MQTTClientOptions(
        host: broker.host, port: broker.port, clientID: "late-check-\(Int.random(in: 0...1_000_000))",
        subscriptions: ["#"], reconnectDelay: (.milliseconds(50), .milliseconds(200)), cleanSession: false),
      onMessage: { message in inbox.messages.withLock { $0.append(message) } }, onStateChange: { _ in })
    try subscriber.start()
    defer { subscriber.stop(finalMessage: nil) }
    try await waitUntil("the subscriber to connect", timeout: .seconds(10)) { subscriber.isConnected }
    let daemon = try await DaemonHarness(config: Self.config(broker: broker), files: ["rules.yaml": Self.rules])
    try await daemon.waitForBroker()

    await broker.stop()
    try await waitUntil("the daemon to notice", timeout: .seconds(10)) {
      try await daemon.status()["mqtt"]?["connected"] == false
    }
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)  // fires light-on
    #expect(try await daemon.cli(["inject", "hallway.motion", "off"]).code == 0)
    try await broker.restart()
    // The motion-off event comes after the rule's publish in seq order: once it is here,
    // a late publish would be too.
    try await waitUntil("the QoS 1 events from the outage", timeout: .seconds(20)) {
      inbox.messages.withLock { messages in
        messages.contains {
          $0.topic == "ganglion/test-pi/events/hallway.motion" && $0.text.contains(#""value":false"#)
            && $0.text.contains(#""source":"simulator""#)
        }
      }
    }
    let topics = inbox.messages.withLock { $0.map(\.topic) }
    #expect(topics.contains("ganglion/test-pi/fired/light-on"), "the firing itself is an event: \(topics)")
    #expect(!topics.contains("home/hallway/light"), "the qos 0 publish was sent late: \(topics)")
    _ = await daemon.stop()
  }

  @Test func killedDaemonLeavesTheWillAndRestartsWithSeqAndPersistedValuesIntact() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "ganglion/#")
    let daemon = try await DaemonHarness(config: Self.config(broker: broker), files: ["rules.yaml": Self.rules])
    _ = try await observer.wait(for: "ganglion/test-pi/status") { $0.text == "online" }

    try await broker.publish(topic: "ganglion/test-pi/set/house.mode", text: "away")
    let mode: Value
    do {
      mode = try await observer.event(on: "ganglion/test-pi/events/house.mode") { $0["value"] == "away" }
    } catch {
      Issue.record("\(observer.messages.map { "\($0.topic) \($0.text)" })\n\(daemon.output)")
      throw error
    }
    #expect(mode["source"] == "command")
    try await broker.publish(topic: "sensors/hallway/lux", text: "30")
    _ = try await observer.wait(for: "ganglion/test-pi/state/hallway.lux") { $0.text == "30" }
    let lastSeqBeforeKill = try #require(
      try await observer.event(on: "ganglion/test-pi/events/hallway.lux")["seq"]?.numberValue)

    daemon.kill()
    _ = try await observer.wait(for: "ganglion/test-pi/status") { $0.text == "offline" }

    try await daemon.restart()
    // The persisted value comes back at start-up: a `system` event, not a replayed command.
    let status = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
    #expect(status["signals"]?["house.mode"]?["value"] == "away")
    _ = try await observer.wait(for: "ganglion/test-pi/state/house.mode") { $0.text == "away" }
    // The lux input starts unknown again (no `persist`): its retained state from before the
    // kill is cleared with an empty retained message, not left standing as if current.
    #expect(try await observer.wait(for: "ganglion/test-pi/state/hallway.lux") { $0.payload.isEmpty }.retain == false)
    let late = try await MQTTObserver(broker: broker, filter: "ganglion/test-pi/state/#")
    _ = try await late.wait(for: "ganglion/test-pi/state/house.mode")
    #expect(!late.messages.contains { $0.topic == "ganglion/test-pi/state/hallway.lux" }, "\(late.messages)")

    let tail = try await daemon.cli(["log", "tail", "-n", "100", "--json"])
    #expect(tail.code == 0, "\(tail.output)")
    let events = tail.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    let seqs = events.compactMap { $0["seq"]?.numberValue }
    #expect(seqs.count > 4)
    let restored = events.last { $0["signal"] == "house.mode" }
    #expect(restored?["source"] == "system" && restored?["value"] == "away", "\(tail.output)")
    #expect((restored?["seq"]?.numberValue ?? 0) > lastSeqBeforeKill)
    #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "seq must increase across restarts: \(seqs)")
    #expect(seqs.contains(lastSeqBeforeKill))
    _ = await daemon.stop()
  }

  @Test func aCountdownRunningAtAKillFiresLateAfterTheRestart() async throws {
    let broker = try await MosquittoBroker()
    let rules =
      Self.rules + """

          - name: light-off
            when: not hallway.motion
            for: 3s
            do:
              - set: { hallway.light: off }
        """
    let daemon = try await DaemonHarness(config: Self.config(broker: broker), files: ["rules.yaml": rules])
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
    #expect(try await daemon.cli(["inject", "hallway.motion", "off"]).code == 0)
    // The countdown is saved beside the log when the event is synced (sync: always); the
    // daemon is killed while it runs (3 s is the window to see it saved, even on a busy machine).
    let timers = daemon.folder.path("log/timers.json")
    defer {
      if daemon.process.withLock({ $0?.isRunning }) == true {
        // Still running means the wait below failed: say what was there.
        Issue.record("timers.json: \(readTextFile(timers) ?? "missing")\n\(daemon.output)")
      }
    }
    let deadline = try await waitFor("the countdown to be saved", timeout: .seconds(20)) { () -> Timestamp? in
      guard let text = readTextFile(timers), case .array(let items) = try? JSON.parse(text),
        let first = items.first, first["rule"] == "light-off"
      else { return nil }
      return first["deadline"]?.stringValue.flatMap(Timestamp.init(iso8601:))
    }
    daemon.kill()
    // Stay down past the deadline.
    try await waitUntil("the deadline to pass", timeout: .seconds(10), pollInterval: .milliseconds(20)) {
      SystemClock().now() > deadline
    }
    try await daemon.restart()
    let fired = try await waitFor("the late firing in the log", timeout: .seconds(10)) { () -> Value? in
      let tail = try await daemon.cli(["log", "tail", "-n", "50", "--json"])
      return tail.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }.first {
        $0["kind"] == "fired" && $0["rule"] == "light-off"
      }
    }
    #expect(fired["late"] == true)
    _ = await daemon.stop()
  }

  @Test func badPayloadsAreDeadLetteredAndCountedWhileValidTrafficFlows() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "ganglion/#")
    let daemon = try await DaemonHarness(config: Self.config(broker: broker), files: ["rules.yaml": Self.rules])
    _ = try await observer.wait(for: "ganglion/test-pi/status") { $0.text == "online" }

    try await broker.publish(topic: "sensors/hallway/lux", text: "dark")
    try await broker.publish(topic: "zigbee2mqtt/living", text: "humidity 40")
    try await broker.publish(topic: "sensors/hallway/lux", text: String(repeating: "9", count: 300 * 1024))
    try await broker.publish(topic: "ganglion/test-pi/set/hallway.motion", text: "on")
    try await broker.publish(topic: "ganglion/test-pi/set/hallway.moton", text: "on")
    try await broker.publish(topic: "sensors/hallway/lux", text: "12.5")
    try await broker.publish(topic: "zigbee2mqtt/living", text: #"{"temperature": 21.5, "humidity": 40}"#)

    _ = try await observer.wait(for: "ganglion/test-pi/state/hallway.lux") { $0.text == "12.5" }
    _ = try await observer.wait(for: "ganglion/test-pi/state/living.temperature") { $0.text == "21.5" }
    try await waitUntil("five dead letters", timeout: .seconds(10)) {
      observer.messages.filter { $0.topic == "ganglion/test-pi/dead_letter" }.count == 5
    }
    let reasons = try observer.messages.filter { $0.topic == "ganglion/test-pi/dead_letter" }.map {
      try JSON.parse($0.text)
    }
    #expect(reasons[0]["topic"] == "sensors/hallway/lux" && reasons[0]["payload"] == "dark")
    #expect(reasons[1]["reason"]?.stringValue?.contains("temperature") == true)
    #expect(reasons[2]["reason"]?.stringValue?.contains("256 KiB") == true)
    #expect(reasons[2]["payload"] == .string(String(repeating: "9", count: 1024)), "only the start is kept")
    #expect(reasons[3]["reason"]?.stringValue?.contains("is an input") == true)
    #expect(reasons[4]["reason"]?.stringValue?.contains("did you mean 'hallway.motion'") == true)
    for reason in reasons { #expect(reason["time"]?.stringValue.flatMap(Timestamp.init(iso8601:)) != nil) }
    // The keys in events.md's order.
    let first = try #require(observer.messages.first { $0.topic == "ganglion/test-pi/dead_letter" })
    #expect(first.text.hasPrefix(#"{"topic":"sensors/hallway/lux","payload":"dark","reason":"#), "\(first.text)")

    // The signal never took a bad value: the only lux events are the good one.
    let luxEvents = observer.messages.filter { $0.topic == "ganglion/test-pi/events/hallway.lux" }
    #expect(luxEvents.count == 1)
    // ... and the motion input was not changed by the refused command.
    #expect(
      !observer.messages.contains {
        $0.topic == "ganglion/test-pi/events/hallway.motion" && $0.text.contains("\"value\":true")
      })

    let metrics = try await HTTPGet.text(port: daemon.httpPort, path: "/metrics")
    #expect(metrics.contains("ganglion_dead_letters_total 5"))

    // A valid command to an output drives its line.
    try await broker.publish(topic: "ganglion/test-pi/set/hallway.light", text: "on")
    try await waitUntil("the commanded light's line to go high") {
      try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))["simulated_lines"]?["hallway.light"]
        == true
    }
    _ = await daemon.stop()
  }

  @Test func brokerDownAtStartIsNotFatalAndTheDaemonConnectsWhenItComes() async throws {
    let broker = try await MosquittoBroker()
    await broker.stop()
    let daemon = try await DaemonHarness(config: Self.config(broker: broker), files: ["rules.yaml": Self.rules])
    let status = try await HTTPGet.text(port: daemon.httpPort, path: "/status")
    #expect(try JSON.parse(status)["mqtt"]?["connected"] == false)
    // Events still happen and are logged without a broker.
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
    try await waitUntil("the light to go on without a broker") {
      let status = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
      return status["signals"]?["hallway.light"]?["value"] == true
    }

    try await broker.restart()
    let observer = try await MQTTObserver(broker: broker, filter: "ganglion/test-pi/#")
    _ = try await observer.wait(for: "ganglion/test-pi/status", timeout: .seconds(20)) { $0.text == "online" }
    // The retained state is republished on connect, so a new subscriber sees the light on.
    _ = try await observer.wait(for: "ganglion/test-pi/state/hallway.light") { $0.text == "true" }
    _ = await daemon.stop()
  }

  @Test func reloadRejectsBrokenRulesAndKeepsTheRunningOnes() async throws {
    let broker = try await MosquittoBroker()
    let daemon = try await DaemonHarness(config: Self.config(broker: broker), files: ["rules.yaml": Self.rules])
    _ = try daemon.folder.write(Self.rules.replacingAll("hallway.motion", with: "hallway.motoin"), to: "rules.yaml")
    let rejected = try await daemon.cli(["reload"])
    #expect(rejected.code == 1)
    #expect(rejected.output.contains("rules.yaml:3:11: error:"), "\(rejected.output)")
    #expect(rejected.output.contains("did you mean 'hallway.motion'"))
    let status = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
    #expect(status["rejected_reload"]?["errors"] != nil)

    // The old rules still run.
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
    try await waitUntil("the old rule to turn the light on") {
      let status = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
      return status["signals"]?["hallway.light"]?["value"] == true
    }

    _ = try daemon.folder.write(Self.rules.replacingAll("light-on", with: "lamp-on"), to: "rules.yaml")
    let accepted = try await daemon.cli(["reload"])
    #expect(accepted.code == 0, "\(accepted.output)")
    let after = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
    #expect(after["rules"]?["lamp-on"] != nil)
    #expect(after["rejected_reload"] == .null)
    _ = await daemon.stop()
  }
}

@Suite struct CommandLineTests {
  @Test func checkPrintsEveryMistakeWithItsLineAndColumn() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-check")
    _ = try folder.write(
      """
      rules:
        - name: light-on
          when: hallway.motoin
          do:
            - set: { hallway.light: on }
      """, to: "rules.yaml")
    let path = try folder.write(
      """
      device: test-pi
      rules: rules.yaml
      signals:
        hallway.motion:
          gpio: { chip: gpiochip0, line: 17, debounse: 50ms }
        hallway.light:
          gpio: { chip: gpiochip0, line: 27, output: true, initial: sometimes }
      log:
        sync: 5 parsecs
      """, to: "ganglion.yaml")
    let result = try await runGanglion(["check", "--config", path])
    #expect(result.code == 1)
    let errors = result.output.split(separator: "\n").filter { $0.contains(": error: ") }
    #expect(errors.count == 4, "\(result.output)")
    #expect(result.output.contains("\(path):5:40: error:"), "\(result.output)")
    #expect(result.output.contains("did you mean 'debounce'?"))
    #expect(result.output.contains("\(path):7:63: error:"), "\(result.output)")
    #expect(result.output.contains("\(path):9:9: error:"), "\(result.output)")
    #expect(result.output.contains("rules.yaml:3:11: error:"), "\(result.output)")

    // The daemon refuses the same config with exit code 2 (bad config).
    let run = try await runGanglion(["run", "--config", path, "--simulate"])
    #expect(run.code == 2)
  }

  @Test func checkAcceptsTheDemoConfigurationAndTheExampleRulesPassTheirTests() async throws {
    let check = try await runGanglion(["check", "--config", "\(repositoryRoot)/Hardware/demo.yaml"])
    #expect(check.code == 0, "\(check.output)")
    let test = try await runGanglion([
      "test", "--config", "\(repositoryRoot)/Hardware/demo.yaml", "\(repositoryRoot)/Rules",
    ])
    #expect(test.code == 0, "\(test.output)")
    #expect(test.output.contains(" passed, 0 failed"))
  }

  @Test func aConfigInsideItsOwnRulesFolderIsNotReadAsRules() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-flat")
    _ = try folder.write(
      """
      rules:
        - name: copy
          on: house.mode
          do:
            - set: { house.echo: value }
      """, to: "copy.yaml")
    let path = try folder.write(
      """
      device: flat-pi
      rules: .
      signals:
        house.mode: { type: string }
        house.echo: { type: string }
      """, to: "house.yaml")
    let result = try await runGanglion(["check", "--config", path])
    #expect(result.code == 0, "\(result.output)")
    #expect(result.output.contains("1 rule in 1 file"), "\(result.output)")
  }

  @Test func badUsageExitsWithTwo() async throws {
    #expect(try await runGanglion(["frobnicate"]).code == 2)
    #expect(try await runGanglion(["inject", "only-one-argument"]).code == 2)
  }
}
