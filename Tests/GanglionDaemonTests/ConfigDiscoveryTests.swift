import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// cli.md: every command finds its configuration the same way: `--config PATH`, else
/// `$GANGLION_CONFIG`, else `ganglion.yaml` in the current folder or the nearest folder above
/// it, else `/etc/ganglion/ganglion.yaml`; an error names the paths it tried.
@Suite struct ConfigDiscoveryTests {
  /// A project folder: `ganglion.yaml` (its HTTP listener on `port`, its log in `state/`),
  /// `rules/` with a rule, its test (without `config:`), and an empty `rules/deeper/`.
  static func project(device: String = "found-pi", port: Int) throws -> TemporaryDirectory {
    let folder = try TemporaryDirectory(prefix: "ganglion-discovery")
    try FileSystem.makeDirectories(folder.path("rules/deeper"))
    try folder.write(
      """
      device: \(device)
      rules: rules/
      signals:
        porch.button:
          mqtt: { topic: porch/button, type: string }
        porch.lamp:
          type: bool
          initial: false
      log:
        dir: state/log
      http:
        listen: 127.0.0.1:\(port)
      """, to: "ganglion.yaml")
    try folder.write(
      """
      rules:
        - name: lamp-on
          on: porch.button
          do:
            - set: { porch.lamp: on }
      """, to: "rules/lamp.yaml")
    try folder.write(
      """
      tests:
        - name: a press lights the lamp
          steps:
            - input: { porch.button: single }
            - expect: { porch.lamp: on }
      """, to: "rules/lamp.test.yaml")
    return folder
  }

  @Test func everyCommandFindsTheConfigurationInTheCurrentFolderOrAbove() async throws {
    let port = Int.random(in: 20000...31999)
    let folder = try Self.project(port: port)
    let deeper = folder.path("rules/deeper")

    let check = try await runGanglion(["check"], in: deeper)
    #expect(check.code == 0 && check.output.contains("ok: 2 signals"), "\(check.output)")
    let test = try await runGanglion(["test", ".."], in: deeper)
    #expect(test.code == 0 && test.output.hasSuffix("1 passed, 0 failed\n"), "\(test.output)")
    // No daemon runs: the error shows which address the configuration gave.
    for command in [["status"], ["reload"], ["inject", "porch.button", "x"]] {
      let result = try await runGanglion(command, in: deeper)
      #expect(result.code == 3 && result.output.contains("127.0.0.1:\(port)"), "\(command): \(result.output)")
    }
    // No log yet: the error names the configuration's log folder.
    for command in [["log", "stats"], ["log", "tail"], ["replay"], ["explain", "1"]] {
      let result = try await runGanglion(command, in: deeper)
      #expect(result.output.contains("state/log"), "\(command): \(result.output)")
    }
    // The daemon too: it answers on the configuration's port with the configuration's device.
    let daemon = try ChildProcess(
      executable: "/bin/sh",
      arguments: [
        "-c", "cd \"$0\" && exec env -u GANGLION_CONFIG \"$1\" run --simulate", deeper, ganglionExecutable,
      ], stdout: .file(folder.path("daemon.out")), stderr: .file(folder.path("daemon.out")))
    let device = try await waitFor("the daemon found by the search to answer", timeout: .seconds(20)) {
      () -> String? in
      guard daemon.isRunning else { throw TestSupportError(readTextFile(folder.path("daemon.out")) ?? "") }
      guard tcpPortAcceptsConnections(port: port) else { return nil }
      return try? await JSON.parse(HTTPGet.text(port: port, path: "/status"))["device"]?.stringValue
    }
    #expect(device == "found-pi")
    #expect(await daemon.terminate() == .exited(code: 0))
  }

  @Test func theOptionBeatsTheEnvironmentWhichBeatsTheSearch() async throws {
    let near = try Self.project(device: "near-pi", port: Int.random(in: 20000...31999))
    let other = try Self.project(device: "other-pi", port: Int.random(in: 20000...31999))
    try other.write("device: other-pi\nsignals:\n  a.b: { type: bool }\n", to: "ganglion.yaml")
    let viaEnvironment = try await runGanglion(
      ["check"], in: near.path("rules"), environment: ["GANGLION_CONFIG": other.path("ganglion.yaml")])
    #expect(viaEnvironment.output.contains("ok: 1 signal"), "\(viaEnvironment.output)")
    let viaOption = try await runGanglion(
      ["check", "--config", near.path("ganglion.yaml")], in: other.path,
      environment: ["GANGLION_CONFIG": other.path("ganglion.yaml")])
    #expect(viaOption.output.contains("ok: 2 signals,"), "\(viaOption.output)")
    let missing = try await runGanglion(
      ["check"], in: near.path, environment: ["GANGLION_CONFIG": near.path("nowhere.yaml")])
    #expect(missing.code != 0 && missing.output.contains("nowhere.yaml"), "\(missing.output)")
  }

  @Test func withoutAConfigurationTheErrorNamesEveryPathTried() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-no-config")
    try FileSystem.makeDirectories(folder.path("a/b"))
    try folder.write("tests: []\n", to: "a/b/empty.test.yaml")
    var above: [String] = []
    var current = folder.path("a/b")
    while true {
      above.append(current == "/" ? "/ganglion.yaml" : current + "/ganglion.yaml")
      if current == "/" { break }
      current = FileSystem.directory(of: current)
    }
    let system = "/etc/ganglion/ganglion.yaml"
    guard !(above + [system]).contains(where: { FileSystem.kind(of: $0) == .file }) else {
      return  // this machine has a configuration on the way: nothing to show here
    }
    for command in [["check"], ["run", "--simulate"], ["test"], ["replay"]] {
      let result = try await runGanglion(command, in: folder.path("a/b"))
      #expect(result.code == (command == ["check"] ? 1 : 2), "\(command): \(result.output)")
      for path in above + [system] {
        #expect(result.output.contains(path), "\(command) names \(path): \(result.output)")
      }
    }
  }
}
