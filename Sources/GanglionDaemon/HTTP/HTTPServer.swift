import GanglionCore
import GanglionSystem
import Synchronization

/// What a request is, for the slot it is served in: quick answers (`/status`, `/metrics`),
/// streams that hold their connection (`/events`), and other work (`/reload`, `/inject`).
/// Each kind has slots of its own, so no kind can take the others' (config.md "HTTP access").
public enum HTTPRequestClass: Sendable, CaseIterable {
  case quick, stream, work
}

/// Who may talk to the listener (config.md "HTTP access"): a request carrying `Origin` (a web
/// page's request) is refused, and so is a `Host` that is not the listen address or
/// `localhost` (DNS rebinding: a page's own name pointed at this machine); with a token, every
/// request must carry `Authorization: Bearer <token>`.
public struct HTTPAccessPolicy: Sendable {
  /// The listen address as configured.
  public var listenHost: String
  public var port: Int
  /// The bearer token every request must carry; nil for none.
  public var token: String?

  public init(listenHost: String, port: Int, token: String?) {
    self.listenHost = listenHost
    self.port = port
    self.token = token
  }

  /// Why `request` is refused, as the response to send; nil when it may be served.
  public func refusal(of request: HTTPRequest) -> HTTPResponse? {
    if request.headers["origin"] != nil {
      return .text("requests from web pages (with an Origin header) are refused", status: 403)
    }
    if let host = request.headers["host"], !isOwnHost(host) {
      return .text("Host '\(host)' is not this daemon's address (\(listenHost):\(port) or localhost)", status: 403)
    }
    if let token {
      let given = Array((request.headers["authorization"] ?? "").utf8)
      guard Self.constantTimeEquals(given, Array("Bearer \(token)".utf8)) else {
        var response = HTTPResponse.text("this daemon needs its API token: Authorization: Bearer <token>", status: 401)
        response.headers = [("WWW-Authenticate", "Bearer")]
        return response
      }
    }
    return nil
  }

  /// `Host` names this listener: the listen host (any IPv4 address when it listens on all of
  /// them: an address cannot be rebound, a name can) or `localhost`, with our port or none.
  func isOwnHost(_ value: String) -> Bool {
    var name = Substring(value.lowercased())
    if let colon = name.lastIndex(of: ":") {
      guard Int(name[name.index(after: colon)...]) == port else { return false }
      name = name[..<colon]
    }
    if name == "localhost" || name == listenHost.lowercased() { return true }
    return listenHost == "0.0.0.0" && Self.isIPv4Literal(name)
  }

  static func isIPv4Literal(_ text: Substring) -> Bool {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts.allSatisfy { $0.count <= 3 && $0.allSatisfy(\.isASCII) && UInt8($0) != nil }
  }

  /// Compares all of both (no early exit on the first difference), so the time taken does
  /// not tell how much of a guessed token was right.
  static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = a.count ^ b.count
    for index in 0..<max(a.count, b.count) {
      difference |= Int((index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0))
    }
    return difference == 0
  }
}

/// The daemon's HTTP listener (`/status`, `/metrics`, `/inject`, `/reload`, `/events`).
///
/// One listener thread accepts connections and reads every request head itself, without a
/// thread per waiting client: each request must arrive whole (head and body) within
/// `Limits.headDeadline` of its connection, however it trickles in; at most
/// `Limits.pendingHeads` wait at once, and past that the one that has waited longest is
/// dropped. A complete request that passes `HTTPAccessPolicy` is served on a thread of its
/// own, in the slots of its class (`HTTPRequestClass`): a full class answers 503 at once, and
/// the others are not affected, so followers of `/events` or slow clients never lock
/// `/status` and `/metrics` out.
///
/// Thread safety: `handler` and `classify` are called concurrently from connection threads
/// and the listener thread.
public final class HTTPServer: Sendable {
  public typealias Handler = @Sendable (HTTPRequest, HTTPConnection) -> HTTPResponse?

  public struct Limits: Sendable {
    /// A request must have arrived whole within this long of its connection.
    public var headDeadline: Duration = .seconds(5)
    /// Connections whose request has not arrived whole yet.
    public var pendingHeads = 32
    /// Requests served at once, by class.
    public var slots: [HTTPRequestClass: Int] = [.quick: 4, .stream: 4, .work: 4]
    /// Read and write time-out of a connection being served.
    public var ioTimeout: Duration = .seconds(5)

    public init() {}
  }

  private let listener: Socket
  private let handler: Handler
  private let classify: @Sendable (HTTPRequest) -> HTTPRequestClass
  private let access: HTTPAccessPolicy
  let limits: Limits
  private let busy: [HTTPRequestClass: SlotCounter]
  private let stopped = Atomic<Bool>(false)

  /// Binds `host:port` now, so that a busy port is an error at start-up.
  /// - Parameters:
  ///   - classify: which slots a request is served in.
  ///   - handler: returns the response, or nil when it wrote a streaming response itself
  ///     through the connection (and returned when the stream ended).
  public init(
    host: String, port: Int, access: HTTPAccessPolicy, limits: Limits = Limits(),
    classify: @escaping @Sendable (HTTPRequest) -> HTTPRequestClass, handler: @escaping Handler
  ) throws(SystemError) {
    listener = try Socket.listen(host: host, port: port)
    try listener.setNonBlocking(true)
    self.access = access
    self.limits = limits
    self.classify = classify
    self.handler = handler
    var busy: [HTTPRequestClass: SlotCounter] = [:]
    for kind in HTTPRequestClass.allCases { busy[kind] = SlotCounter() }
    self.busy = busy
  }

  /// Starts the listener thread.
  /// - Throws: `SystemError` when the thread cannot be started.
  public func start() throws(SystemError) {
    try PosixThread.detached(name: "HTTP listener") { [self] in listen() }
  }

  /// Stops accepting; requests being served finish on their own.
  public func stop() {
    stopped.store(true, ordering: .sequentiallyConsistent)
    listener.shutdownBoth()
  }

  /// A connection whose request has not arrived whole yet.
  private struct Pending {
    let socket: Socket
    let deadline: Int64
    var received: [UInt8] = []
  }

  private func listen() {
    var pending: [Pending] = []  // oldest first
    var idleBackoff = false
    while !stopped.load(ordering: .sequentiallyConsistent) {
      let now = SystemMonotonicClock.nowMicroseconds()
      while let oldest = pending.first, oldest.deadline <= now {
        pending.removeFirst()
        Self.answer(
          oldest.socket,
          .text("the request did not arrive whole within \(limits.headDeadline)", status: 408))
      }
      var poll = PollSet(descriptors: [listener.descriptor] + pending.map(\.socket.descriptor))
      let timeout = pending.first.map { Int32(clamping: ($0.deadline - now) / 1000 + 1) } ?? -1
      do {
        _ = try poll.wait(timeoutMilliseconds: idleBackoff ? 10 : timeout)
        idleBackoff = false
      } catch {
        idleBackoff = true  // EMFILE, ENOMEM: try again shortly
        continue
      }
      if stopped.load(ordering: .sequentiallyConsistent) { break }
      let polled = pending.count
      // Requests that have arrived (newest first, so removals keep the others' indices).
      for index in (0..<polled).reversed() where poll.isReadable(index + 1) || poll.isBroken(index + 1) {
        if read(&pending[index]) { pending.remove(at: index) }
      }
      if poll.isReadable(0) || poll.isBroken(0) {
        if !acceptWaiting(into: &pending) { break }
      }
    }
    for connection in pending { connection.socket.shutdownBoth() }
  }

  /// Accepts every waiting connection; false when the listener was shut down.
  private func acceptWaiting(into pending: inout [Pending]) -> Bool {
    while true {
      let outcome: Socket.AcceptOutcome
      do {
        outcome = try listener.acceptWaiting()
      } catch {
        return true  // EMFILE and the like: the next turn tries again
      }
      switch outcome {
      case .none: return true
      case .closed: return false
      case .connection(let socket):
        guard (try? socket.setNonBlocking(true)) != nil else { continue }
        if pending.count >= limits.pendingHeads {
          // Make room: the connection that has waited longest for its request goes.
          Self.answer(pending.removeFirst().socket, .text("too many requests arriving at once", status: 503))
        }
        pending.append(
          Pending(socket: socket, deadline: SystemMonotonicClock.nowMicroseconds() + limits.headDeadline.microseconds))
      }
    }
  }

  /// Reads what arrived on a pending connection; true when it is done with (served, answered
  /// or gone).
  private func read(_ connection: inout Pending) -> Bool {
    let chunk: [UInt8]
    do {
      guard let available = try connection.socket.readAvailable(maximum: 16384) else { return false }
      chunk = available
    } catch {
      return true
    }
    if chunk.isEmpty { return true }  // the client went away
    connection.received += chunk
    switch HTTPParsing.parse(connection.received) {
    case .success(let request):
      dispatch(request, on: connection.socket)
      return true
    case .failure(.incomplete):
      return false
    case .failure(.tooLarge):
      Self.answer(connection.socket, .text("request too large", status: 413))
      return true
    case .failure(.malformed(let why)):
      Self.answer(connection.socket, .text(why, status: 400))
      return true
    }
  }

  /// Serves a complete request in a slot of its class, or refuses it at once.
  private func dispatch(_ request: HTTPRequest, on socket: Socket) {
    if let refusal = access.refusal(of: request) {
      Self.answer(socket, refusal)
      return
    }
    let kind = classify(request)
    let counter = busy[kind]!
    let limit = limits.slots[kind] ?? 1
    guard counter.count.add(1, ordering: .sequentiallyConsistent).newValue <= limit else {
      counter.count.subtract(1, ordering: .sequentiallyConsistent)
      let why =
        kind == .stream
        ? "too many /events followers (\(limit)); try again later" : "the daemon is busy; try again"
      Self.answer(socket, .text(why, status: 503))
      return
    }
    do {
      try PosixThread.detached(name: "HTTP request") { [self] in
        defer { counter.count.subtract(1, ordering: .sequentiallyConsistent) }
        do {
          try socket.setNonBlocking(false)
          try socket.setTimeout(microseconds: limits.ioTimeout.microseconds)
          if let response = handler(request, HTTPConnection(socket: socket)) { try socket.write(response.encoded()) }
        } catch {
          // The client went away or stopped reading: nothing more to say.
        }
      }
    } catch {
      counter.count.subtract(1, ordering: .sequentiallyConsistent)
      Self.answer(socket, .text("the daemon is busy; try again", status: 503))
    }
  }

  /// Writes a short answer from the listener thread, never waiting long for the client.
  private static func answer(_ socket: Socket, _ response: HTTPResponse) {
    do {
      try socket.setNonBlocking(false)
      try socket.setTimeout(microseconds: 200_000)
      try socket.write(response.encoded())
    } catch {
      // The client is gone or does not read: drop it.
    }
  }
}

/// Requests of one class being served.
private final class SlotCounter: Sendable {
  let count = Atomic<Int>(0)
}

/// A connection a handler may stream to (`/events`): write the head once, then chunks.
public struct HTTPConnection: Sendable {
  let socket: Socket

  /// Starts a streaming response without a length; the stream ends when the handler returns.
  public func startStream(contentType: String) throws(SystemError) {
    try socket.write(Array("HTTP/1.1 200 OK\r\nContent-Type: \(contentType)\r\nConnection: close\r\n\r\n".utf8))
  }

  /// Writes part of a streaming response. Throws when the client has gone.
  public func send(_ text: String) throws(SystemError) { try socket.write(Array(text.utf8)) }
}
