import GanglionSystem
import Synchronization

/// The daemon's loopback HTTP listener (`/status`, `/metrics`, `/inject`, `/reload`,
/// `/events`). One accept thread; each connection is served on its own thread, at most
/// `maximumConnections` at once (others get 503), with a 5 s read time-out so a stalled
/// client cannot hold a slot.
///
/// Thread safety: `handler` is called concurrently from connection threads.
public final class HTTPServer: Sendable {
  public typealias Handler = @Sendable (HTTPRequest, HTTPConnection) -> HTTPResponse?

  public static let maximumConnections = 8
  private let listener: Socket
  private let handler: Handler
  private let active = Atomic<Int>(0)
  private let stopped = Atomic<Bool>(false)

  /// Binds `host:port` now, so that a busy port is an error at start-up.
  /// - Parameter handler: returns the response, or nil when it wrote a streaming response
  ///   itself through the connection (and returned when the stream ended).
  public init(host: String, port: Int, handler: @escaping Handler) throws(SystemError) {
    listener = try Socket.listen(host: host, port: port)
    self.handler = handler
  }

  /// Starts the accept thread.
  /// - Throws: `SystemError` when the thread cannot be started.
  public func start() throws(SystemError) {
    try PosixThread.detached(name: "HTTP listener") { [self] in acceptLoop() }
  }

  /// Stops accepting; connections in progress finish on their own.
  public func stop() {
    stopped.store(true, ordering: .sequentiallyConsistent)
    listener.shutdownBoth()
  }

  private func acceptLoop() {
    while !stopped.load(ordering: .sequentiallyConsistent) {
      guard let connection = try? listener.accept() else { return }
      if active.add(1, ordering: .sequentiallyConsistent).newValue > HTTPServer.maximumConnections {
        active.subtract(1, ordering: .sequentiallyConsistent)
        try? connection.write(HTTPResponse.text("too many connections", status: 503).encoded())
        continue
      }
      do {
        try PosixThread.detached(name: "HTTP connection") { [self] in
          serve(HTTPConnection(socket: connection))
          active.subtract(1, ordering: .sequentiallyConsistent)
        }
      } catch {
        // No thread for it: the connection closes unanswered, and the slot is free again.
        active.subtract(1, ordering: .sequentiallyConsistent)
      }
    }
  }

  private func serve(_ connection: HTTPConnection) {
    do {
      try connection.socket.setTimeout(seconds: 5)
      var buffer: [UInt8] = []
      while true {
        let chunk = try connection.socket.read(maximum: 16384)
        if chunk.isEmpty { return }
        buffer += chunk
        switch HTTPParsing.parse(buffer) {
        case .success(let request):
          if let response = handler(request, connection) { try connection.socket.write(response.encoded()) }
          return
        case .failure(.incomplete):
          continue
        case .failure(.tooLarge):
          try connection.socket.write(HTTPResponse.text("request too large", status: 413).encoded())
          return
        case .failure(.malformed(let why)):
          try connection.socket.write(HTTPResponse.text(why, status: 400).encoded())
          return
        }
      }
    } catch {
      // The client went away or timed out: nothing to answer.
    }
  }
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
