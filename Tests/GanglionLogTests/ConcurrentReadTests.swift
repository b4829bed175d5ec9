import GanglionCore
import GanglionLog
import GanglionSystem
import Synchronization
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct ConcurrentReadTests {
  @Test func readerWhileWriterAppendsSeesOnlyWholeRecordsInOrder() throws {
    let dir = LogTestDirectory()
    let count = 20_000
    let options = LogOptions(maxSize: 256 * 1024, segmentSize: 16 * 1024, sync: .never)
    let writerError = Mutex<String?>(nil)
    let path = dir.log
    // Create the folder before the reader starts.
    try EventLog.open(directory: path, options: options).close()
    let writer = try PosixThread(name: "test writer") {
      do {
        let log = try EventLog.open(directory: path, options: options)
        for i in 0..<count {
          var event = sampleEvent(i)
          try log.append(&event)
          if i % 7 == 0 { try log.sync() }
        }
        try log.close()
      } catch {
        writerError.withLock { $0 = "\(error)" }
      }
    }
    let cursor = try LogReader(directory: path).cursor()
    var last: UInt64 = 0
    var served = 0
    let deadline = ContinuousClock.now + .seconds(60)
    while last < UInt64(count), ContinuousClock.now < deadline {
      guard let event = try cursor.next() else {
        usleep(200)
        continue
      }
      // Strictly increasing, and exactly what was appended under that seq (a fresh log:
      // seq i + 1 holds sample i). Retention may delete segments before the reader gets
      // to them, so seqs can skip, never go back.
      #expect(event.seq > last)
      #expect(withoutSeq(event) == sampleEvent(Int(event.seq) - 1), "seq \(event.seq)")
      last = event.seq
      served += 1
    }
    writer.join()
    #expect(writerError.withLock { $0 } == nil)
    #expect(last == UInt64(count), "the reader reached the end")
    #expect(served > 1000)
  }
}
