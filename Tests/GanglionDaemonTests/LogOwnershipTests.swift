import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// Issue 10 item 9: a different `device:` on an existing log silently relabelled its history,
/// and the log and state files were world-readable under the default umask.
@Suite struct LogOwnershipTests {
  @Test func aLogOfAnotherDeviceIsRefusedNamingBothAndItsFilesAreNotWorldReadable() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "pi-a"), files: ["rules.yaml": "rules:\n"])
    #expect(await daemon.stop() == .exited(code: 0))

    // Nothing in the log folder is readable by others, nor writable by the group.
    let logDirectory = daemon.folder.path("log")
    #expect(try FileSystem.status(of: logDirectory).permissions & 0o027 == 0, "the log folder")
    let names = try FileSystem.list(logDirectory)
    #expect(names.contains("device") && names.contains { $0.hasSuffix(".seg") }, "\(names)")
    for name in names {
      let permissions = try FileSystem.status(of: logDirectory + "/" + name).permissions
      #expect(permissions & 0o027 == 0, "\(name): \(String(permissions, radix: 8))")
    }

    // The configuration now names another device; the log is the same.
    let renamed = try #require(readTextFile(daemon.configPath)).replacingAll("device: pi-a", with: "device: pi-b")
    try writeFile(daemon.configPath, bytes: Array(renamed.utf8))
    let run = try await runGanglion(["run", "--config", daemon.configPath, "--simulate"], timeout: .seconds(15))
    #expect(run.code == 3, "\(run.output)")
    #expect(run.output.contains("'pi-a'") && run.output.contains("'pi-b'"), "\(run.output)")
    #expect(run.output.contains(logDirectory), "\(run.output)")
    #expect(try FileSystem.readText(logDirectory + "/device") == "pi-a\n", "the record stays as it was")
  }
}
