import GanglionCore
import GanglionLog
import GanglionSystem
import GanglionTestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The environment variable that turns the test binary into a crash-loop child: its value
/// is the log folder to append to.
let killChildEnvironment = "GANGLION_LOG_KILL_CHILD"
/// The child's sync mode: `always`, `interval` or `never`.
let killChildSyncEnvironment = "GANGLION_LOG_KILL_CHILD_SYNC"
/// The file descriptor on which the child reports progress.
let killChildReportFD: Int32 = 3

/// The event a crash-loop child appends under `seq`: the parent recomputes it to prove
/// that what it reads back is intact.
/// Every 37th is large (20-25 KiB, bigger than a segment): multi-page writes that a kill can tear.
func crashLoopEvent(seq: UInt64) -> Event {
  var event = sampleEvent(Int(seq % 1_000_003))
  if seq % 37 == 0 { event.value = .string(String(repeating: "x", count: 20_000 + Int(seq % 5000))) }
  return event
}

/// Runs only inside a child started by `CrashLoopTests` (the test binary re-executed with
/// `killChildEnvironment` set): appends until killed, reporting on fd 3 `A <seq>` after each
/// append and `S <seq>` after each sync covering everything up to that seq.
@Suite struct KillLoopChild {
  @Test(.enabled(if: getenv(killChildEnvironment) != nil))
  func appendUntilKilled() throws {
    let directory = String(cString: getenv(killChildEnvironment)!)
    let mode = getenv(killChildSyncEnvironment).map { String(cString: $0) } ?? "always"
    let sync: LogSync = mode == "never" ? .never : mode == "interval" ? .interval(.milliseconds(2)) : .always
    let options = LogOptions(maxSize: 96 * 1024, segmentSize: 8 * 1024, sync: sync)
    let log = try EventLog.open(directory: directory, options: options)
    func report(_ line: String) {
      let bytes = Array(line.utf8)
      let n = bytes.withUnsafeBytes { write(killChildReportFD, $0.baseAddress!, $0.count) }
      precondition(n == bytes.count, "report pipe: errno \(errno)")
    }
    report("O \(log.nextSeq) \(log.recovery.bytesCut)\n")
    var generator = SystemRandomNumberGenerator()
    while true {
      var lines = ""
      for _ in 0..<Int.random(in: 1...12, using: &generator) {
        let seq = log.nextSeq
        var event = crashLoopEvent(seq: seq)
        try log.append(&event)
        precondition(event.seq == seq)
        lines += "A \(seq)\n"
      }
      report(lines)
      let last = log.nextSeq - 1
      if mode == "interval" {
        if try log.syncIfDue(nowMicroseconds: monotonicMicros()) == nil, log.writeFailure == nil {
          report("S \(last)\n")
        }
      } else {
        try log.sync()
        if log.writeFailure == nil { report("S \(last)\n") }
      }
    }
  }
}

func monotonicMicros() -> Int64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

/// A child process running `KillLoopChild`, with its report pipe.
struct CrashChild {
  let process: ChildProcess
  let reportFD: Int32

  static func spawn(logDirectory: String, sync: String, stderrPath: String) throws -> CrashChild {
    var pipeFDs: [Int32] = [0, 0]
    // pipe2 is not visible from Swift: pipe, then close-on-exec for everything else spawned.
    precondition(pipe(&pipeFDs) == 0, "pipe: errno \(errno)")
    for fd in pipeFDs { precondition(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) }
    var executable = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &executable, executable.count - 1)
    precondition(length > 0, "readlink /proc/self/exe: errno \(errno)")
    let exe = String(decoding: executable[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let process = try ChildProcess(
      executable: exe, arguments: ["--testing-library", "swift-testing", "--filter", "KillLoopChild"],
      environment: [killChildEnvironment: logDirectory, killChildSyncEnvironment: sync],
      descriptors: [killChildReportFD: pipeFDs[1]], stdout: .discard, stderr: .file(stderrPath))
    close(pipeFDs[1])
    return CrashChild(process: process, reportFD: pipeFDs[0])
  }

  /// Waits until the child reported a sync (or `deadline`); returns whether it did.
  func waitForFirstSync(into buffer: inout [UInt8], deadline: ContinuousClock.Instant) -> Bool {
    while ContinuousClock.now < deadline {
      var pfd = pollfd(fd: reportFD, events: Int16(POLLIN), revents: 0)
      let ready = poll(&pfd, 1, 20)
      if ready > 0 {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { read(reportFD, $0.baseAddress!, $0.count) }
        if n <= 0 { return false }
        buffer += chunk[0..<n]
        if buffer.contains(UInt8(ascii: "S")) { return true }
      }
    }
    return false
  }

  /// SIGKILL, reap, and read what is left in the pipe.
  func kill(into buffer: inout [UInt8]) {
    process.kill()
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(reportFD, $0.baseAddress!, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      buffer += chunk[0..<n]
    }
    close(reportFD)
  }
}

@Suite struct CrashLoopTests {
  /// kill -9 at random moments, 200 times (`GANGLION_KILL_ITERATIONS=5000 swift test --filter
  /// CrashLoopTests` for a long soak): every event reported as synced is in the log, once, in
  /// order, intact; nothing corrupt is served; a seq is never handed out twice.
  @Test func killNineLoopLosesNoSyncedEventAndServesNothingCorrupt() throws {
    let dir = LogTestDirectory("ganglion-log-kill")
    let stderrPath = dir.path + "/child-stderr.txt"
    var generator = SystemRandomNumberGenerator()
    var everAppended = Set<UInt64>()
    var everSyncedSeqs = Set<UInt64>()
    var everSynced: UInt64 = 0
    var maxAppended: UInt64 = 0
    var childrenThatSynced = 0
    var incompleteTails = 0
    let iterations = getenv("GANGLION_KILL_ITERATIONS").flatMap { Int(String(cString: $0)) }.map { max(200, $0) } ?? 200
    for iteration in 0..<iterations {
      let mode = ["always", "always", "interval", "never"][iteration % 4]
      let child = try CrashChild.spawn(logDirectory: dir.log, sync: mode, stderrPath: stderrPath)
      var output: [UInt8] = []
      if iteration % 5 == 4 {
        // Kill early: during start-up, open or recovery.
        usleep(UInt32.random(in: 0...40_000, using: &generator))
      } else {
        let synced = child.waitForFirstSync(into: &output, deadline: .now + .seconds(30))
        if !synced {
          child.kill(into: &output)
          let stderr = TestFile.exists(stderrPath) ? String(decoding: TestFile.read(stderrPath), as: UTF8.self) : ""
          Issue.record("child \(iteration) never synced; stderr:\n\(stderr.suffix(3000))")
          return
        }
        // The child holds the writer lock: a second writer is refused.
        if iteration % 10 == 1 {
          do {
            let intruder = try EventLog.open(directory: dir.log)
            Issue.record("a second writer opened the log while child \(iteration) writes")
            try intruder.close()
          } catch {
            #expect(error.code == .locked)
          }
        }
        // Read while the child writes: only whole, intact records, in order.
        if iteration % 3 == 0 {
          let events = try LogReader(directory: dir.log).events()
          try checkServed(events)
        }
        usleep(UInt32.random(in: 0...25_000, using: &generator))
      }
      child.kill(into: &output)

      // What the child reported before it died.
      var appendedNow: [UInt64] = []
      var syncedNow: UInt64 = 0
      for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
        let parts = line.split(separator: " ")
        guard parts.count >= 2, let value = UInt64(parts[1]) else { continue }
        switch parts[0] {
        case "A": appendedNow.append(value)
        case "S": syncedNow = max(syncedNow, value)
        case "O": #expect(value > maxAppended, "child \(iteration) starts at \(value), after \(maxAppended)")
        default: break
        }
      }
      // Never reused: every seq this child appended is new.
      for seq in appendedNow {
        #expect(seq > maxAppended, "seq \(seq) handed out again (child \(iteration))")
        #expect(!everAppended.contains(seq))
      }
      everAppended.formUnion(appendedNow)
      everSyncedSeqs.formUnion(appendedNow.filter { $0 <= syncedNow })
      maxAppended = max(maxAppended, appendedNow.max() ?? 0)
      if syncedNow > 0 { childrenThatSynced += 1 }
      everSynced = max(everSynced, syncedNow)

      // The log as a reader sees it right after the crash, before any recovery.
      let reader = try LogReader(directory: dir.log)
      let verify = reader.verify()
      #expect(verify.isOK, "after kill \(iteration): \(verify.problems)")
      let events = try reader.events()
      try checkServed(events)
      // Every synced event that retention has not dropped is there.
      let firstKept = events.first?.seq ?? .max
      let present = Set(events.map(\.seq))
      let missing = everSyncedSeqs.filter { $0 >= firstKept && !present.contains($0) }
      #expect(missing.isEmpty, "after kill \(iteration): synced seqs missing: \(missing.sorted().prefix(10))")
      if syncedNow > 0 { #expect(present.contains(syncedNow), "the last synced seq \(syncedNow) is kept") }
      if verify.incompleteTail != nil { incompleteTails += 1 }
    }
    #expect(everSyncedSeqs.count > 1000, "the children synced \(everSyncedSeqs.count) events in all")
    #expect(childrenThatSynced >= iterations / 2)
    // Finally, a writer recovers the log and it verifies clean with no incomplete tail.
    let log = try EventLog.open(directory: dir.log, options: LogOptions(maxSize: 96 * 1024, segmentSize: 8 * 1024))
    #expect(log.nextSeq > maxAppended)
    try log.close()
    let final = try LogReader(directory: dir.log).verify()
    #expect(final.isOK && final.incompleteTail == nil)
    #expect(final.lastSeq ?? 0 >= everSynced)
  }

  func checkServed(_ events: [Event]) throws {
    var last: UInt64 = 0
    for event in events {
      #expect(event.seq > last, "seq order: \(event.seq) after \(last)")
      #expect(withoutSeq(event) == crashLoopEvent(seq: event.seq), "content of seq \(event.seq)")
      last = event.seq
    }
  }
}
