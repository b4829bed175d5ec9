import GanglionCore
import GanglionLog
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

  /// Issue 10 item 9: corruption inside an older segment is said at start, and the records
  /// after it are still read.
  @Test func corruptionInsideTheLogIsReportedAtStartAndTheRestStillReads() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-corrupt")
    let logDirectory = folder.path("log")
    let log = try EventLog.open(directory: logDirectory, options: LogOptions(segmentSize: 1024))
    for index in 0..<60 {
      var event = Event(
        time: Timestamp(seconds: 1_767_225_600 + Int64(index)), kind: .signal, signal: "hallway.motion",
        value: .bool(index % 2 == 0), source: .gpio)
      try log.append(&event)
    }
    try log.close()
    try writeFile(logDirectory + "/device", bytes: Array("corrupt-pi\n".utf8))
    let first = logDirectory + "/" + (try FileSystem.list(logDirectory).first { $0.hasSuffix(".seg") } ?? "")
    var bytes = try FileSystem.readBytes(first)
    bytes[bytes.count / 2] ^= 0xFF
    try writeFile(first, bytes: bytes)

    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "corrupt-pi", log: "dir: \(logDirectory)"), files: ["rules.yaml": "rules:\n"])
    #expect(daemon.output.contains("event log: corrupt records in \(logDirectory)/"), "\(daemon.output)")
    #expect(daemon.output.contains("the records after them are kept"), "\(daemon.output)")
    _ = await daemon.stop()
    let export = try await runGanglion(["log", "export", "--log", logDirectory, "--to", "60"])
    #expect(export.output.split(separator: "\n").count >= 58, "only the damaged record is lost")
  }
}
