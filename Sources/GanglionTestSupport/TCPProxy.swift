import GanglionCore
import Glibc
import Synchronization

/// A TCP forwarder on 127.0.0.1 that sits between a client under test and a server (say a
/// `MosquittoBroker`) to simulate network faults:
/// - `cut()` resets every open connection at once (both ends see a connection reset), as
///   when a link goes down hard; new connections are still accepted.
/// - `freeze()` stops moving bytes in both directions while connections stay open, as when
///   packets are silently dropped; only timeouts (MQTT keepalive) can notice. `resume()`.
///
/// The proxy listens on a port from 20000-31999 (retried when in use) and forwards each
/// connection to the target on its own thread. Thread safety: all members may be used from
/// any thread. The listener and all connections close when the last reference goes away.
public final class TCPProxy: Sendable {
  public let host = "127.0.0.1"
  public let port: Int
  public let targetPort: Int
  private let worker: ProxyWorker

  /// Starts forwarding `127.0.0.1:port` to `targetHost:targetPort`.
  public init(targetHost: String = "127.0.0.1", targetPort: Int) throws(TestSupportError) {
    self.targetPort = targetPort
    let (listener, port) = try Self.listen()
    self.port = port
    worker = try ProxyWorker(listener: listener, targetHost: targetHost, targetPort: targetPort)
  }

  deinit {
    worker.request { $0.stop = true }
  }

  /// Resets all open connections; returns once they are closed.
  public func cut() async {
    await worker.apply { $0.cutRequested = true }
  }

  /// Stops forwarding bytes (connections stay open); returns once no more bytes move.
  public func freeze() async {
    await worker.apply { $0.frozen = true }
  }

  /// Forwards bytes again, including what was sent while frozen.
  public func resume() async {
    await worker.apply { $0.frozen = false }
  }

  /// Connections currently open through the proxy.
  public var connectionCount: Int { worker.connectionCount }

  private static func listen() throws(TestSupportError) -> (Int32, Int) {
    for _ in 0..<50 {
      let candidate = Int.random(in: 20000...31999)
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      guard fd >= 0 else { throw TestSupportError("socket: \(errnoText())") }
      var address = loopbackAddress(port: candidate)
      let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      if bound == 0, Glibc.listen(fd, 64) == 0 { return (fd, candidate) }
      let code = errno
      close(fd)
      guard code == EADDRINUSE else { throw TestSupportError("cannot listen on \(candidate): \(errnoText(code))") }
    }
    throw TestSupportError("no free port for the TCP proxy after 50 tries")
  }
}

private func loopbackAddress(port: Int) -> sockaddr_in {
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port)).bigEndian
  address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
  return address
}

/// What the proxy thread should do; changed under the mutex, then the thread is woken.
private struct ProxyRequests {
  var frozen = false
  var cutRequested = false
  var stop = false
  /// Bumped by every request; the thread copies it to `applied` after acting on it.
  var generation = 0
  var applied = 0
  var connectionCount = 0
}

/// Owns the sockets and the forwarding thread (kept alive by that thread until it stops).
private final class ProxyWorker: Sendable {
  private let listener: Int32
  private let targetHost: String
  private let targetPort: Int
  private let wakeRead: Int32
  private let wakeWrite: Int32
  private let requests = Mutex(ProxyRequests())

  init(listener: Int32, targetHost: String, targetPort: Int) throws(TestSupportError) {
    self.listener = listener
    self.targetHost = targetHost
    self.targetPort = targetPort
    var pipeEnds: [Int32] = [-1, -1]
    guard pipe(&pipeEnds) == 0 else {
      close(listener)
      throw TestSupportError("pipe: \(errnoText())")
    }
    for fd in pipeEnds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    wakeRead = pipeEnds[0]
    wakeWrite = pipeEnds[1]
    do {
      try PosixThread.detached { [self] in run() }
    } catch {
      close(listener)
      close(wakeRead)
      close(wakeWrite)
      throw TestSupportError("\(error)")
    }
  }

  var connectionCount: Int { requests.withLock { $0.connectionCount } }

  /// Changes the requests and wakes the thread without waiting.
  func request(_ change: (inout ProxyRequests) -> Void) {
    requests.withLock {
      change(&$0)
      $0.generation += 1
    }
    var byte: UInt8 = 1
    _ = write(wakeWrite, &byte, 1)
  }

  /// Changes the requests and waits (up to 5 s) until the thread has acted on them.
  func apply(_ change: (inout ProxyRequests) -> Void) async {
    var target = 0
    requests.withLock {
      change(&$0)
      $0.generation += 1
      target = $0.generation
    }
    var byte: UInt8 = 1
    _ = write(wakeWrite, &byte, 1)
    let deadline = ContinuousClock.now + .seconds(5)
    while requests.withLock({ $0.applied < target }), ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(1))
    }
  }

  private func run() {
    var pairs: [(client: Int32, server: Int32)] = []
    defer {
      for pair in pairs {
        close(pair.client)
        close(pair.server)
      }
      close(listener)
      close(wakeRead)
      close(wakeWrite)
    }
    while true {
      let (frozen, cut, stop, generation) = requests.withLock { requests in
        defer { requests.cutRequested = false }
        return (requests.frozen, requests.cutRequested, requests.stop, requests.generation)
      }
      if stop { return }
      if cut {
        for pair in pairs {
          resetAndClose(pair.client)
          resetAndClose(pair.server)
        }
        pairs.removeAll()
      }
      requests.withLock {
        $0.connectionCount = pairs.count
        $0.applied = generation
      }

      var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
      fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
      if !frozen {
        for pair in pairs {
          fds.append(pollfd(fd: pair.client, events: Int16(POLLIN), revents: 0))
          fds.append(pollfd(fd: pair.server, events: Int16(POLLIN), revents: 0))
        }
      }
      let ready = poll(&fds, nfds_t(fds.count), -1)
      if ready < 0 {
        if errno == EINTR { continue }
        return
      }
      if fds[0].revents != 0 {
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = read(wakeRead, &buffer, buffer.count)
      }
      let polledPairs = frozen ? 0 : pairs.count
      if fds[1].revents != 0, let pair = acceptAndConnect() {
        pairs.append(pair)
        requests.withLock { $0.connectionCount = pairs.count }
      }
      guard !frozen else { continue }
      var closed = Set<Int>()
      for (index, pair) in pairs.prefix(polledPairs).enumerated() {
        let clientEvents = fds[2 + 2 * index].revents
        let serverEvents = fds[3 + 2 * index].revents
        if clientEvents != 0, !forward(from: pair.client, to: pair.server) { closed.insert(index) }
        if serverEvents != 0, !closed.contains(index), !forward(from: pair.server, to: pair.client) {
          closed.insert(index)
        }
      }
      for index in closed.sorted(by: >) {
        close(pairs[index].client)
        close(pairs[index].server)
        pairs.remove(at: index)
      }
      if !closed.isEmpty { requests.withLock { $0.connectionCount = pairs.count } }
    }
  }

  private func acceptAndConnect() -> (client: Int32, server: Int32)? {
    let client = accept(listener, nil, nil)
    guard client >= 0 else { return nil }
    _ = fcntl(client, F_SETFD, FD_CLOEXEC)
    var one: Int32 = 1
    _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard server >= 0 else {
      close(client)
      return nil
    }
    _ = setsockopt(server, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = loopbackAddress(port: targetPort)
    if targetHost != "127.0.0.1" { _ = inet_pton(AF_INET, targetHost, &address.sin_addr) }
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      resetAndClose(client)
      close(server)
      return nil
    }
    return (client, server)
  }

  /// Moves what `source` has to `destination`; false when either side is finished.
  private func forward(from source: Int32, to destination: Int32) -> Bool {
    var buffer = [UInt8](repeating: 0, count: 65536)
    let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
    if count < 0, errno == EINTR { return true }
    guard count > 0 else { return false }
    var offset = 0
    while offset < count {
      let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, count - offset) }
      if written < 0, errno == EINTR { continue }
      guard written > 0 else { return false }
      offset += written
    }
    return true
  }

  /// Closes with a TCP reset (linger 0) rather than an orderly FIN.
  private func resetAndClose(_ fd: Int32) {
    var abort = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
    close(fd)
  }
}
