import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Glibc
import Testing

@testable import GanglionDaemon

/// events.md "The event log": disk full never stops rules or MQTT; the daemon says so once,
/// counts it, and resumes writing by itself when there is room again.
@Suite struct DaemonDiskFullTests {
  @Test func aFullDiskKeepsRulesRunningIsReportedOnceAndWritingResumes() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-full")
    let mountPoint = folder.path("disk")
    guard mkdir(mountPoint, 0o755) == 0, mount("tmpfs", mountPoint, "tmpfs", 0, "size=256k") == 0 else {
      try Test.cancel("skipped: cannot mount a tmpfs here (errno \(errno)); run as root to test a full disk")
    }
    defer { umount2(mountPoint, Int32(MNT_DETACH)) }
    let filler = mountPoint + "/filler"
    try writeFile(filler, bytes: [UInt8](repeating: 1, count: 150 * 1024))

    let daemon = try await DaemonHarness(
      config: hallwayConfig(
        device: "full-pi",
        log: "dir: \(mountPoint)/log\nsegment_size: 16KiB\nmax_size: 8MiB\nsync: always"),
      files: [
        "rules.yaml": """
        rules:
          - name: follow
            on: hallway.motion
            do:
              - set: { hallway.light: value }
        """
      ])
    func status() async throws -> Value { try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status")) }
    func inject(_ on: Bool) async throws {
      let reply = try await offThePool {
        try HTTPClient.request(
          method: "POST", host: "127.0.0.1", port: daemon.httpPort, path: "/inject",
          query: [("signal", "hallway.motion"), ("value", on ? "on" : "off")])
      }
      #expect(reply.status == 202)
    }

    // Fill the disk with events.
    var on = true
    try await waitUntil("the disk to fill", timeout: .seconds(60), pollInterval: .milliseconds(1)) {
      for _ in 0..<50 {
        try await inject(on)
        on.toggle()
      }
      return try await status()["log"]?["write_failure"].map { !$0.isNull } ?? false
    }
    // Rules keep running on a full disk.
    try await inject(true)
    try await waitUntil("the light to follow the motion on a full disk") {
      try await status()["signals"]?["hallway.light"]?["value"] == true
    }
    try await inject(false)
    try await waitUntil("... and back") { try await status()["signals"]?["hallway.light"]?["value"] == false }
    let metrics = try await HTTPGet.text(port: daemon.httpPort, path: "/metrics")
    #expect(!metrics.contains("ganglion_log_dropped_records_total 0\n"), "\(metrics)")

    // Room again: writing resumes by itself.
    #expect(unlink(filler) == 0)
    try await inject(true)
    try await waitUntil("writing to resume", timeout: .seconds(20)) {
      try await inject(on)
      on.toggle()
      return try await status()["log"]?["write_failure"]?.isNull == true
    }
    let output = daemon.output
    let failures = output.split(separator: "\n").filter { $0.contains("event log writes failing") }
    #expect(failures.count == 1, "\(output)")
    #expect(output.contains("event log writes resumed"), "\(output)")
    #expect(await daemon.stop() == .exited(code: 0))
  }
}
