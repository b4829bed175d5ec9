import GanglionCore
import GanglionLog
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A 256 KiB tmpfs mounted on a fresh folder (needs root); unmounted on deinit.
final class SmallTmpfs {
  let directory = LogTestDirectory("ganglion-log-tmpfs")
  var path: String { directory.path }

  /// nil if mounting is not possible here (not root, no tmpfs).
  init?(size: String = "256k") {
    guard mount("tmpfs", directory.path, "tmpfs", 0, "size=\(size)") == 0 else { return nil }
  }

  deinit { umount2(directory.path, Int32(MNT_DETACH)) }
}

@Suite struct DiskFullTests {
  @Test func diskFullDropsRecordsCountsThemAndResumesWhenSpaceReturns() throws {
    guard let fs = SmallTmpfs() else {
      try Test.cancel("skipped: cannot mount a tmpfs here (errno \(errno)); run as root to test disk-full handling")
    }
    // Take about half the space with a file we can delete later.
    let filler = fs.path + "/filler"
    TestFile.write(filler, [UInt8](repeating: 7, count: 120 * 1024))
    let options = LogOptions(maxSize: 4 << 20, segmentSize: 16 * 1024, sync: .always, retryInterval: .milliseconds(20))
    let log = try EventLog.open(directory: fs.path + "/log", options: options)
    var appended: [Event] = []
    var i = 0
    // Fill the disk: appends and syncs never throw; the failure shows in writeFailure.
    while log.writeFailure == nil {
      var event = sampleEvent(i)
      try log.append(&event)
      try log.sync()
      appended.append(event)
      i += 1
      try #require(i < 100_000, "the disk never filled up")
    }
    let failure = try #require(log.writeFailure)
    #expect(failure.isOutOfSpace, "\(failure)")
    #expect(failure.description.contains("No space left"), "\(failure)")
    // More events while full: dropped and counted, seqs still increase.
    for _ in 0..<50 {
      var event = sampleEvent(i)
      try log.append(&event)
      try log.sync()
      appended.append(event)
      i += 1
    }
    #expect(log.droppedRecords >= 50)
    #expect(appended.map(\.seq) == Array(1...UInt64(appended.count)))

    // Space comes back: after the retry interval, writing resumes by itself.
    unlink(filler)
    let deadline = ContinuousClock.now + .seconds(10)
    var resumedFrom: UInt64?
    while ContinuousClock.now < deadline {
      var event = sampleEvent(i)
      try log.append(&event)
      try log.sync()
      appended.append(event)
      i += 1
      if log.writeFailure == nil {
        resumedFrom = event.seq
        break
      }
      usleep(5000)
    }
    let resumed = try #require(resumedFrom, "writing did not resume after space returned")
    let tail = try appendSamples(log, count: 20, start: i)
    try log.sync()
    #expect(log.writeFailure == nil)
    let dropped = log.droppedRecords
    try log.close()

    let reader = try LogReader(directory: fs.path + "/log")
    #expect(reader.verify().isOK, "\(reader.verify().problems)")
    let stored = try reader.events()
    // Nothing corrupt, nothing invented: every stored event is one that was appended.
    let bySeq = Dictionary(uniqueKeysWithValues: (appended + tail).map { ($0.seq, $0) })
    for event in stored { #expect(bySeq[event.seq] == event) }
    #expect(UInt64(stored.count) + dropped == UInt64(appended.count + tail.count))
    #expect(stored.contains { $0.seq == resumed })
    #expect(stored.suffix(20) == tail[...])
  }

  @Test func reopenOnAFullDiskStillContinuesSeqs() throws {
    guard let fs = SmallTmpfs() else {
      try Test.cancel("skipped: cannot mount a tmpfs here (errno \(errno)); run as root to test disk-full handling")
    }
    let options = LogOptions(maxSize: 4 << 20, segmentSize: 16 * 1024, sync: .interval(.milliseconds(1)))
    var log = try EventLog.open(directory: fs.path + "/log", options: options)
    var lastSeq: UInt64 = 0
    for i in 0..<20_000 {
      var event = sampleEvent(i)
      try log.append(&event)
      lastSeq = event.seq
      if i % 50 == 0 { try log.syncIfDue(nowMicroseconds: Int64(i) * 1000) }
      if log.writeFailure != nil, log.droppedRecords > 100 { break }
    }
    #expect(log.writeFailure != nil)
    try log.close()  // drops what cannot be written; seq.meta is updated in place
    log = try EventLog.open(directory: fs.path + "/log", options: options)
    #expect(log.nextSeq > lastSeq, "seq.meta lives in place: the reservation survives a full disk")
    #expect(try LogReader(directory: fs.path + "/log").verify().isOK)
    try log.close()
  }
}
