// CGPIOD only for `timespec`: gpiod.h includes <time.h>, so the clang importer may file the
// struct under CGPIOD, and MemberImportVisibility then wants that module named.
import CGPIOD
import GanglionCore
import Glibc
import Synchronization

// The one place in GanglionGPIO that makes POSIX calls (clocks, pipe, poll, threads, /dev
// listing). Every call checks its result and reads errno right away.

/// An errno value from a failed system call, with its text.
struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
  var code: Int32

  /// `No such file or directory (errno 2)`.
  var description: String { "\(Posix.errnoText(code)) (errno \(code))" }

  /// ENOENT: no such file, chip or line.
  var isNoSuchEntry: Bool { code == ENOENT }
  /// EACCES or EPERM: this process may not use it.
  var isPermissionDenied: Bool { code == EACCES || code == EPERM }
  /// EBUSY: someone else holds it.
  var isBusy: Bool { code == EBUSY }
  /// EINVAL: the kernel rejects the arguments (e.g. flags it does not support).
  var isInvalidArgument: Bool { code == EINVAL }

  /// EINTR or EAGAIN: nothing wrong, try again later.
  var isInterruptedOrWouldBlock: Bool { code == EINTR || code == EAGAIN || code == EWOULDBLOCK }

  /// The errno of the call that just failed.
  static func current() -> SystemError { SystemError(code: errno) }
}

enum Posix {
  /// The C library's text for an errno value. The corresponding C function is `strerror`.
  static func errnoText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
  }

  /// Microseconds on CLOCK_MONOTONIC (never jumps; the time base of the hardware backend's
  /// debounce and of kernels >= 5.7 for GPIO event timestamps).
  static func monotonicMicroseconds() -> Int64 { clockMicroseconds(CLOCK_MONOTONIC) }

  /// Microseconds since the epoch on CLOCK_REALTIME.
  static func realtimeMicroseconds() -> Int64 { clockMicroseconds(CLOCK_REALTIME) }

  private static func clockMicroseconds(_ clock: clockid_t) -> Int64 {
    var spec = Glibc.timespec()
    // clock_gettime cannot fail for these two clocks with a valid pointer.
    let result = clock_gettime(clock, &spec)
    precondition(result == 0, "clock_gettime: \(SystemError.current())")
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
  }

  /// Names of the GPIO character devices in /dev (`gpiochip0`...), sorted by number; empty
  /// when there are none or /dev cannot be read.
  static func gpioChipNames() -> [String] {
    guard let directory = opendir("/dev") else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name.hasPrefix("gpiochip"), Int(name.dropFirst(8)) != nil { names.append(name) }
    }
    return names.sorted { Int($0.dropFirst(8))! < Int($1.dropFirst(8))! }
  }

}

/// A fixed set of descriptors to wait on for input, allocated once (the event loops reuse it
/// on every turn).
struct PollSet {
  private var fds: [pollfd]

  init(descriptors: [Int32]) {
    fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
  }

  var count: Int { fds.count }

  /// Waits until a descriptor is readable (or in error) or `timeoutMilliseconds` pass (-1:
  /// no limit). Returns the number of ready descriptors; 0 on timeout or when a signal
  /// interrupted the wait (EINTR). The corresponding C function is `poll`.
  mutating func wait(timeoutMilliseconds: Int32) throws(SystemError) -> Int {
    let result = fds.withUnsafeMutableBufferPointer { buffer in
      Glibc.poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMilliseconds)
    }
    if result < 0 {
      let error = SystemError.current()
      if error.code == EINTR {
        for index in fds.indices { fds[index].revents = 0 }
        return 0
      }
      throw error
    }
    return Int(result)
  }

  /// After `wait`: descriptor `index` has data to read.
  func isReadable(_ index: Int) -> Bool { fds[index].revents & Int16(POLLIN) != 0 }

  /// After `wait`: descriptor `index` is in error, hung up or not open.
  func isBroken(_ index: Int) -> Bool { fds[index].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 }

  /// Stops watching descriptor `index` (a negative descriptor is ignored by `poll`).
  mutating func ignore(_ index: Int) { fds[index].fd = -1 }
}

/// A self-pipe that wakes a thread blocked in `poll`: the thread polls `readDescriptor`,
/// others call `wake()`. Both ends are non-blocking and close-on-exec, and closed when the
/// last reference goes (so `wake` on a live object never writes to a reused descriptor).
final class WakePipe: Sendable {
  let readDescriptor: Int32
  private let writeDescriptor: Int32

  init() throws(SystemError) {
    var ends: [Int32] = [-1, -1]
    // pipe2 is a GNU extension Swift's Glibc module does not show: set the flags with fcntl.
    let result = ends.withUnsafeMutableBufferPointer { pipe($0.baseAddress) }
    guard result == 0 else { throw SystemError.current() }
    for end in ends {
      guard fcntl(end, F_SETFD, FD_CLOEXEC) == 0, fcntl(end, F_SETFL, O_NONBLOCK) == 0 else {
        let error = SystemError.current()
        _ = Glibc.close(ends[0])
        _ = Glibc.close(ends[1])
        throw error
      }
    }
    readDescriptor = ends[0]
    writeDescriptor = ends[1]
  }

  /// Makes the read end readable. Never blocks: a full pipe already means "wake up".
  func wake() {
    var byte: UInt8 = 1
    while write(writeDescriptor, &byte, 1) < 0, errno == EINTR {}
  }

  /// Empties the pipe so the next `poll` blocks again.
  func drain() {
    var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    while true {
      let count = withUnsafeMutableBytes(of: &buffer) { read(readDescriptor, $0.baseAddress, $0.count) }
      if count > 0 { continue }
      if count < 0, errno == EINTR { continue }
      return  // 0 (cannot happen while we hold the write end) or EAGAIN: empty
    }
  }

  deinit {
    _ = Glibc.close(readDescriptor)
    _ = Glibc.close(writeDescriptor)
  }
}

/// A dedicated thread with a wake pipe and a stop flag: the shape both the edge reader and
/// the simulated board's timer share. The body polls `waker.readDescriptor` with its other
/// descriptors and returns once `isStopping` is true.
final class StoppableThread: Sendable {
  let waker: WakePipe
  private let stopRequested = Atomic<Bool>(false)
  private let thread = Mutex<PosixThread?>(nil)

  init() throws(SystemError) { waker = try WakePipe() }

  var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

  /// Spawns the thread running `body`.
  func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
    let spawned: PosixThread
    do {
      spawned = try PosixThread(body: body)
    } catch {
      throw SystemError(code: error.code)
    }
    thread.withLock { $0 = spawned }
  }

  /// Ends the thread: after this returns the body runs no more. Called from the body itself
  /// it cannot wait: the thread ends as soon as the body returns. Idempotent.
  func stop() {
    guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
    waker.wake()
    // `start` stores the thread before it returns, so it is there.
    guard let spawned = thread.withLock({ $0 }) else { return }
    if spawned.isCurrent {
      spawned.detach()
    } else {
      spawned.join()
    }
  }
}
