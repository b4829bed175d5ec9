import GanglionSystem
import GanglionTestSupport
import Glibc
import Testing

@Suite struct TestSupportTests {
  @Test func terminateStopsAChildWithSIGTERM() async throws {
    let child = try ChildProcess(executable: "sleep", arguments: ["30"])
    #expect(child.isRunning)
    let status = await child.terminate(gracePeriod: .seconds(5))
    #expect(status == .signaled(signal: SIGTERM))
    #expect(!child.isRunning)
  }

  @Test func capturesOutputAndExitCode() async throws {
    let directory = try TemporaryDirectory()
    let output = directory.path("out.txt")
    let child = try ChildProcess(
      executable: "/bin/sh", arguments: ["-c", "echo hello; echo oops >&2; exit 3"],
      stdout: .file(output), stderr: .file(output))
    let status = await child.waitForExit(timeout: .seconds(5))
    #expect(status == .exited(code: 3))
    #expect(readTextFile(output) == "hello\noops\n")
  }

  @Test func missingExecutableThrows() {
    #expect(throws: TestSupportError.self) { try ChildProcess(executable: "/nonexistent/program") }
  }

  @Test func temporaryDirectoryIsRemovedWithItsContents() throws {
    var path = ""
    do {
      let directory = try TemporaryDirectory()
      path = directory.path
      try directory.write("x", to: "file.txt")
      #expect(mkdir(directory.path("sub"), 0o700) == 0)
      try directory.write("y", to: "sub/inner.txt")
      #expect(readTextFile(directory.path("sub/inner.txt")) == "y")
    }
    #expect(access(path, F_OK) != 0)
  }

  @Test func brokerRestartsOnItsPortAndParallelBrokersDiffer() async throws {
    let first = try await MosquittoBroker()
    let second = try await MosquittoBroker()
    #expect(first.port != second.port)
    #expect((20000...31999).contains(first.port))
    #expect(tcpPortAcceptsConnections(port: first.port))

    await first.stop()
    #expect(!first.isRunning)
    #expect(!tcpPortAcceptsConnections(port: first.port))
    try await first.restart()
    #expect(first.isRunning)
    #expect(tcpPortAcceptsConnections(port: first.port))
    #expect(first.log.split(separator: "\n").filter { $0.contains(" running") }.count == 2)
  }

  @Test func brokerWithBadConfigurationReportsItsLog() async {
    do {
      _ = try await MosquittoBroker(extraConfiguration: ["no_such_option 1"])
      Issue.record("expected start-up to fail")
    } catch {
      #expect(error.description.contains("no_such_option"))
    }
  }

  @Test func waitUntilTimesOutWithItsDescription() async {
    do {
      try await waitUntil("the impossible", timeout: .milliseconds(20)) { false }
      Issue.record("expected a timeout")
    } catch {
      #expect("\(error)".contains("the impossible"))
    }
  }
}
