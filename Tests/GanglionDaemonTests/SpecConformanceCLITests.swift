import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Glibc
import Testing

/// cli.md, and the rule semantics that need a virtual clock, through `ganglion test`.
@Suite struct SpecConformanceCLITests {
  static let testConfig = """
    device: spec-pi
    rules: rules.yaml
    signals:
      hallway.motion:
        gpio: { chip: gpiochip0, line: 17 }
      hallway.light:
        gpio: { chip: gpiochip0, line: 27, output: true }
      hallway.lux:
        mqtt: { topic: sensors/hallway/lux, type: number }
      doorbell.press:
        mqtt: { topic: zigbee2mqtt/doorbell/action }
      porch.light:
        type: bool
        initial: false
      zigbee.button:
        mqtt: { topic: zigbee2mqtt/button, type: json }
    """

  static let testRules = """
    rules:
      - name: light-on
        when: hallway.motion
        if: hallway.lux < 40
        do:
          - set: { hallway.light: on }
          - publish: { topic: home/hallway/light, payload: { lux: "${hallway.lux}", by: "${rule}" } }
      - name: light-off
        when: not hallway.motion
        for: 2m
        do:
          - set: { hallway.light: off }
      - name: doorbell
        on: doorbell.press
        if: value == "single"
        do:
          - set: { porch.light: on }
          - after: 30s
            do:
              - set: { porch.light: off }
      - name: disabled
        on: doorbell.press
        enabled: false
        do:
          - set: { porch.light: on }
      - name: hold
        when: zigbee.button["action"] == "hold"
        do:
          - log: held
      - name: pick
        on: doorbell.press
        if: value in ["long", "triple"] and (3 + 4 * 2) % 5 == 1 and -hallway.lux < 0
        do:
          - log: picked
      - name: hot
        when: avg(hallway.lux, 5m) > 28
        do:
          - log: hot
      - name: silent
        when: known(hallway.lux) and count(hallway.lux, 1m) == 0
        do:
          - log: the lux sensor went silent
      - name: dark
        when: not hallway.lux > 40
        do:
          - log: dark
    """

  /// Semantics from rules.md, each as a rule test; all of them must pass.
  static let passingTests = """
    tests:
      - name: for holds, and turning false before cancels it
        given: { hallway.lux: 10, hallway.light: off }
        steps:
          - input: { hallway.motion: on }
          - expect: { hallway.light: on }
          - expect_fired: light-on
          - expect_published: { topic: home/hallway/light, payload: { lux: 10, by: light-on } }
          - input: { hallway.motion: off }
          - wait: 1m
          - input: { hallway.motion: on }
          - input: { hallway.motion: off }
          - wait: 1m59s
          - expect: { hallway.light: on }
          - wait: 2s
          - expect: { hallway.light: off }
      - name: unknown is false in if
        given: { hallway.light: off }
        steps:
          - input: { hallway.motion: on }
          - expect_not_fired: light-on
          - expect: { hallway.light: off }
      - name: after is retriggerable
        given: { porch.light: off }
        steps:
          - input: { doorbell.press: single }
          - expect: { porch.light: on }
          - wait: 20s
          - input: { doorbell.press: single }
          - wait: 20s
          - expect: { porch.light: on }
          - wait: 11s
          - expect: { porch.light: off }
      - name: a failing if is no firing
        given: { porch.light: off }
        steps:
          - input: { doorbell.press: double }
          - expect_not_fired: doorbell
          - expect_not_fired: disabled
          - expect: { porch.light: off }
      - name: given fires nothing
        given: { hallway.motion: on, hallway.lux: 10, hallway.light: off }
        steps:
          - expect: { hallway.light: off }
      - name: a window threshold fires on the crossing, not on every sample
        steps:
          - input: { hallway.lux: 30 }
          - expect_fired: hot
          - input: { hallway.lux: 31 }
          - expect_not_fired: hot
          - input: { hallway.lux: 10 }
          - expect_not_fired: hot
          - input: { hallway.lux: 50 }
          - expect_fired: hot
      - name: when is re-evaluated when its window moves, without a new event
        steps:
          - input: { hallway.lux: 50 }
          - wait: 59s
          - expect_not_fired: silent
          - wait: 2s
          - expect_fired: silent
      - name: json indexing, in lists and arithmetic
        given: { hallway.lux: 5 }
        steps:
          - input: { zigbee.button: { action: press } }
          - expect_not_fired: hold
          - input: { zigbee.button: { action: hold } }
          - expect_fired: hold
          - input: { doorbell.press: single }
          - expect_not_fired: pick
          - input: { doorbell.press: triple }
          - expect_fired: pick
      - name: not unknown is unknown
        steps:
          - input: { hallway.motion: on }
          - expect_not_fired: dark
          - input: { hallway.lux: 10 }
          - expect_fired: dark
    """

  /// `<folder>/ganglion.yaml` with `rules: rules/`, and the rules and tests in `rules/`.
  func ruleTestFolder(tests: String) throws -> TemporaryDirectory {
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-test")
    _ = try folder.write(Self.testConfig.replacingAll("rules: rules.yaml", with: "rules: rules/"), to: "ganglion.yaml")
    #expect(mkdir(folder.path("rules"), 0o755) == 0)
    _ = try folder.write(Self.testRules, to: "rules/hallway.yaml")
    _ = try folder.write(tests, to: "rules/semantics.test.yaml")
    return folder
  }

  @Test func ruleTestsPassForEverySemanticInTheSpecAndPrintTheCounts() async throws {
    let folder = try ruleTestFolder(tests: Self.passingTests)
    // The config is found as `ganglion.yaml` in the folder above the test.
    let result = try await runGanglion(["test", folder.path("rules/semantics.test.yaml")])
    #expect(result.code == 0, "\(result.output)")
    #expect(result.output.contains("9 passed, 0 failed"), "\(result.output)")
    // A folder runs every *.test.yaml in it.
    let byFolder = try await runGanglion(["test", folder.path("rules")])
    #expect(byFolder.code == 0, "\(byFolder.output)")
    #expect(byFolder.output.contains("9 passed, 0 failed"), "\(byFolder.output)")
  }

  @Test func checkValidatesTheRulesNamedOnItsCommandLineAndWritesErrorsToStderr() async throws {
    let folder = try ruleTestFolder(tests: Self.passingTests)
    let other = try folder.write(
      "rules:\n  - name: other\n    when: hallway.moton\n    do:\n      - log: x\n", to: "other.yaml")
    let stdout = folder.path("stdout")
    let stderr = folder.path("stderr")
    let child = try ChildProcess(
      executable: ganglionExecutable, arguments: ["check", "--config", folder.path("ganglion.yaml"), other],
      stdout: .file(stdout), stderr: .file(stderr))
    let status = await child.waitForExit(timeout: .seconds(30))
    #expect(status == .exited(code: 1))
    let errors = readTextFile(stderr) ?? ""
    #expect(errors.contains("\(other):3:11: error:"), "\(errors)")
    #expect(errors.contains("did you mean 'hallway.motion'"), "\(errors)")
    #expect(!(readTextFile(stdout) ?? "").contains(": error: "), "errors go to stderr")
  }

  // rules.md: the config defaults to "`ganglion.yaml` in the folder or above" and the rules to
  // "the rules of the config or folder": a config beside its rule and test files names the
  // rules to load; the config itself is not a rule file.
  @Test func ruleTestsBesideTheirConfigUseTheConfigsRules() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-test-flat")
    _ = try folder.write(Self.testConfig, to: "ganglion.yaml")
    _ = try folder.write(Self.testRules, to: "rules.yaml")
    _ = try folder.write(Self.passingTests, to: "semantics.test.yaml")
    let result = try await runGanglion(["test", folder.path("semantics.test.yaml")])
    #expect(result.code == 0, "\(result.output)")
    #expect(result.output.contains("9 passed, 0 failed"), "\(result.output)")
  }

  @Test func aFailingRuleTestPrintsFileLineExpectedActualAndExitsOne() async throws {
    let tests = """
      tests:
        - name: passes
          given: { porch.light: off }
          steps:
            - input: { doorbell.press: single }
            - expect: { porch.light: on }
        - name: fails
          given: { porch.light: off }
          steps:
            - input: { doorbell.press: single }
            - wait: 31s
            - expect: { porch.light: on }
      """
    let folder = try ruleTestFolder(tests: tests)
    let result = try await runGanglion([
      "test", "--config", folder.path("ganglion.yaml"), folder.path("rules/semantics.test.yaml"),
    ])
    #expect(result.code == 1, "a failed test exits 1: \(result.output)")
    #expect(result.output.contains("1 passed, 1 failed"), "\(result.output)")
    // The failing step is line 12 of the test file; expected on, actual off.
    let failure = result.output.split(separator: "\n").first { $0.contains("rules/semantics.test.yaml:12") }
    #expect(failure != nil, "names file and line: \(result.output)")
    let lower = result.output.lowercased()
    #expect(lower.contains("expected") && (lower.contains("actual") || lower.contains("got")), "\(result.output)")
    #expect(lower.contains("true") || lower.contains("on"))
    #expect(lower.contains("false") || lower.contains("off"))
  }

  @Test func checkExitsZeroForAGoodConfigAndOneWithEveryRuleError() async throws {
    let folder = try ruleTestFolder(tests: Self.passingTests)
    let good = try await runGanglion(["check", "--config", folder.path("ganglion.yaml")])
    #expect(good.code == 0, "\(good.output)")

    _ = try folder.write(
      """
      rules:
        - name: one
          when: hallway.motoin
          do:
            - set: { hallway.light: on }
        - name: two
          on: hallway.motion
          do:
            - set: { hallway.lux: 5 }
        - name: three
          when: hallway.motion == 3
          do:
            - set: { hallway.light: on }
        - name: four
          when: avrage(hallway.lux, 5m) > 3
          do:
            - set: { hallway.light: on }
        - name: one
          every: 1m
          do:
            - log: duplicate name
      """, to: "rules/hallway.yaml")
    let bad = try await runGanglion(["check", "--config", folder.path("ganglion.yaml")])
    #expect(bad.code == 1, "\(bad.output)")
    let errors = bad.output.split(separator: "\n").filter { $0.contains("hallway.yaml:") && $0.contains(": error: ") }
    // rules.md: a misspelt signal (did you mean), a set of an input, bool == number, an
    // unknown function, a duplicate name: five errors, each at file:line:column.
    #expect(errors.count >= 5, "\(bad.output)")
    #expect(bad.output.contains("hallway.yaml:3:11: error:"), "\(bad.output)")
    #expect(bad.output.contains("did you mean 'hallway.motion'"), "\(bad.output)")
    #expect(errors.contains { $0.contains("hallway.yaml:9:") }, "set of an input: \(bad.output)")
    #expect(errors.contains { $0.contains("hallway.yaml:11:") }, "bool compared with a number: \(bad.output)")
    #expect(errors.contains { $0.contains("hallway.yaml:15:") }, "unknown function: \(bad.output)")
    #expect(errors.contains { $0.contains("hallway.yaml:18:") }, "duplicate name: \(bad.output)")
  }

  @Test func badUsageAndBadConfigExitTwo() async throws {
    // (A bare `ganglion` prints its help and exits 0, like `docker`; the spec leaves that open.)
    #expect(try await runGanglion(["check", "--no-such-option"]).code == 2)
    // Without --config the default is /etc/ganglion/ganglion.yaml (config.md); missing here.
    if access("/etc/ganglion/ganglion.yaml", F_OK) != 0 {
      let missing = try await runGanglion(["check"])
      // `check` reports config errors with 1 (its own contract); a missing file may be either.
      #expect(missing.code == 1 || missing.code == 2, "\(missing.output)")
      #expect(missing.output.contains("/etc/ganglion/ganglion.yaml"), "\(missing.output)")
    }
    #expect(try await runGanglion(["run", "--config", "/nonexistent/ganglion.yaml", "--simulate"]).code == 2)
    #expect(try await runGanglion(["log", "tail", "-n", "many", "--log", "/tmp"]).code == 2)
  }

  // cli.md: 3 is "a runtime failure". A port that is already taken is not a config mistake
  // (the file is valid; `check` accepts it): like systemd units failing on EADDRINUSE, it is
  // the environment failing at run time.
  @Test func httpPortAlreadyTakenIsARuntimeFailure() async throws {
    let broker = try await MosquittoBroker()
    let daemon = try await DaemonHarness(config: Spec.config(broker: broker), files: ["rules.yaml": "rules: []"])
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-port")
    _ = try folder.write("rules: []", to: "rules.yaml")
    let path = try folder.write(
      Spec.config(broker: broker).replacingAll("HTTP_PORT", with: String(daemon.httpPort)), to: "ganglion.yaml")
    #expect(try await runGanglion(["check", "--config", path]).code == 0)
    let second = try await runGanglion(["run", "--config", path, "--simulate"])
    #expect(second.code == 3, "\(second.output)")
    _ = await daemon.stop()
  }

  // No daemon to talk to is a runtime failure too, not bad usage.
  @Test func talkingToNoRunningDaemonIsARuntimeFailure() async throws {
    let broker = try await MosquittoBroker()
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-nodaemon")
    _ = try folder.write("rules: []", to: "rules.yaml")
    // A port nobody listens on: the broker's own folder guarantees nothing; pick and verify.
    let port = try await waitFor("a free port") { () -> Int? in
      let candidate = Int.random(in: 20000...31999)
      return tcpPortAcceptsConnections(port: candidate) ? nil : candidate
    }
    let path = try folder.write(
      Spec.config(broker: broker).replacingAll("HTTP_PORT", with: String(port)), to: "ganglion.yaml")
    for command in [["status"], ["reload"], ["inject", "hallway.motion", "on"]] {
      let result = try await runGanglion(command + ["--config", path])
      #expect(result.code == 3, "\(command): \(result.output)")
    }
  }

  @Test func logTailAndStatusSpeakJSON() async throws {
    let (broker, observer, daemon) = try await Spec.start()
    for reading in ["1", "2", "3", "4"] {
      try await broker.publish(topic: "sensors/hallway/lux", text: reading)
    }
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)
    _ = try await observer.event(on: "\(Spec.prefix)/events/hallway.motion") { $0["value"] == true }
    try await Spec.barrier(broker, observer, "done")

    let all = try await Spec.logEvents(daemon)
    let three = try await daemon.cli(["log", "tail", "-n", "3", "--json"])
    #expect(three.code == 0)
    let lines = three.output.split(separator: "\n")
    #expect(lines.count == 3, "\(three.output)")
    let tail = lines.compactMap { try? JSON.parse(String($0)) }
    #expect(tail == Array(all.suffix(3)), "the newest three, oldest first")
    let seqs = all.compactMap { $0["seq"]?.numberValue }
    #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)

    let lux = try await daemon.cli(["log", "tail", "--signal", "hallway.l*", "--json"])
    #expect(lux.code == 0)
    let luxEvents = lux.output.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    #expect(!luxEvents.isEmpty)
    #expect(luxEvents.allSatisfy { $0["signal"]?.stringValue?.hasPrefix("hallway.l") == true }, "\(lux.output)")
    #expect(luxEvents.compactMap { $0["value"] }.suffix(4) == [1, 2, 3, 4])

    let human = try await daemon.cli(["log", "tail", "-n", "3"])
    #expect(human.code == 0)
    #expect(human.output.split(separator: "\n").count >= 3)

    let status = try await daemon.cli(["status", "--json"])
    #expect(status.code == 0, "\(status.output)")
    let document = try JSON.parse(status.output)
    #expect(document["signals"]?["hallway.lux"]?["value"] == 4, "\(status.output)")
    #expect(document["signals"]?["hallway.motion"]?["value"] == true)
    let humanStatus = try await daemon.cli(["status"])
    #expect(humanStatus.code == 0)
    #expect(humanStatus.output.contains("hallway.lux"))
    _ = await daemon.stop()
  }

  @Test func runRefusesABadConfigOnStderrInFileLineColumnFormat() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-runbad")
    _ = try folder.write("rules: []", to: "rules.yaml")
    let path = try folder.write(
      "device: spec-pi\nrules: rules.yaml\nsignals:\n  a.b:\n    typ: number\n", to: "ganglion.yaml")
    let child = try ChildProcess(
      executable: ganglionExecutable, arguments: ["run", "--config", path, "--simulate"],
      stdout: .file(folder.path("stdout")), stderr: .file(folder.path("stderr")))
    #expect(await child.waitForExit(timeout: .seconds(30)) == .exited(code: 2))
    let errors = readTextFile(folder.path("stderr")) ?? ""
    #expect(errors.contains("\(path):5:5: error:"), "\(errors)")
    #expect(errors.contains("did you mean 'type'?"), "\(errors)")
    #expect(!errors.contains("\u{1B}["), "no colours when not a terminal")
  }

  // config.md: `log.dir` defaults to "$STATE_DIRECTORY or ./ganglion-state/log" (systemd's
  // StateDirectory=). Either $STATE_DIRECTORY itself or a folder inside it is fine.
  @Test func theLogGoesToStateDirectoryByDefault() async throws {
    let broker = try await MosquittoBroker()
    let observer = try await MQTTObserver(broker: broker, filter: "\(Spec.prefix)/#")
    let folder = try TemporaryDirectory(prefix: "ganglion-spec-statedir")
    _ = try folder.write("rules: []", to: "rules.yaml")
    #expect(mkdir(folder.path("state"), 0o755) == 0)
    let config = Spec.config(broker: broker)
      .replacingAll("log:\n  dir: log\n  sync: always\n", with: "")
      .replacingAll("http:\n  listen: 127.0.0.1:HTTP_PORT", with: "http: off")
    #expect(!config.contains("log:") && !config.contains("HTTP_PORT"), "\(config)")
    let path = try folder.write(config, to: "ganglion.yaml")
    let state = "STATE_DIRECTORY=\(folder.path("state"))"
    let child = try ChildProcess(
      executable: "env", arguments: [state, ganglionExecutable, "run", "--config", path, "--simulate"],
      stdout: .file(folder.path("out")), stderr: .file(folder.path("out")))
    defer { _ = child.kill() }
    _ = try await observer.wait(for: "\(Spec.prefix)/status", timeout: .seconds(20)) { $0.text == "online" }
    try await broker.publish(topic: "sensors/hallway/lux", text: "8")
    _ = try await observer.event(on: "\(Spec.prefix)/events/hallway.lux")
    #expect(await child.terminate(gracePeriod: .seconds(10)) == .exited(code: 0))
    #expect(!(directoryEntries(folder.path("state")) ?? []).isEmpty, "the log is under $STATE_DIRECTORY")
    #expect(directoryEntries(folder.path("ganglion-state")) == nil, "not beside the config")
    let tailOutput = folder.path("tail")
    let tail = try ChildProcess(
      executable: "env", arguments: [state, ganglionExecutable, "log", "tail", "--json", "--config", path],
      stdout: .file(tailOutput), stderr: .file(tailOutput))
    #expect(await tail.waitForExit(timeout: .seconds(30)) == .exited(code: 0))
    let events = (readTextFile(tailOutput) ?? "").split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    #expect(events.contains { $0["signal"] == "hallway.lux" && $0["value"] == 8 }, "\(readTextFile(tailOutput) ?? "")")
  }
}
