import GanglionCore
import Synchronization

/// The hardware backend's edge thread: polls the input lines' event descriptors and a wake
/// pipe, reads events into a preallocated buffer, debounces on CLOCK_MONOTONIC with the
/// nearest deadline as the poll timeout, and delivers edges in wall-clock time.
final class EdgeLoop: Sendable {
  /// An input line the loop watches.
  struct WatchedLine: Sendable {
    var signal: String
    var line: GPIODLine
    var descriptor: Int32
    var resolved: ResolvedLine
    var debouncer: EdgeDebouncer
  }

  /// Events read per `read` call and line; more waiting are read on the next turn.
  static let bufferCapacity = 16

  private let waker: WakePipe
  private let stopRequested = Atomic<Bool>(false)
  private let thread = Mutex<PosixThread?>(nil)
  private let firstFailure = Mutex<GPIOError?>(nil)

  private init(waker: WakePipe) { self.waker = waker }

  /// Spawns the thread.
  static func start(lines: [WatchedLine], onEdge: @escaping @Sendable (GPIOEdge) -> Void) throws(SystemError)
    -> EdgeLoop
  {
    let loop = EdgeLoop(waker: try WakePipe())
    let spawned = try PosixThread { loop.run(lines: lines, onEdge: onEdge) }
    loop.thread.withLock { $0 = spawned }
    return loop
  }

  /// The first failure the thread met, if any.
  var failure: GPIOError? { firstFailure.withLock { $0 } }

  private var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

  /// Ends the thread: after this returns `onEdge` is not called again. Called from `onEdge`
  /// itself, it cannot wait: the thread ends as soon as that call returns, and touches no
  /// line after it. Idempotent.
  func stop() {
    guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
    waker.wake()
    // `HardwareGPIO` stores the loop (under its lock) only after `start` set the thread.
    guard let spawned = thread.withLock({ $0 }) else { return }
    if spawned.isCurrent {
      spawned.detach()
    } else {
      spawned.join()
    }
  }

  private func record(_ problem: GPIOError.Problem) {
    firstFailure.withLock { failure in
      if failure == nil { failure = GPIOError(problem) } else { failure!.problems.append(problem) }
    }
  }

  private func run(lines: [WatchedLine], onEdge: @Sendable (GPIOEdge) -> Void) {
    var lines = lines
    let buffer = GPIODEventBuffer(capacity: Self.bufferCapacity)
    // Slot 0 is the wake pipe; slot i + 1 is lines[i].
    var pollSet = PollSet(descriptors: [waker.readDescriptor] + lines.map(\.descriptor))
    var ready: [(signal: String, value: Bool, monotonic: Int64)] = []
    ready.reserveCapacity(lines.count * Self.bufferCapacity)
    var watching = lines.count

    while !isStopping, watching > 0 {
      let timeout = Self.timeoutMilliseconds(
        until: lines.compactMap(\.debouncer.deadline).min(), now: Posix.monotonicMicroseconds())
      do {
        _ = try pollSet.wait(timeoutMilliseconds: timeout)
      } catch {
        record(.init(.system, errno: error.code, "GPIO edge thread: poll failed: \(error); edges stopped"))
        return
      }
      if pollSet.isReadable(0) { waker.drain() }
      if isStopping { return }

      let monotonicNow = Posix.monotonicMicroseconds()
      let realtimeNow = Posix.realtimeMicroseconds()
      for index in lines.indices {
        let slot = index + 1
        if pollSet.isReadable(slot) {
          let count: Int
          do {
            count = try buffer.read(from: lines[index].line)
          } catch {
            if error.isInterruptedOrWouldBlock { continue }
            drop(slot: slot, line: lines[index], reason: "reading edge events failed: \(error)", &pollSet, &watching)
            continue
          }
          for eventIndex in 0..<count {
            let event = buffer[eventIndex]
            let instant = KernelEventTime.monotonic(
              kernelMicroseconds: event.kernelMicroseconds, monotonicNow: monotonicNow, realtimeNow: realtimeNow)
            if let change = lines[index].debouncer.edge(to: event.rising, at: Timestamp(microseconds: instant)) {
              ready.append((lines[index].signal, change.value, change.time.microseconds))
            }
          }
        } else if pollSet.isBroken(slot) {
          drop(
            slot: slot, line: lines[index], reason: "the line's event descriptor reports an error", &pollSet, &watching)
        }
      }
      let settleTime = Timestamp(microseconds: Posix.monotonicMicroseconds())
      for index in lines.indices {
        if let change = lines[index].debouncer.due(now: settleTime) {
          ready.append((lines[index].signal, change.value, change.time.microseconds))
        }
      }
      guard !ready.isEmpty else { continue }
      // Changes of several lines settle together: deliver them in the order they happened.
      ready.sort { $0.monotonic < $1.monotonic }
      let offsetNow = (Posix.monotonicMicroseconds(), Posix.realtimeMicroseconds())
      for change in ready {
        if isStopping { return }
        let wall = KernelEventTime.wallClock(
          monotonicMicroseconds: change.monotonic, monotonicNow: offsetNow.0, realtimeNow: offsetNow.1)
        onEdge(GPIOEdge(signal: change.signal, value: change.value, time: Timestamp(microseconds: wall)))
      }
      ready.removeAll(keepingCapacity: true)
    }
  }

  private func drop(
    slot: Int, line: WatchedLine, reason: String, _ pollSet: inout PollSet, _ watching: inout Int
  ) {
    pollSet.ignore(slot)
    watching -= 1
    record(
      .init(
        .ioFailed, signal: line.signal,
        "signal '\(line.signal)': \(line.resolved): \(reason); no more edges from this line"))
  }

  /// The poll timeout for the nearest debounce deadline: -1 (none), 0 (due), or the
  /// milliseconds to wait, rounded up so the deadline has passed when poll returns.
  static func timeoutMilliseconds(until deadline: Timestamp?, now: Int64) -> Int32 {
    guard let deadline else { return -1 }
    let wait = deadline.microseconds - now
    return wait <= 0 ? 0 : Int32(clamping: (wait + 999) / 1000)
  }
}
