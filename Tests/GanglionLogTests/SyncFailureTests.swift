import GanglionCore
import GanglionSystem
import Synchronization
import Testing

@testable import GanglionLog

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct SyncFailureTests {
  @Test func aFailedSyncThrowsAndTheWriterIsNeverTrustedAgain() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: LogOptions(sync: .always))
    try appendSamples(log, count: 3)
    try log.sync()
    try appendSamples(log, count: 2, start: 3)
    FileIO.injectedSyncFailures.withLock { $0[dir.log] = EIO }
    defer { _ = FileIO.injectedSyncFailures.withLock { $0.removeValue(forKey: dir.log) } }
    do {
      try log.sync()
      Issue.record("sync succeeded although fdatasync failed")
    } catch {
      #expect(error.operation == "fdatasync")
      #expect(error.errno == EIO)
    }
    // Even with the disk healthy again, the writer does not retry: every call throws.
    FileIO.injectedSyncFailures.withLock { _ = $0.removeValue(forKey: dir.log) }
    var event = sampleEvent(9)
    #expect(throws: LogError.self) { try log.append(&event) }
    #expect(throws: LogError.self) { try log.sync() }
    #expect(throws: LogError.self) { try log.syncIfDue(nowMicroseconds: 0) }
    #expect(throws: LogError.self) { try log.close() }
    // The lock is released: a new writer (the restarted daemon) recovers the log.
    let reopened = try EventLog.open(directory: dir.log)
    #expect(reopened.recovery.lastSeq ?? 0 >= 3)
    #expect(reopened.nextSeq > 5)
    try reopened.close()
  }

  @Test func aFailedSyncWhenStartingASegmentAlsoThrows() throws {
    let dir = LogTestDirectory()
    let log = try EventLog.open(directory: dir.log, options: LogOptions(sync: .always))
    FileIO.injectedSyncFailures.withLock { $0[dir.log] = EIO }
    defer { _ = FileIO.injectedSyncFailures.withLock { $0.removeValue(forKey: dir.log) } }
    var event = sampleEvent(0)
    // The first append reserves seqs in seq.meta (fdatasync) — that failure throws too.
    #expect(throws: LogError.self) {
      try log.append(&event)
      try log.sync()
    }
    #expect(throws: LogError.self) { try log.sync() }
  }
}
