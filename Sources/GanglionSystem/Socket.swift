import Glibc

/// A TCP socket over IPv4, or a datagram sent to a Unix socket. The only code of the project
/// that calls the C socket API; every call checks its result and reads errno at once. All
/// calls block the calling thread: use them from dedicated threads (the HTTP listener, the
/// CLI), never the cooperative pool.
public final class Socket: @unchecked Sendable {
  public let descriptor: Int32
  /// `host:port`, for messages.
  public let address: String

  private init(descriptor: Int32, address: String) {
    self.descriptor = descriptor
    self.address = address
  }

  deinit { Glibc.close(descriptor) }

  /// The IPv4 address of `host` (a dotted quad, or `localhost`).
  /// - Throws: `SystemError` (EINVAL) for anything else.
  static func socketAddress(host: String, port: Int) throws(SystemError) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
    try refuseNUL(host, "parse the address")
    let name = host == "localhost" ? "127.0.0.1" : host
    guard (0...65535).contains(port), inet_pton(AF_INET, name, &address.sin_addr) == 1 else {
      throw SystemError(code: EINVAL, operation: "parse the address", subject: "\(host):\(port)")
    }
    return address
  }

  /// Whether `host` is an IPv4 loopback address (127.0.0.0/8) or `localhost`.
  public static func isLoopback(host: String) -> Bool {
    guard let address = try? socketAddress(host: host, port: 0) else { return false }
    return UInt32(bigEndian: address.sin_addr.s_addr) >> 24 == 127
  }

  private static func make(_ label: String) throws(SystemError) -> Socket {
    let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SystemError.current("open a socket for", label) }
    return Socket(descriptor: fd, address: label)
  }

  /// A listening socket on `host:port` (SO_REUSEADDR, close-on-exec).
  /// - Throws: `SystemError`; `isAddressInUse` when the port is taken.
  public static func listen(host: String, port: Int, backlog: Int32 = 16) throws(SystemError) -> Socket {
    let label = "\(host):\(port)"
    var address = try socketAddress(host: host, port: port)
    let socket = try make(label)
    var one: Int32 = 1
    guard setsockopt(socket.descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
    else { throw SystemError.current("set SO_REUSEADDR on", label) }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(socket.descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard bound == 0 else { throw SystemError.current("bind", label) }
    guard Glibc.listen(socket.descriptor, backlog) == 0 else { throw SystemError.current("listen on", label) }
    return socket
  }

  /// Connects to `host:port`, giving up after `timeoutSeconds` for reads and writes.
  public static func connect(host: String, port: Int, timeoutSeconds: Int = 5) throws(SystemError) -> Socket {
    let label = "\(host):\(port)"
    var address = try socketAddress(host: host, port: port)
    let socket = try make(label)
    try socket.setTimeout(seconds: timeoutSeconds)
    _ = try retryingOnInterrupt("connect to", label) {
      withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          Glibc.connect(socket.descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
    }
    return socket
  }

  /// Waits for the next connection. Returns nil when the listener was shut down.
  public func accept() throws(SystemError) -> Socket? {
    while true {
      let fd = Glibc.accept(descriptor, nil, nil)
      if fd >= 0 {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return Socket(descriptor: fd, address: address)
      }
      switch errno {
      case EINTR, ECONNABORTED: continue
      case EINVAL, EBADF: return nil
      default: throw SystemError.current("accept on", address)
      }
    }
  }

  /// What `acceptWaiting` found.
  public enum AcceptOutcome {
    case connection(Socket)
    /// No connection waits (a non-blocking listener).
    case none
    /// The listener was shut down.
    case closed
  }

  /// For a non-blocking listener (`setNonBlocking(true)`): the next waiting connection
  /// (blocking, close-on-exec), without waiting for one.
  public func acceptWaiting() throws(SystemError) -> AcceptOutcome {
    while true {
      let fd = Glibc.accept(descriptor, nil, nil)
      if fd >= 0 {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return .connection(Socket(descriptor: fd, address: address))
      }
      switch errno {
      case EINTR, ECONNABORTED: continue
      case EAGAIN, EWOULDBLOCK: return .none
      case EINVAL, EBADF: return .closed
      default: throw SystemError.current("accept on", address)
      }
    }
  }

  /// Non-blocking mode (O_NONBLOCK) on or off. The corresponding C function is `fcntl`.
  public func setNonBlocking(_ on: Bool) throws(SystemError) {
    let flags = fcntl(descriptor, F_GETFL)
    guard flags >= 0, fcntl(descriptor, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == 0 else {
      throw SystemError.current("set O_NONBLOCK on", address)
    }
  }

  /// For a non-blocking socket: what can be read now, up to `maximum` bytes; nil when nothing
  /// can (EAGAIN); empty when the peer closed.
  public func readAvailable(maximum: Int) throws(SystemError) -> [UInt8]? {
    do {
      return try read(maximum: maximum)
    } catch  where error.code == EAGAIN || error.code == EWOULDBLOCK {
      return nil
    }
  }

  /// Read and write time-outs (SO_RCVTIMEO, SO_SNDTIMEO); 0: none.
  public func setTimeout(seconds: Int) throws(SystemError) {
    try setTimeout(microseconds: Int64(seconds) * 1_000_000)
  }

  /// Read and write time-outs (SO_RCVTIMEO, SO_SNDTIMEO), at least 1 ms; 0 or less: none.
  public func setTimeout(microseconds: Int64) throws(SystemError) {
    let clamped = microseconds <= 0 ? 0 : max(1000, microseconds)
    var value = timeval(tv_sec: Int(clamped / 1_000_000), tv_usec: Int(clamped % 1_000_000))
    let size = socklen_t(MemoryLayout<timeval>.size)
    guard setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, size) == 0,
      setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &value, size) == 0
    else { throw SystemError.current("set a time-out on", address) }
  }

  /// Reads what is available, up to `maximum` bytes; an empty result means the peer closed.
  /// A time-out throws with `isInterruptedOrWouldBlock`.
  public func read(maximum: Int) throws(SystemError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: maximum)
    let n = try buffer.withMutableBytes { raw throws(SystemError) in
      try retryingOnInterrupt("read from", address) { recv(descriptor, raw.baseAddress, raw.count, 0) }
    }
    return Array(buffer[0..<n])
  }

  /// Writes all of `bytes` (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
  public func write(_ bytes: [UInt8]) throws(SystemError) {
    var offset = 0
    while offset < bytes.count {
      let n = try bytes.withBytes { raw throws(SystemError) in
        try retryingOnInterrupt("write to", address) {
          send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
        }
      }
      offset += n
    }
  }

  /// Turns Nagle's algorithm off (TCP_NODELAY): small writes leave at once.
  public func setNoDelay() throws(SystemError) {
    var one: Int32 = 1
    guard setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
    else { throw SystemError.current("set TCP_NODELAY on", address) }
  }

  /// Makes the close (when the last reference goes) a TCP reset (linger 0) instead of an
  /// orderly FIN: the peer sees "connection reset", as when a link goes down hard.
  public func resetOnClose() {
    var abort = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
  }

  /// Stops a blocked `accept` or `read` on another thread.
  public func shutdownBoth() { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }

  /// Sends one datagram to the Unix socket at `path` (`@name` is the abstract namespace),
  /// without waiting. For systemd's notify socket.
  public static func sendDatagram(_ text: String, toUnixSocket path: String) throws(SystemError) {
    try refuseNUL(path, "send to")
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SystemError.current("open a socket for", path) }
    defer { Glibc.close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw SystemError(code: ENAMETOOLONG, operation: "send to", subject: path)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (index, byte) in bytes.enumerated() { raw[index] = byte }
    }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    let payload = Array(text.utf8)
    _ = try retryingOnInterrupt("send to", path) {
      payload.withUnsafeBytes { raw in
        withUnsafePointer(to: &address) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), $0, length)
          }
        }
      }
    }
  }
}
