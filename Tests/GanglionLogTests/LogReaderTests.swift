import GanglionCore
import GanglionLog
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct LogReaderTests {
  let small = LogOptions(maxSize: 1 << 20, segmentSize: 1024, sync: .never)

  @Test func lastSignalValuesAreTheNewestPerSignal() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    var expected: [String: (value: Value, time: Timestamp)] = [:]
    for i in 0..<300 {
      let signal = "room.s\(i % 7)"
      var event = Event(
        time: Timestamp(seconds: 1_800_000_000 + Int64(i)), kind: i % 5 == 0 ? .fired : .signal, signal: signal,
        value: i % 3 == 0 ? .string("v\(i)") : .number(Double(i)), source: .mqtt)
      try log.append(&event)
      if event.kind == .signal { expected[signal] = (event.value, event.time) }
    }
    // Kinds other than `signal` don't count, even when they name a signal.
    var publish = Event(time: Timestamp(seconds: 1), kind: .publish, signal: "room.s0", value: "x", source: .rule)
    try log.append(&publish)
    // Includes records still in the writer's buffer.
    let values = try log.lastSignalValues()
    try log.close()
    #expect(values.count == 7)
    for (signal, entry) in expected {
      #expect(values[signal]?.value == entry.value, "\(signal)")
      #expect(values[signal]?.time == entry.time, "\(signal)")
    }
    #expect(TestFile.segments(dir.log).count > 3, "the values come from several segments")
    let reader = try LogReader(directory: dir.log)
    let fromReader = try reader.lastSignalValues()
    #expect(fromReader.mapValues { $0.value } == values.mapValues { $0.value })
    // Only some signals (the persisted ones), one of them never logged.
    let some = try reader.lastSignalValues(of: ["room.s2", "room.s5", "room.absent"])
    #expect(some.count == 2)
    #expect(some["room.s2"]?.value == expected["room.s2"]?.value)
    #expect(some["room.s5"]?.time == expected["room.s5"]?.time)
    #expect(some["room.absent"] == nil)
    let one = try reader.lastSignalValues(of: ["room.s1"])  // found in the newest segment: stops there
    #expect(one.count == 1 && one["room.s1"]?.value == expected["room.s1"]?.value)
  }

  @Test func sinceUntilSelectsByTimeInSeqOrder() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    // Times jump back at i == 50 (a clock step): selection is by time, order by seq.
    var all: [Event] = []
    for i in 0..<100 {
      let seconds = i < 50 ? 1000 + Int64(i) : 1020 + Int64(i - 50)
      var event = Event(time: Timestamp(seconds: seconds), signal: "a.b", value: .number(Double(i)), source: .gpio)
      try log.append(&event)
      all.append(event)
    }
    try log.close()
    let reader = try LogReader(directory: dir.log)
    let selected = try reader.events(since: Timestamp(seconds: 1030), until: Timestamp(seconds: 1040))
    #expect(selected == all.filter { $0.time >= Timestamp(seconds: 1030) && $0.time < Timestamp(seconds: 1040) })
    #expect(selected.count == 20)
    #expect(selected.map(\.seq) == selected.map(\.seq).sorted())
    #expect(try reader.events(since: Timestamp(seconds: 0)) == all)
    #expect(try reader.events(since: Timestamp(seconds: 5000)).isEmpty)
  }

  @Test func verifyOfAHealthyLogIsClean() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    try appendSamples(log, count: 200)
    try log.close()
    let report = try LogReader(directory: dir.log).verify()
    #expect(report.isOK, "\(report.problems)")
    #expect(report.records == 200)
    #expect(report.firstSeq == 1 && report.lastSeq == 200)
    #expect(report.segments == TestFile.segments(dir.log).count)
    #expect(report.incompleteTail == nil)
  }

  @Test func verifyNamesSegmentAndOffsetOfCorruptionAndReadersSkipOnlyTheDamagedPart() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    let all = try appendSamples(log, count: 200)
    try log.close()
    let segments = TestFile.segments(dir.log)
    #expect(segments.count >= 4)
    // Damage the second segment at byte 200 (inside some record after the header).
    let victim = dir.log + "/" + segments[1]
    var bytes = TestFile.read(victim)
    bytes[200] ^= 0xFF
    TestFile.write(victim, bytes)
    let reader = try LogReader(directory: dir.log)
    let report = reader.verify()
    #expect(!report.isOK)
    #expect(report.problems.count == 1)
    let problem = try #require(report.problems.first)
    #expect(problem.segment == segments[1])
    #expect(problem.offset >= 32 && problem.offset <= 200)
    #expect(problem.description.contains(segments[1]))
    // The damaged record and the rest of its segment are never served; every other
    // record is, in order, and intact.
    let events = try reader.events()
    #expect(events.map(\.seq) == events.map(\.seq).sorted())
    #expect(events.count < 200 && events.count > 150)
    for event in events { #expect(event == all[Int(event.seq) - 1]) }
    let thirdBase = UInt64(segments[2].dropLast(4))!
    #expect(events.contains { $0.seq == thirdBase }, "reading goes on at the next segment")
  }

  @Test func verifyReportsAnIncompleteTailSeparately() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    try appendSamples(log, count: 5)
    try log.close()
    let path = dir.log + "/" + TestFile.segments(dir.log).last!
    let bytes = TestFile.read(path)
    TestFile.write(path, Array(bytes.dropLast(3)))
    let report = try LogReader(directory: dir.log).verify()
    #expect(report.isOK)
    #expect(report.records == 4)
    #expect(report.incompleteTail?.segment == TestFile.segments(dir.log).last)
  }

  @Test func statsCountEverything() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    let all = try appendSamples(log, count: 120)
    try log.close()
    let stats = try LogReader(directory: dir.log).stats()
    #expect(stats.problems.isEmpty)
    #expect(stats.events == 120)
    #expect(stats.firstSeq == 1 && stats.lastSeq == 120)
    #expect(stats.firstTime == all.map(\.time).min() && stats.lastTime == all.map(\.time).max())
    #expect(stats.segments == TestFile.segments(dir.log).count)
    #expect(stats.sizeBytes == TestFile.segments(dir.log).reduce(0) { $0 + TestFile.size(dir.log + "/" + $1) })
    var bySignal: [String: Int] = [:]
    for event in all { if let s = event.signal { bySignal[s, default: 0] += 1 } }
    #expect(stats.eventsBySignal == bySignal)
    #expect(stats.eventsByKind.values.reduce(0, +) == 120)
    #expect(stats.eventsPerSecond != nil)
  }

  @Test func aCopiedFolderReadsTheSameWithoutLockOrMeta() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    let all = try appendSamples(log, count: 150)
    try log.sync()  // the writer stays open: the copy is taken from a running device
    let copy = dir.path + "/copy"
    mkdir(copy, 0o755)
    for name in TestFile.segments(dir.log) {
      TestFile.write(copy + "/" + name, TestFile.read(dir.log + "/" + name))
    }
    let reader = try LogReader(directory: copy)
    #expect(try reader.events() == all)
    #expect(reader.verify().isOK)
    // A writer can take over the copy: seqs continue after the copied records.
    let other = try EventLog.open(directory: copy, options: small)
    #expect(other.recovery.lastSeq == 150 && other.nextSeq == 151)
    try other.close()
    try log.close()
  }

  @Test func readerOfAMissingFolderFails() {
    #expect(throws: LogError.self) { _ = try LogReader(directory: "/nonexistent/ganglion/log") }
  }

  @Test func cursorFollowsAppendsAndSegmentSwitches() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: small)
    try appendSamples(log, count: 3)
    try log.sync()
    let cursor = try LogReader(directory: dir.log).cursor(fromSeq: 2)
    #expect(try cursor.next()?.seq == 2)
    #expect(try cursor.next()?.seq == 3)
    #expect(try cursor.next() == nil)
    try appendSamples(log, count: 100, start: 3)  // crosses several segments
    try log.sync()
    var seen: [UInt64] = []
    while let event = try cursor.next() { seen.append(event.seq) }
    #expect(seen == Array(4...103))
    try log.close()
  }
}
