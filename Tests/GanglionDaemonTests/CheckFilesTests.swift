import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// Issue 10 item 9: `check` passed a missing or unreadable `password_file` (and CA,
/// certificate and key files), and then `run` exited 3. `check` reads them now.
@Suite struct CheckFilesTests {
  @Test func checkFailsOnMQTTFilesThatRunCouldNotRead() async throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-check-files")
    try folder.write("-----BEGIN PRIVATE KEY-----\n", to: "client.key")
    try FileSystem.makeDirectories(folder.path("ca-folder"))
    let config = try folder.write(
      """
      device: d
      signals:
        a: { type: bool }
      mqtt:
        url: mqtts://127.0.0.1:8883
        username: u
        password_file: missing.pass
        ca_file: ca-folder
        cert_file: client.crt
        key_file: client.key
      http: off
      """, to: "ganglion.yaml")
    let check = try await runGanglion(["check", "--config", config])
    #expect(check.code == 1, "\(check.output)")
    #expect(check.output.contains("ganglion.yaml:7:18: error: cannot read `password_file`"), "\(check.output)")
    #expect(check.output.contains("missing.pass"), "\(check.output)")
    #expect(check.output.contains("ganglion.yaml:8:12: error: cannot read `ca_file`"), "\(check.output)")
    #expect(check.output.contains("a directory"), "\(check.output)")
    #expect(check.output.contains("ganglion.yaml:9:14: error: cannot read `cert_file`"), "\(check.output)")
    #expect(!check.output.contains("`key_file`"), "the key file is there: \(check.output)")
  }
}
