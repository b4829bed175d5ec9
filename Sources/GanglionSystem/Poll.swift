import Glibc

/// A fixed set of descriptors to wait on for input, allocated once (event loops reuse it on
/// every turn).
public struct PollSet {
  private var fds: [pollfd]

  public init(descriptors: [Int32]) {
    fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
  }

  public var count: Int { fds.count }

  /// Waits until a descriptor is readable (or in error) or `timeoutMilliseconds` pass (-1:
  /// no limit). Returns the number of ready descriptors; 0 on timeout or when a signal
  /// interrupted the wait (EINTR). The corresponding C function is `poll`.
  public mutating func wait(timeoutMilliseconds: Int32) throws(SystemError) -> Int {
    let result = fds.withUnsafeMutableBufferPointer { buffer in
      Glibc.poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMilliseconds)
    }
    if result < 0 {
      let error = SystemError.current("poll")
      if error.code == EINTR {
        for index in fds.indices { fds[index].revents = 0 }
        return 0
      }
      throw error
    }
    return Int(result)
  }

  /// After `wait`: descriptor `index` has data to read.
  public func isReadable(_ index: Int) -> Bool { fds[index].revents & Int16(POLLIN) != 0 }

  /// After `wait`: descriptor `index` is in error, hung up or not open.
  public func isBroken(_ index: Int) -> Bool { fds[index].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 }

  /// Stops watching descriptor `index` (a negative descriptor is ignored by `poll`).
  public mutating func ignore(_ index: Int) { fds[index].fd = -1 }
}

/// A self-pipe that wakes a thread blocked in `poll`: the thread polls `readDescriptor`,
/// others call `wake()`. Both ends are non-blocking and close-on-exec, and closed when the
/// last reference goes (so `wake` on a live object never writes to a reused descriptor).
public final class WakePipe: Sendable {
  public let readDescriptor: Int32
  private let writeDescriptor: Int32

  /// - Throws: `SystemError` when the pipe cannot be made (EMFILE...).
  public init() throws(SystemError) {
    var ends: [Int32] = [-1, -1]
    // pipe2 is a GNU extension Swift's Glibc module does not show: set the flags with fcntl.
    let result = ends.withUnsafeMutableBufferPointer { pipe($0.baseAddress) }
    guard result == 0 else { throw SystemError.current("create a pipe") }
    for end in ends {
      guard fcntl(end, F_SETFD, FD_CLOEXEC) == 0, fcntl(end, F_SETFL, O_NONBLOCK) == 0 else {
        let error = SystemError.current("set up a pipe")
        _ = Glibc.close(ends[0])
        _ = Glibc.close(ends[1])
        throw error
      }
    }
    readDescriptor = ends[0]
    writeDescriptor = ends[1]
  }

  /// Makes the read end readable. Never blocks: a full pipe already means "wake up".
  public func wake() {
    var byte: UInt8 = 1
    while Glibc.write(writeDescriptor, &byte, 1) < 0, errno == EINTR {}
  }

  /// Empties the pipe so the next `poll` blocks again.
  public func drain() {
    var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    while true {
      let count = withUnsafeMutableBytes(of: &buffer) { Glibc.read(readDescriptor, $0.baseAddress, $0.count) }
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
