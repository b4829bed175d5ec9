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

/// The pipeline's input queue under overload (issue 10 item 8).
@Suite struct CoalescingQueueTests {
  @Test func aFullQueueKeepsTheNewestElementPerKeyInItsPlace() {
    let queue = CoalescingQueue<String, String>(capacity: 2)
    #expect(queue.offer("a") && queue.offer("b"))
    #expect(!queue.offer("x"), "full")
    #expect(queue.offer("lux=1", coalescingBy: "lux") == .queued)
    #expect(queue.offer("lux=2", coalescingBy: "lux") == .replaced)
    #expect(queue.offer("door=1", coalescingBy: "door") == .queued)
    #expect(queue.depth == 4)
    #expect(queue.poll() == "a")
    #expect(queue.offer("lux=3"), "room again: queued after the waiting lux=2")
    #expect(queue.poll() == "b")
    #expect(queue.poll() == "lux=2", "taken where lux=1 would have been")
    #expect(queue.poll() == "door=1")
    #expect(queue.poll() == "lux=3", "never before the older reading")
    #expect(queue.poll() == nil)
  }
}
