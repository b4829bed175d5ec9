import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Synchronization
import Testing

@testable import GanglionDaemon

/// Loops, reload, `log` actions, `on` lists and following the log, through the daemon.
@Suite struct SpecConformanceDaemonTests {
  @Test func aRuleLoopIsStoppedLoggedByNameAndTheDaemonKeepsRunning() async throws {
    let signals = """
        counter:
          type: number
          initial: 0
      """
    let rules = """
      rules:
        - name: ping
          on: counter
          do:
            - set: { counter: counter + 1 }
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals, rules: rules)
    try await broker.publish(topic: "\(Spec.prefix)/set/counter", text: "1")
    let loop = try await waitFor("a rule loop event in the log", timeout: .seconds(10)) { () -> Value? in
      try await Spec.logEvents(daemon).first {
        $0["kind"] == "system" && JSON.encode($0).contains("loop")
      }
    }
    #expect(JSON.encode(loop).contains("ping"), "the loop names the rules involved: \(JSON.encode(loop))")
    #expect(daemon.output.contains("rule loop"), "the daemon log says `rule loop`: \(daemon.output)")
    // "A chain of causes deeper than 32 ... stops the chain": about 32 increments, not thousands.
    let counts = try await Spec.logEvents(daemon).filter { $0["signal"] == "counter" && $0["source"] == "rule" }
    #expect(counts.count >= 30 && counts.count <= 34, "\(counts.count) increments")
    // Still running: a later reading is processed.
    try await Spec.barrier(broker, observer, "alive")
    #expect(daemon.process.withLock { $0?.isRunning } == true)
    _ = await daemon.stop()
  }

  @Test func reloadKeepsSignalValuesAndLoadsTheNewRules() async throws {
    let signals = """
        alarm.armed:
          type: bool
          initial: false
      """
    let (broker, observer, daemon) = try await Spec.start(signals: signals, rules: "rules: []")
    try await broker.publish(topic: "\(Spec.prefix)/set/alarm.armed", text: "on")
    _ = try await observer.event(on: "\(Spec.prefix)/events/alarm.armed") { $0["value"] == true }
    _ = try daemon.folder.write(
      """
      rules:
        - name: echo
          on: hallway.lux
          do:
            - publish: { topic: test/echo, payload: "${value} armed=${alarm.armed}" }
      """, to: "rules.yaml")
    let reload = try await daemon.cli(["reload"])
    #expect(reload.code == 0, "\(reload.output)")
    try await broker.publish(topic: "sensors/hallway/lux", text: "5")
    let echo = try await observer.wait(for: "test/echo")
    #expect(echo.text == "5 armed=true", "state survives a reload")
    let reloads = try await Spec.logEvents(daemon).filter {
      $0["kind"] == "system" && JSON.encode($0).contains("reload")
    }
    #expect(!reloads.isEmpty, "a reload is a system event (events.md)")
    _ = await daemon.stop()
  }

  @Test func onListsBindSignalAndValueAndLogActionsReachTheDaemonLog() async throws {
    let rules = """
      rules:
        - name: echo
          on: [hallway.lux, marker]
          do:
            - publish: { topic: test/echo, payload: "${signal}=${value}" }
            - log: "saw ${signal} at ${value}"
      """
    let (broker, observer, daemon) = try await Spec.start(rules: rules)
    try await broker.publish(topic: "sensors/hallway/lux", text: "7")
    try await Spec.barrier(broker, observer, "hi")
    let echoes = try await waitFor("two echoes") { () -> [String]? in
      let texts = observer.messages.filter { $0.topic == "test/echo" }.map(\.text)
      return texts.count >= 2 ? texts : nil
    }
    #expect(echoes == ["hallway.lux=7", "marker=hi"])
    try await waitUntil("the log lines in the daemon's log") {
      daemon.output.contains("saw hallway.lux at 7") && daemon.output.contains("saw marker at hi")
    }
    let logEvents = try await Spec.logEvents(daemon).filter { $0["kind"] == "log" }
    #expect(logEvents.count == 2)
    #expect(logEvents.allSatisfy { $0["rule"] == "echo" && $0["cause"] != .null })
    #expect(JSON.encode(logEvents.first ?? .null).contains("saw hallway.lux at 7"), "the event holds the rendered line")
    _ = await daemon.stop()
  }

  @Test func logTailFollowPrintsNewEventsAsTheyHappen() async throws {
    let (broker, _, daemon) = try await Spec.start()
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-follow")
    let output = folder.path("out")
    let follow = try ChildProcess(
      executable: ganglionExecutable,
      arguments: ["log", "tail", "-f", "--json", "--signal", "hallway.lux", "--config", daemon.configPath],
      stdout: .file(output), stderr: .file(output))
    defer { _ = follow.kill() }
    try await broker.publish(topic: "sensors/hallway/lux", text: "42")
    let line = try await waitFor("the followed event", timeout: .seconds(10)) { () -> Value? in
      (readTextFile(output) ?? "").split(separator: "\n").compactMap { try? JSON.parse(String($0)) }.first {
        $0["value"] == 42
      }
    }
    #expect(line["signal"] == "hallway.lux")
    #expect(follow.isRunning, "-f keeps following")
    _ = await daemon.stop()
  }

  /// cli.md's log readers beyond `tail`. Each block is separate so that each command turns
  /// into a plain pass as soon as it exists.
  @Test func exportExplainStatsVerifyAndReplayReadTheSameLog() async throws {
    let rules = """
      rules:
        - name: light-on
          when: hallway.motion
          do:
            - set: { hallway.light: on }
      """
    let (broker, observer, daemon) = try await Spec.start(rules: rules)
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
    let light = try await observer.event(on: "\(Spec.prefix)/events/hallway.light") { $0["value"] == true }
    let lightSeq = try #require(light["seq"]?.numberValue)
    let motionSeq = try #require(light["cause"]?.numberValue)
    let all = try await Spec.logEvents(daemon)

    let export = try await daemon.cli(["log", "export", "--format", "jsonl"])
    #expect(export.code == 0, "\(export.output)")
    let exported = export.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    #expect(exported == all, "export is the same data as tail")
    let range = try await daemon.cli([
      "log", "export", "--from", String(Int(motionSeq)), "--to", String(Int(lightSeq)),
    ])
    #expect(range.code == 0, "\(range.output)")
    let seqs = range.output.split(separator: "\n").compactMap { try? JSON.parse(String($0))["seq"]?.numberValue }
    #expect(seqs.first == motionSeq && seqs.last == lightSeq, "\(range.output)")
    let explain = try await daemon.cli(["explain", String(Int(lightSeq)), "--json"])
    #expect(explain.code == 0, "\(explain.output)")
    #expect(explain.output.contains("light-on") && explain.output.contains(String(Int(motionSeq))))
    let stats = try await daemon.cli(["log", "stats"])
    #expect(stats.code == 0, "\(stats.output)")
    #expect(stats.output.contains("hallway.motion"), "events by signal")
    let verify = try await daemon.cli(["log", "verify"])
    #expect(verify.code == 0, "a healthy log verifies: \(verify.output)")
    let replay = try await daemon.cli(["replay", "--json"])
    #expect(replay.code == 0, "\(replay.output)")
    #expect(replay.output.contains("light-on"), "what the rules would have done")
    _ = await daemon.stop()
    withExtendedLifetime(broker) {}
  }

  // config.md: "`persist: true` (any signal): the last value is restored from the event log at
  // start-up. Without it, a signal starts ... at `initial`." An output with persist comes back
  // as it was, like a smart plug's "restore last state" setting.
  @Test func aPersistedOutputComesBackAsItWasAfterARestart() async throws {
    let (broker, observer, daemon) = try await Spec.start(
      signals: "  porch.lamp:\n    gpio: { pin: GPIO22, output: true, initial: off }\n    persist: true")
    try await broker.publish(topic: "\(Spec.prefix)/set/porch.lamp", text: "on")
    _ = try await observer.event(on: "\(Spec.prefix)/events/porch.lamp") { $0["value"] == true }
    #expect(await daemon.stop() == .exited(code: 0))
    try await daemon.restart()
    let status = try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
    #expect(status["signals"]?["porch.lamp"]?["value"] == true, "\(status["signals"] ?? .null)")
    let late = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/state/porch.lamp")
    try await waitUntil("the retained state to settle on true") {
      late.messages.last?.text == "true"
    }
    _ = await daemon.stop()
  }

  @Test func aCustomPrefixAndQoSZeroApplyToEveryTopic() async throws {
    let mqtt = "  commands: true\n  prefix: home/porch-pi\n  qos: 0"
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "#")
    let daemon = try await DaemonHarness(
      config: Spec.config(broker: broker, signals: "  alarm.armed:\n    type: bool\n    initial: false", mqtt: mqtt),
      files: ["rules.yaml": "rules: []"])
    _ = try await observer.wait(for: "home/porch-pi/status", timeout: .seconds(20)) { $0.text == "online" }
    try await broker.publish(topic: "home/porch-pi/set/alarm.armed", text: "on")
    let armed = try await observer.wait(for: "home/porch-pi/events/alarm.armed") {
      (try? JSON.parse($0.text))?["value"] == true
    }
    #expect(armed.qos == 0, "mqtt.qos: 0 is the QoS of published events")
    _ = try await observer.wait(for: "home/porch-pi/state/alarm.armed") { $0.text == "true" }
    #expect(!observer.messages.contains { $0.topic.hasPrefix("ganglion/") }, "nothing under the default prefix")
    _ = await daemon.stop()
  }

  // events.md: seq is unique "across restarts (kill -9 and power cuts included)"; subscribers
  // deduplicate by id, so an id seen on the broker must never name a different event later,
  // even with the default `sync: 1s` where the newest events may not be on disk yet.
  @Test func seqsSeenOnTheBrokerAreNeverReusedAfterAKillWithTheDefaultSync() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/#")
    let config = Spec.config(broker: broker).replacingAll("  sync: always\n", with: "")
    #expect(!config.contains("sync:"))
    let daemon = try await DaemonHarness(config: config, files: ["rules.yaml": "rules: []"])
    _ = try await observer.wait(for: "\(Spec.prefix)/status", timeout: .seconds(20)) { $0.text == "online" }
    for reading in 1...30 {
      _ = try observer.client.publish(MQTTMessage(topic: "sensors/hallway/lux", text: String(reading)))
    }
    let before = try await observer.event(on: "\(Spec.prefix)/events/hallway.lux") { $0["value"] == 30 }
    daemon.kill()
    let seenBefore = observer.events(on: "\(Spec.prefix)/events/hallway.lux").compactMap { $0["seq"]?.numberValue }
    #expect(seenBefore.contains(try #require(before["seq"]?.numberValue)))
    try await daemon.restart()
    try await broker.publish(topic: "sensors/hallway/lux", text: "99")
    let after = try await observer.event(on: "\(Spec.prefix)/events/hallway.lux") { $0["value"] == 99 }
    let highestBefore = try #require(seenBefore.max())
    let afterSeq = try #require(after["seq"]?.numberValue)
    #expect(afterSeq > highestBefore, "seq \(afterSeq) after the restart, \(highestBefore) seen before the kill")
    // Every id on the broker names one event only.
    var valuesByID: [String: Value] = [:]
    for event in observer.events(on: "\(Spec.prefix)/events/hallway.lux") {
      guard let id = event["id"]?.stringValue else { continue }
      if let earlier = valuesByID[id] {
        #expect(earlier == event, "id \(id) reused: \(JSON.encode(earlier)) vs \(JSON.encode(event))")
      }
      valuesByID[id] = event
    }
    _ = await daemon.stop()
  }

  @Test func signalNamesAreOneTo128LowerCaseCharacters() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-names")
    _ = try folder.write("rules: []", to: "rules.yaml")
    let longest = String(repeating: "a", count: 60) + "." + String(repeating: "b", count: 67)
    let tooLong = longest + "c"
    let good = try folder.write(
      "device: spec-pi\nrules: rules.yaml\nsignals:\n  \(longest):\n    type: number\n", to: "good.yaml")
    let goodCheck = try await runGanglion(["check", "--config", good])
    #expect(goodCheck.code == 0, "128 characters is allowed: \(goodCheck.output)")
    let bad = try folder.write(
      "device: Spec Pi\nrules: rules.yaml\nsignals:\n  \(tooLong):\n    type: number\n", to: "bad.yaml")
    let badCheck = try await runGanglion(["check", "--config", bad])
    #expect(badCheck.code == 1, "\(badCheck.output)")
    #expect(badCheck.output.contains("\(bad):1:"), "device names are [a-z0-9_-]+: \(badCheck.output)")
    #expect(badCheck.output.contains("\(bad):4:"), "129 characters is too long: \(badCheck.output)")
  }

  @Test func startAndStopAreSystemEventsAndACopiedLogFolderReadsTheSame() async throws {
    let (broker, _, daemon) = try await Spec.start()
    try await broker.publish(topic: "sensors/hallway/lux", text: "3")
    #expect(await daemon.stop() == .exited(code: 0))
    let events = try await Spec.logEvents(daemon)
    let system = events.filter { $0["kind"] == "system" }.map { JSON.encode($0) }
    #expect(system.first?.contains("start") == true, "\(system)")
    #expect(system.last?.contains("stop") == true, "a clean stop is logged: \(system)")
    #expect(events.last?["kind"] == "system", "the stop is the last event")

    // "work on a copy of a log folder taken from another device"
    let copy = try TemporaryDirectory(prefix: "ganglion-spec-logcopy")
    try await ChildProcess.run("cp", ["-r", daemon.folder.path("log"), copy.path("log")])
    let tail = try await runGanglion(["log", "tail", "-n", "10000", "--json", "--log", copy.path("log")])
    #expect(tail.code == 0, "\(tail.output)")
    let copied = tail.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    func withoutID(_ event: Value) -> Value {
      guard case .object(var fields) = event else { return event }
      fields["id"] = nil
      return .object(fields)
    }
    #expect(copied.map(withoutID) == events.map(withoutID), "the same events")
    // The id is "<device>:<seq>" of the device that logged it, wherever the log is read.
    #expect(copied.map { $0["id"] } == events.map { $0["id"] })
  }

  // rules.md: "At start-up, outputs are driven to their `initial` state first, then inputs are
  // read once". Events are processed in seq order, so the output's event comes first.
  @Test func atStartUpOutputsAreDrivenBeforeInputsAreRead() async throws {
    let (broker, _, daemon) = try await Spec.start()
    let events = try await Spec.logEvents(daemon)
    let light = try #require(events.first { $0["signal"] == "hallway.light" }?["seq"]?.numberValue)
    let motion = try #require(events.first { $0["signal"] == "hallway.motion" }?["seq"]?.numberValue)
    #expect(light < motion, "output seq \(light), input seq \(motion)")
    _ = await daemon.stop()
    withExtendedLifetime(broker) {}
  }

  @Test func aReloadKeepsTheTimersOfUnchangedRulesAndLogsTheCancelledOnes() async throws {
    let keep = """
        - name: keep-me
          when: hallway.lux > 40
          for: 2s
          do:
            - log: kept
      """
    let change = """
        - name: change-me
          when: marker == "x"
          for: 30s
          do:
            - log: changed
      """
    let (broker, observer, daemon) = try await Spec.start(rules: "rules:\n" + keep + "\n" + change)
    try await broker.publish(topic: "sensors/hallway/lux", text: "50")
    try await Spec.barrier(broker, observer, "x")
    _ = try daemon.folder.write(
      "rules:\n" + keep + "\n" + change.replacingAll("30s", with: "31s"), to: "rules.yaml")
    let reload = try await daemon.cli(["reload"])
    #expect(reload.code == 0, "\(reload.output)")
    let fired = try await observer.event(on: "\(Spec.prefix)/fired/keep-me", timeout: .seconds(10))
    #expect(fired["rule"] == "keep-me", "the unchanged rule's countdown survived the reload")
    let events = try await Spec.logEvents(daemon)
    let mentions = events.filter { $0["kind"] != "fired" && JSON.encode($0).contains("change-me") }
    #expect(
      !mentions.isEmpty || daemon.output.contains("change-me"),
      "the cancelled timer of the changed rule is logged: \(daemon.output)")
    _ = await daemon.stop()
  }

  @Test func everyFiresPeriodicallyWithTemplatesForPrefixAndUptime() async throws {
    let rules = """
      rules:
        - name: heartbeat
          every: 1s
          do:
            - publish: { topic: "${prefix}/heartbeat", payload: "${uptime}" }
      """
    let (broker, observer, daemon) = try await Spec.start(rules: rules)
    let beats = try await waitFor("two heartbeats", timeout: .seconds(10)) { () -> [Value]? in
      let fired = observer.events(on: "\(Spec.prefix)/fired/heartbeat")
      return fired.count >= 2 ? fired : nil
    }
    let times = beats.compactMap { $0["time"]?.stringValue.flatMap(Timestamp.init(iso8601:)) }
    try #require(times.count >= 2)
    let gap = times[1].microseconds - times[0].microseconds
    #expect(gap >= 900_000 && gap <= 3_000_000, "every: 1s, \(gap) µs apart")
    let published = observer.messages.filter { $0.topic == "\(Spec.prefix)/heartbeat" }
    #expect(published.count >= 1)
    #expect(!(published.first?.text.isEmpty ?? true), "${uptime} renders")
    _ = await daemon.stop()
    withExtendedLifetime(broker) {}
  }

  // config.md: "`debounce` ... suppresses edges that revert within the period; the event keeps
  // the time of the first edge."
  @Test func debounceSuppressesEdgesThatRevertAndKeepsTheFirstEdgesTime() async throws {
    let (broker, observer, daemon) = try await Spec.start(
      signals: "  door.contact:\n    gpio: { pin: GPIO5, bias: pull-down, debounce: 3s }")
    let beforeFirstEdge = SystemClock().now()
    // Through the HTTP API `inject` uses, so that the three edges fall well inside the period
    // even on a loaded machine (three CLI processes may take longer than that to start).
    for value in ["on", "off", "on"] {
      let reply = try await offThePool {
        try HTTPClient.request(
          method: "POST", host: "127.0.0.1", port: daemon.httpPort, path: "/inject",
          query: [("signal", "door.contact"), ("value", value)])
      }
      #expect(reply.status == 202, "\(reply.body)")
    }
    let event = try await observer.event(on: "\(Spec.prefix)/events/door.contact", timeout: .seconds(10)) {
      $0["value"] == true
    }
    let seenAt = SystemClock().now()
    let changes = observer.events(on: "\(Spec.prefix)/events/door.contact").filter { $0["source"] != "system" }
    #expect(changes.count == 1, "the on-off blip is suppressed: \(changes.map { JSON.encode($0) })")
    let time = try #require(event["time"]?.stringValue.flatMap(Timestamp.init(iso8601:)))
    // on-off-on inside the period is one bouncing change; its time is the burst's first edge.
    #expect(time >= beforeFirstEdge)
    #expect(
      seenAt.microseconds - time.microseconds >= 2_900_000, "reported once the period passed, with the edge's time")
    _ = await daemon.stop()
    withExtendedLifetime(broker) {}
  }

  // config.md: `bias` and `active_low`. The simulated board stands in for the hardware, so an
  // idle line with a pull-up reads high, and `active_low` makes that logical false (a contact
  // to ground that is open). Outputs start at `initial`.
  @Test func biasActiveLowAndInitialShapeTheStartUpValues() async throws {
    let signals = """
        door.closed:
          gpio: { pin: GPIO6, bias: pull-up, active_low: true }
        button.raw:
          gpio: { pin: GPIO13, bias: pull-up }
        fan:
          gpio: { pin: GPIO19, output: true, initial: on }
      """
    let (broker, _, daemon) = try await Spec.start(signals: signals)
    let late = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/state/#")
    let fan = try await late.wait(for: "\(Spec.prefix)/state/fan")
    #expect(fan.text == "true", "initial: on")
    let door = try await late.wait(for: "\(Spec.prefix)/state/door.closed")
    let button = try await late.wait(for: "\(Spec.prefix)/state/button.raw")
    #expect(button.text == "true", "pull-up: an idle line reads high")
    #expect(door.text == "false", "pull-up + active_low: logical false")
    // Injecting sets the logical value, whatever the polarity.
    #expect(try await daemon.cli(["inject", "door.closed", "on"]).code == 0)
    _ = try await late.wait(for: "\(Spec.prefix)/state/door.closed") { $0.text == "true" }
    _ = await daemon.stop()
  }
}
