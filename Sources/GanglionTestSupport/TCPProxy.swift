import GanglionCore
import GanglionSystem
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

  private static func listen() throws(TestSupportError) -> (Socket, Int) {
    for _ in 0..<50 {
      let candidate = Int.random(in: 20000...31999)
      do {
        return (try Socket.listen(host: "127.0.0.1", port: candidate, backlog: 64), candidate)
      } catch  where error.isAddressInUse {
        continue
      } catch {
        throw TestSupportError("cannot listen on \(candidate): \(error)")
      }
    }
    throw TestSupportError("no free port for the TCP proxy after 50 tries")
  }
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
  private let listener: Socket
  private let targetHost: String
  private let targetPort: Int
  private let waker: WakePipe
  private let requests = Mutex(ProxyRequests())

  init(listener: Socket, targetHost: String, targetPort: Int) throws(TestSupportError) {
    self.listener = listener
    self.targetHost = targetHost
    self.targetPort = targetPort
    do {
      waker = try WakePipe()
    } catch {
      throw TestSupportError("\(error)")
    }
    do {
      try PosixThread.detached(name: "TCP proxy") { [self] in run() }
    } catch {
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
    waker.wake()
  }

  /// Changes the requests and waits (up to 5 s) until the thread has acted on them.
  func apply(_ change: (inout ProxyRequests) -> Void) async {
    var target = 0
    requests.withLock {
      change(&$0)
      $0.generation += 1
      target = $0.generation
    }
    waker.wake()
    let deadline = ContinuousClock.now + .seconds(5)
    while requests.withLock({ $0.applied < target }), ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(1))
    }
  }

  private func run() {
    // Sockets close when dropped (the pairs at the end of this function).
    var pairs: [(client: Socket, server: Socket)] = []
    while true {
      let (frozen, cut, stop, generation) = requests.withLock { requests in
        defer { requests.cutRequested = false }
        return (requests.frozen, requests.cutRequested, requests.stop, requests.generation)
      }
      if stop { return }
      if cut {
        for pair in pairs {
          pair.client.resetOnClose()
          pair.server.resetOnClose()
        }
        pairs.removeAll()
      }
      requests.withLock {
        $0.connectionCount = pairs.count
        $0.applied = generation
      }

      var descriptors = [waker.readDescriptor, listener.descriptor]
      if !frozen {
        for pair in pairs { descriptors += [pair.client.descriptor, pair.server.descriptor] }
      }
      var pollSet = PollSet(descriptors: descriptors)
      do {
        guard try pollSet.wait(timeoutMilliseconds: -1) > 0 else { continue }
      } catch {
        return
      }
      if pollSet.isReadable(0) { waker.drain() }
      let polledPairs = frozen ? 0 : pairs.count
      if pollSet.isReadable(1) || pollSet.isBroken(1), let pair = acceptAndConnect() {
        pairs.append(pair)
        requests.withLock { $0.connectionCount = pairs.count }
      }
      guard !frozen else { continue }
      var closed = Set<Int>()
      for (index, pair) in pairs.prefix(polledPairs).enumerated() {
        let clientReady = pollSet.isReadable(2 + 2 * index) || pollSet.isBroken(2 + 2 * index)
        let serverReady = pollSet.isReadable(3 + 2 * index) || pollSet.isBroken(3 + 2 * index)
        if clientReady, !forward(from: pair.client, to: pair.server) { closed.insert(index) }
        if serverReady, !closed.contains(index), !forward(from: pair.server, to: pair.client) {
          closed.insert(index)
        }
      }
      for index in closed.sorted(by: >) { pairs.remove(at: index) }
      if !closed.isEmpty { requests.withLock { $0.connectionCount = pairs.count } }
    }
  }

  private func acceptAndConnect() -> (client: Socket, server: Socket)? {
    guard let client = try? listener.accept() else { return nil }
    try? client.setNoDelay()
    guard let server = try? Socket.connect(host: targetHost, port: targetPort, timeoutSeconds: 5) else {
      client.resetOnClose()
      return nil
    }
    // Reads happen only after poll said there is data; no time-out may cut a quiet link.
    try? server.setTimeout(seconds: 0)
    try? server.setNoDelay()
    return (client, server)
  }

  /// Moves what `source` has to `destination`; false when either side is finished.
  private func forward(from source: Socket, to destination: Socket) -> Bool {
    guard let bytes = try? source.read(maximum: 65536), !bytes.isEmpty else { return false }
    return (try? destination.write(bytes)) != nil
  }
}
