import Glibc

/// Why a socket operation failed: what was attempted, on which address, and errno's text.
public struct SocketError: Error, Sendable, CustomStringConvertible {
  public var operation: String
  public var address: String
  public var code: Int32
  public var description: String { "\(operation) \(address): \(String(cString: strerror(code)))" }
}

/// A TCP socket over IPv4. The only file in the daemon that calls the C socket API; every
/// call checks its result and reads errno at once. All calls block the calling thread:
/// use them from dedicated threads (the HTTP listener, the CLI), never the cooperative pool.
public final class Socket: @unchecked Sendable {
  public let descriptor: Int32
  public let address: String

  private init(descriptor: Int32, address: String) {
    self.descriptor = descriptor
    self.address = address
  }

  deinit { close(descriptor) }

  static func socketAddress(host: String, port: Int) throws(SocketError) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let name = host == "localhost" ? "127.0.0.1" : host
    guard inet_pton(AF_INET, name, &address.sin_addr) == 1 else {
      throw SocketError(operation: "parse address", address: "\(host):\(port)", code: EINVAL)
    }
    return address
  }

  /// A listening socket on `host:port` (SO_REUSEADDR, close-on-exec).
  public static func listen(host: String, port: Int, backlog: Int32 = 16) throws(SocketError) -> Socket {
    let label = "\(host):\(port)"
    var address = try socketAddress(host: host, port: port)
    let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError(operation: "socket", address: label, code: errno) }
    let socket = Socket(descriptor: fd, address: label)
    var one: Int32 = 1
    guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
      throw SocketError(operation: "setsockopt SO_REUSEADDR", address: label, code: errno)
    }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw SocketError(operation: "bind", address: label, code: errno) }
    guard Glibc.listen(fd, backlog) == 0 else { throw SocketError(operation: "listen", address: label, code: errno) }
    return socket
  }

  /// Connects to `host:port`, giving up after `timeoutSeconds` for reads and writes.
  public static func connect(host: String, port: Int, timeoutSeconds: Int = 5) throws(SocketError) -> Socket {
    let label = "\(host):\(port)"
    var address = try socketAddress(host: host, port: port)
    let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError(operation: "socket", address: label, code: errno) }
    let socket = Socket(descriptor: fd, address: label)
    try socket.setTimeout(seconds: timeoutSeconds)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { throw SocketError(operation: "connect to", address: label, code: errno) }
    return socket
  }

  /// Waits for the next connection. Returns nil when the listener was shut down.
  public func accept() throws(SocketError) -> Socket? {
    while true {
      let fd = Glibc.accept(descriptor, nil, nil)
      if fd >= 0 {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return Socket(descriptor: fd, address: address)
      }
      switch errno {
      case EINTR, ECONNABORTED: continue
      case EINVAL, EBADF: return nil
      default: throw SocketError(operation: "accept on", address: address, code: errno)
      }
    }
  }

  /// Read and write time-outs (SO_RCVTIMEO, SO_SNDTIMEO).
  public func setTimeout(seconds: Int) throws(SocketError) {
    var value = timeval(tv_sec: seconds, tv_usec: 0)
    let size = socklen_t(MemoryLayout<timeval>.size)
    guard setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, size) == 0,
      setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &value, size) == 0
    else { throw SocketError(operation: "setsockopt SO_RCVTIMEO", address: address, code: errno) }
  }

  /// Reads what is available, up to `maximum` bytes; an empty result means the peer closed.
  public func read(maximum: Int) throws(SocketError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: maximum)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
      if n >= 0 { return Array(buffer[0..<n]) }
      if errno == EINTR { continue }
      throw SocketError(operation: "read from", address: address, code: errno)
    }
  }

  /// Writes all of `bytes` (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
  public func write(_ bytes: [UInt8]) throws(SocketError) {
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeBytes {
        send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw SocketError(operation: "write to", address: address, code: errno)
      }
      offset += n
    }
  }

  /// Stops a blocked `accept` or `read` on another thread.
  public func shutdownBoth() { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }
}
