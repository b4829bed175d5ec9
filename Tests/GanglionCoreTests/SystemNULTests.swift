import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// Issue 10: a string with a NUL is fine as a value, but never reaches a C call cut short. A
/// path `rules.yaml` + NUL + `../secret` would open `rules.yaml`; a host `127.0.0.1` + NUL +
/// junk would parse as loopback. The system layer refuses them instead.
@Suite struct SystemNULTests {
  @Test func pathsAndHostsWithANULAreRefusedNotCutShort() throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-nul")
    let file = try folder.write("rules: []\n", to: "rules.yaml")
    let cut = file + "\u{0}/../elsewhere.yaml"
    #expect(throws: SystemError.self) { _ = try FileSystem.readText(cut) }
    do {
      _ = try FileSystem.readText(cut)
    } catch {
      #expect(error.isInvalidArgument)
      #expect(error.description.contains("NUL"), "\(error)")
      #expect(error.description.contains(#"rules.yaml\0/../elsewhere.yaml"#), "\(error)")
    }
    #expect(FileSystem.kind(of: cut) == .missing)
    #expect(throws: SystemError.self) { try FileSystem.makeDirectories(folder.path("a\u{0}b")) }
    #expect(throws: SystemError.self) { try FileSystem.rename(file, to: folder.path("moved\u{0}x")) }
    #expect(throws: SystemError.self) { _ = try Socket.listen(host: "127.0.0.1\u{0}junk", port: 0) }
    #expect(!Socket.isLoopback(host: "127.0.0.1\u{0}.evil.example"))
  }
}
