import GanglionCore
import GanglionSystem
import Glibc
import Synchronization
import Testing

@testable import GanglionGPIO

/// A fake line for the edge thread: a pipe carrying 18-byte records (rising flag, kernel
/// timestamp, whether a sequence number follows, the sequence number), so the loop's poll,
/// read, debounce, loss detection, resync and stop paths run without a chip.
final class PipeEdgeSource: EdgeSource, @unchecked Sendable {
  let descriptor: Int32
  private let writeEnd: Int32
  let capacity: Int
  private let buffer: UnsafeMutableRawBufferPointer
  private let level = Mutex(false)
  private static let recordSize = 18

  init(capacity: Int = 16) {
    var ends: [Int32] = [-1, -1]
    precondition(pipe(&ends) == 0)
    descriptor = ends[0]
    writeEnd = ends[1]
    self.capacity = capacity
    buffer = .allocate(byteCount: capacity * Self.recordSize, alignment: 8)
  }

  deinit {
    close(descriptor)
    closeWriteEnd()
    buffer.deallocate()
  }

  /// Queues an edge stamped (and, like libgpiod 2.x, numbered) like the kernel would; also
  /// sets the line's current value.
  func send(rising: Bool, kernelMicroseconds: Int64, sequence: UInt64? = nil) {
    var record = [UInt8](repeating: 0, count: Self.recordSize)
    record[0] = rising ? 1 : 0
    withUnsafeBytes(of: kernelMicroseconds.littleEndian) { for i in 0..<8 { record[1 + i] = $0[i] } }
    record[9] = sequence == nil ? 0 : 1
    withUnsafeBytes(of: (sequence ?? 0).littleEndian) { for i in 0..<8 { record[10 + i] = $0[i] } }
    level.withLock { $0 = rising }
    precondition(write(writeEnd, record, record.count) == record.count)
  }

  /// Queues several edges in one write, so the loop reads them in one batch; the line level
  /// stays as set (`setLevel`).
  func sendBatch(_ edges: [(rising: Bool, kernelMicroseconds: Int64)]) {
    var bytes: [UInt8] = []
    for edge in edges {
      var record = [UInt8](repeating: 0, count: Self.recordSize)
      record[0] = edge.rising ? 1 : 0
      withUnsafeBytes(of: edge.kernelMicroseconds.littleEndian) { for i in 0..<8 { record[1 + i] = $0[i] } }
      bytes += record
    }
    precondition(write(writeEnd, bytes, bytes.count) == bytes.count)
  }

  /// What `currentValue` reports from now on (a level the events missed).
  func setLevel(_ value: Bool) { level.withLock { $0 = value } }

  private var writeClosed = false
  func closeWriteEnd() {
    if !writeClosed {
      close(writeEnd)
      writeClosed = true
    }
  }

  func readEdges(_ body: (KernelEdge) -> Void) throws(SystemError) -> Int {
    let count = read(descriptor, buffer.baseAddress, buffer.count)
    guard count >= 0 else { throw SystemError(code: errno) }
    let records = count / Self.recordSize
    for index in 0..<records {
      let base = index * Self.recordSize
      var micros: Int64 = 0
      withUnsafeMutableBytes(of: &micros) { for i in 0..<8 { $0[i] = buffer[base + 1 + i] } }
      var sequence: UInt64 = 0
      withUnsafeMutableBytes(of: &sequence) { for i in 0..<8 { $0[i] = buffer[base + 10 + i] } }
      body(
        KernelEdge(
          rising: buffer[base] == 1, kernelMicroseconds: Int64(littleEndian: micros),
          sequence: buffer[base + 9] == 1 ? UInt64(littleEndian: sequence) : nil))
    }
    return records
  }

  func currentValue() throws(SystemError) -> Bool { level.withLock { $0 } }
}

@Suite struct EdgeLoopTests {
  private func watched(_ source: PipeEdgeSource, signal: String = "s", debounce: Duration = .zero)
    -> EdgeLoop.WatchedLine
  {
    EdgeLoop.WatchedLine(
      signal: signal, line: "pipe", source: source, debouncer: EdgeDebouncer(period: debounce, initial: false))
  }

  /// The wall-clock time a CLOCK_MONOTONIC instant corresponds to now.
  private func wall(_ monotonic: Int64) -> Timestamp {
    Timestamp(
      microseconds: monotonic + SystemClock.realtimeMicroseconds() - SystemMonotonicClock.nowMicroseconds())
  }

  @Test func edgesArriveInOrderWithKernelTimesInWallClock() throws {
    let source = PipeEdgeSource()
    let recorder = EdgeRecorder()
    let loop = try EdgeLoop.start(lines: [watched(source)], onEdge: recorder.handler)
    defer { loop.stop() }
    let stamp = SystemMonotonicClock.nowMicroseconds() - 250_000
    source.send(rising: true, kernelMicroseconds: stamp)
    source.send(rising: true, kernelMicroseconds: stamp + 1_000)  // a repeat: not a change
    source.send(rising: false, kernelMicroseconds: stamp + 2_000)

    #expect(waitUntil(seconds: 5) { recorder.all.count == 2 })
    let edges = recorder.all
    #expect(edges.map(\.value) == [true, false])
    #expect(edges.map(\.signal) == ["s", "s"])
    // Clock offsets are sampled at slightly different moments: allow a few milliseconds.
    #expect(abs((edges[0].time - wall(stamp)).microseconds) < 5_000)
    // The two may be read in separate batches, each converting with the clocks' offset read
    // then: the offset may differ by a microsecond.
    #expect(abs((edges[1].time - edges[0].time - .milliseconds(2)).microseconds) <= 2)
  }

  @Test func realtimeStampsOfOldKernelsGiveTheSameWallTime() throws {
    let source = PipeEdgeSource()
    let recorder = EdgeRecorder()
    let loop = try EdgeLoop.start(lines: [watched(source)], onEdge: recorder.handler)
    defer { loop.stop() }
    let realtimeStamp = SystemClock.realtimeMicroseconds() - 100_000
    source.send(rising: true, kernelMicroseconds: realtimeStamp)
    #expect(waitUntil(seconds: 5) { recorder.all.count == 1 })
    #expect(abs(recorder.all[0].time.microseconds - realtimeStamp) < 5_000)
  }

  @Test func debounceSuppressesABounceAndReportsAHeldChangeAtItsFirstEdge() throws {
    let source = PipeEdgeSource()
    let recorder = EdgeRecorder()
    let loop = try EdgeLoop.start(lines: [watched(source, debounce: .milliseconds(30))], onEdge: recorder.handler)
    defer { loop.stop() }
    // A 5 ms bounce long ago, then a press that holds, stamped now.
    let past = SystemMonotonicClock.nowMicroseconds() - 1_000_000
    source.send(rising: true, kernelMicroseconds: past)
    source.send(rising: false, kernelMicroseconds: past + 5_000)
    let pressed = SystemMonotonicClock.nowMicroseconds()
    source.send(rising: true, kernelMicroseconds: pressed)

    // Only the poll timeout can settle the press: nothing else wakes the loop.
    #expect(waitUntil(seconds: 5) { !recorder.all.isEmpty })
    let edges = recorder.all
    #expect(edges.map(\.value) == [true])
    #expect(abs((edges[0].time - wall(pressed)).microseconds) < 5_000)
  }

  @Test func aFullReadResynchronizesWithTheLineLevel() throws {
    let source = PipeEdgeSource(capacity: 2)
    let recorder = EdgeRecorder()
    let now = SystemMonotonicClock.nowMicroseconds()
    // Two events fill the buffer; the kernel may have dropped more: the line is high again.
    source.send(rising: true, kernelMicroseconds: now - 3_000)
    source.send(rising: false, kernelMicroseconds: now - 2_000)
    source.setLevel(true)
    let loop = try EdgeLoop.start(lines: [watched(source)], onEdge: recorder.handler)
    defer { loop.stop() }
    #expect(waitUntil(seconds: 5) { recorder.all.count == 3 })
    #expect(recorder.all.map(\.value) == [true, false, true])
  }

  @Test func aGapInSequenceNumbersIsReportedAsExactlyThatManyLostEdges() throws {
    let source = PipeEdgeSource()
    let recorder = EdgeRecorder()
    let lost = Mutex<[GPIOLostEdges]>([])
    let loop = try EdgeLoop.start(
      lines: [watched(source)], onEdge: recorder.handler, onLostEdges: { report in lost.withLock { $0.append(report) } }
    )
    defer { loop.stop() }
    let now = SystemMonotonicClock.nowMicroseconds()
    source.send(rising: true, kernelMicroseconds: now - 3_000, sequence: 1)
    source.send(rising: false, kernelMicroseconds: now - 2_000, sequence: 2)
    // Edges 3 to 7 were dropped by the kernel.
    source.send(rising: true, kernelMicroseconds: now - 1_000, sequence: 8)
    #expect(waitUntil(seconds: 5) { !lost.withLock { $0 }.isEmpty && recorder.all.count == 3 })
    #expect(lost.withLock { $0 }.map(\.count) == [5])
    #expect(lost.withLock { $0 }.map(\.signal) == ["s"])
  }

  @Test func aFullReadWithoutSequenceNumbersThatContradictsTheLineIsAPossibleLoss() throws {
    let source = PipeEdgeSource(capacity: 2)
    let lost = Mutex<[GPIOLostEdges]>([])
    let recorder = EdgeRecorder()
    let now = SystemMonotonicClock.nowMicroseconds()
    // A full queue whose last event agrees with the line: nothing says an edge was lost.
    source.send(rising: true, kernelMicroseconds: now - 5_000)
    source.send(rising: false, kernelMicroseconds: now - 4_000)
    let loop = try EdgeLoop.start(
      lines: [watched(source)], onEdge: recorder.handler,
      onLostEdges: { report in lost.withLock { $0.append(report) } })
    defer { loop.stop() }
    #expect(waitUntil(seconds: 5) { recorder.all.count == 2 })
    #expect(lost.withLock { $0 }.isEmpty)
    // A full queue whose last event says low while the line is high: edges were dropped.
    source.setLevel(true)
    source.sendBatch([(true, now - 3_000), (false, now - 2_000)])
    #expect(waitUntil(seconds: 5) { !lost.withLock { $0 }.isEmpty })
    #expect(lost.withLock { $0 }.map(\.count) == [nil])
  }

  @Test func kernelDebouncedEdgesAreDatedBackByThePeriod() throws {
    let source = PipeEdgeSource()
    let recorder = EdgeRecorder()
    var line = watched(source)
    line.kernelDebounce = .milliseconds(40)
    let loop = try EdgeLoop.start(lines: [line], onEdge: recorder.handler)
    defer { loop.stop() }
    // The kernel reports a settled change when the period has passed since the last edge.
    let settled = SystemMonotonicClock.nowMicroseconds()
    source.send(rising: true, kernelMicroseconds: settled, sequence: 1)
    #expect(waitUntil(seconds: 5) { recorder.all.count == 1 })
    #expect(abs((recorder.all[0].time - wall(settled - 40_000)).microseconds) < 5_000)
  }

  @Test func aClosedLineIsDroppedAndReported() throws {
    let source = PipeEdgeSource()
    let other = PipeEdgeSource()
    let recorder = EdgeRecorder()
    let loop = try EdgeLoop.start(
      lines: [watched(source, signal: "gone"), watched(other, signal: "alive")], onEdge: recorder.handler)
    defer { loop.stop() }
    source.closeWriteEnd()
    #expect(waitUntil(seconds: 5) { loop.failure != nil })
    let failure = try #require(loop.failure)
    #expect(failure.problems.map(\.signal) == ["gone"])
    #expect(failure.description.contains("no more edges"))
    // The other line keeps working.
    other.send(rising: true, kernelMicroseconds: SystemMonotonicClock.nowMicroseconds())
    #expect(waitUntil(seconds: 5) { recorder.all.map(\.signal) == ["alive"] })
  }

  @Test func stopFromInsideOnEdgeReturnsAndStopsDelivery() throws {
    let source = PipeEdgeSource()
    let loopBox = Mutex<EdgeLoop?>(nil)
    let calls = Atomic<Int>(0)
    let stopReturned = Atomic<Bool>(false)
    let loop = try EdgeLoop.start(lines: [watched(source)]) { _ in
      calls.add(1, ordering: .relaxed)
      loopBox.withLock { $0 }?.stop()
      stopReturned.store(true, ordering: .releasing)
    }
    loopBox.withLock { $0 = loop }
    let now = SystemMonotonicClock.nowMicroseconds()
    // Two changes in one batch: the second must not be delivered after stop.
    source.send(rising: true, kernelMicroseconds: now - 2_000)
    source.send(rising: false, kernelMicroseconds: now - 1_000)
    #expect(waitUntil(seconds: 5) { stopReturned.load(ordering: .acquiring) })
    #expect(calls.load(ordering: .relaxed) == 1)
    loop.stop()  // idempotent
  }

  @Test func stopWakesAThreadWaitingWithoutTimeout() throws {
    let source = PipeEdgeSource()
    let loop = try EdgeLoop.start(lines: [watched(source)]) { _ in }
    // The loop is (or will be) blocked in poll with no timeout; stop must wake and join it.
    loop.stop()
    #expect(loop.failure == nil)
  }
}
