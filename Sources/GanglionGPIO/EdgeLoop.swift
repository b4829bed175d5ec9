import GanglionCore
import GanglionSystem
import Synchronization

/// One edge event as the kernel reports it.
struct KernelEdge: Sendable, Hashable {
  /// The line became (logically) high.
  var rising: Bool
  /// The kernel's timestamp, in microseconds (see `KernelEventTime` for the clock).
  var kernelMicroseconds: Int64
  /// The line's event sequence number (libgpiod 2.x), nil when the library has none (1.x).
  var sequence: UInt64?
}

/// Where the edge thread reads one input line's edges from: the libgpiod request for
/// hardware (`LibGPIOD.EdgeReader`), a pipe in tests.
///
/// Used only by the edge thread once handed to it (hence `Sendable` without locks).
protocol EdgeSource: AnyObject, Sendable {
  /// Becomes readable (for `poll`) when edges are waiting.
  var descriptor: Int32 { get }
  /// How many edges one `readEdges` call can return at most.
  var capacity: Int { get }
  /// Reads the waiting edges, at most `capacity`, into a preallocated buffer and passes each,
  /// oldest first, to `body`. Returns how many were read. Call only when `descriptor` is
  /// readable (it may block otherwise).
  func readEdges(_ body: (_ edge: KernelEdge) -> Void) throws(SystemError) -> Int
  /// The line's current logical value, to resynchronize after the kernel may have dropped
  /// events.
  func currentValue() throws(SystemError) -> Bool
}

/// The hardware backend's edge thread: `poll`s the sources' descriptors and a wake pipe,
/// reads ready sources, debounces on CLOCK_MONOTONIC with the nearest deadline as the poll
/// timeout (unless the kernel debounces), and delivers edges in wall-clock time on that
/// thread.
///
/// Event loss: the kernel queues a fixed number of events per line and drops newer ones when
/// the queue is full. With sequence numbers (libgpiod 2.x) a gap is exactly the number of
/// edges lost; without (1.x) a read that fills the buffer means the queue was full and edges
/// may have been lost. Either is reported through `onLostEdges`. After a full read the loop
/// also reads the line's current value and feeds it as an edge (at read time) if it differs
/// from what the events said: the reported value always ends up right.
final class EdgeLoop: Sendable {
  /// An input line the loop watches.
  struct WatchedLine: Sendable {
    var signal: String
    /// For messages: `gpiochip0 line 17`.
    var line: String
    var source: any EdgeSource
    /// The software debounce (period zero when the kernel debounces).
    var debouncer: EdgeDebouncer
    /// The kernel's debounce period: its events come that long after the line's last edge,
    /// so their time is moved back by it.
    var kernelDebounce: Duration = .zero
    /// The sequence number of the last edge read, to find gaps.
    var lastSequence: UInt64?
  }

  private let worker: StoppableThread
  private var waker: WakePipe { worker.waker }
  private let failures = Mutex<GPIOError?>(nil)

  private init(worker: StoppableThread) { self.worker = worker }

  /// Spawns the thread. `onEdge` and `onLostEdges` are called on it.
  static func start(
    lines: [WatchedLine], onEdge: @escaping @Sendable (GPIOEdge) -> Void,
    onLostEdges: @escaping @Sendable (GPIOLostEdges) -> Void = { _ in }
  ) throws(SystemError) -> EdgeLoop {
    let loop = EdgeLoop(worker: try StoppableThread(name: "GPIO edge reader"))
    try loop.worker.start { loop.run(lines: lines, onEdge: onEdge, onLostEdges: onLostEdges) }
    return loop
  }

  /// What went wrong on the thread so far (lines dropped, poll failing), if anything.
  var failure: GPIOError? { failures.withLock { $0 } }

  private var isStopping: Bool { worker.isStopping }

  /// Ends the thread: after this returns `onEdge` is not called again. Called from `onEdge`
  /// itself it cannot wait: the thread then ends as soon as that call returns and touches no
  /// source after it. Idempotent.
  func stop() { worker.stop() }

  private func record(_ problem: GPIOError.Problem) {
    failures.withLock { failure in
      if failure == nil { failure = GPIOError(problem) } else { failure!.problems.append(problem) }
    }
  }

  private func run(
    lines: [WatchedLine], onEdge: @Sendable (GPIOEdge) -> Void, onLostEdges: @Sendable (GPIOLostEdges) -> Void
  ) {
    var lines = lines
    // Slot 0 is the wake pipe; slot i + 1 is lines[i].
    var pollSet = PollSet(descriptors: [waker.readDescriptor] + lines.map(\.source.descriptor))
    var watching = lines.count
    var ready: [(signal: String, value: Bool, monotonic: Int64)] = []
    ready.reserveCapacity(lines.reduce(0) { $0 + $1.source.capacity } + lines.count)

    while !isStopping, watching > 0 {
      let timeout = Self.timeoutMilliseconds(
        until: lines.compactMap(\.debouncer.deadline).min(), now: SystemMonotonicClock.nowMicroseconds())
      do {
        _ = try pollSet.wait(timeoutMilliseconds: timeout)
      } catch {
        record(.init(.system, errno: error.code, "GPIO edge thread: poll failed: \(error); edges stopped"))
        return
      }
      if pollSet.isReadable(0) { waker.drain() }
      if isStopping { return }

      let monotonicNow = SystemMonotonicClock.nowMicroseconds()
      let realtimeNow = SystemClock.realtimeMicroseconds()
      for index in lines.indices {
        let slot = index + 1
        if pollSet.isReadable(slot) {
          let source = lines[index].source
          let signal = lines[index].signal
          do {
            var lost = 0
            var lastRising: Bool?
            let shift = lines[index].kernelDebounce.microseconds
            let count = try source.readEdges { edge in
              lastRising = edge.rising
              let instant = KernelEventTime.monotonic(
                kernelMicroseconds: edge.kernelMicroseconds, monotonicNow: monotonicNow, realtimeNow: realtimeNow)
              if let sequence = edge.sequence {
                if let last = lines[index].lastSequence, sequence > last + 1 { lost += Int(sequence - last - 1) }
                lines[index].lastSequence = sequence
              }
              let time = Timestamp(microseconds: instant - shift)
              if let change = lines[index].debouncer.edge(to: edge.rising, at: time) {
                ready.append((signal, change.value, change.time.microseconds))
              }
            }
            // Without sequence numbers (libgpiod 1.x) a full read only says the queue was full:
            // it counts as a loss when the line's level contradicts the last event read.
            var queueLoss = false
            if count >= source.capacity, lines[index].lastSequence == nil, let last = lastRising,
              let level = try? source.currentValue(), level != last
            {
              queueLoss = true
            }
            if lost > 0 || queueLoss {
              let wall = KernelEventTime.wallClock(
                monotonicMicroseconds: monotonicNow, monotonicNow: monotonicNow, realtimeNow: realtimeNow)
              onLostEdges(
                GPIOLostEdges(signal: signal, count: lost > 0 ? lost : nil, time: Timestamp(microseconds: wall)))
            }
            if count == 0 {
              // Readable but end of file: the descriptor is gone.
              drop(slot, lines[index], "its event descriptor was closed", &pollSet, &watching)
            } else if count >= source.capacity, let value = try? source.currentValue() {
              // A failed read of the level only loses the resync; the events keep coming.
              if let change = lines[index].debouncer.edge(to: value, at: Timestamp(microseconds: monotonicNow)) {
                ready.append((signal, change.value, change.time.microseconds))
              }
            }
          } catch {
            if !error.isInterruptedOrWouldBlock {
              drop(slot, lines[index], "reading edge events failed: \(error)", &pollSet, &watching)
            }
          }
        } else if pollSet.isBroken(slot) {
          drop(slot, lines[index], "its event descriptor reports an error", &pollSet, &watching)
        }
      }
      let settleTime = Timestamp(microseconds: SystemMonotonicClock.nowMicroseconds())
      for index in lines.indices {
        if let change = lines[index].debouncer.due(now: settleTime) {
          ready.append((lines[index].signal, change.value, change.time.microseconds))
        }
      }
      guard !ready.isEmpty else { continue }
      // Changes of several lines settle together: deliver them in the order they happened.
      ready.sort { $0.monotonic < $1.monotonic }
      let (offsetMonotonic, offsetRealtime) = (
        SystemMonotonicClock.nowMicroseconds(), SystemClock.realtimeMicroseconds()
      )
      for change in ready {
        if isStopping { return }
        let wall = KernelEventTime.wallClock(
          monotonicMicroseconds: change.monotonic, monotonicNow: offsetMonotonic, realtimeNow: offsetRealtime)
        onEdge(GPIOEdge(signal: change.signal, value: change.value, time: Timestamp(microseconds: wall)))
      }
      ready.removeAll(keepingCapacity: true)
    }
  }

  private func drop(_ slot: Int, _ line: WatchedLine, _ reason: String, _ pollSet: inout PollSet, _ watching: inout Int)
  {
    pollSet.ignore(slot)
    watching -= 1
    record(
      .init(
        .ioFailed, signal: line.signal, "signal '\(line.signal)': \(line.line): \(reason); no more edges from this line"
      ))
  }

  /// The poll timeout for the nearest debounce deadline: -1 (none), 0 (due), or the
  /// milliseconds to wait, rounded up so the deadline has passed when poll returns.
  static func timeoutMilliseconds(until deadline: Timestamp?, now: Int64) -> Int32 {
    guard let deadline else { return -1 }
    let wait = deadline.microseconds - now
    return wait <= 0 ? 0 : Int32(clamping: (wait + 999) / 1000)
  }
}
