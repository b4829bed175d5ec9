import GanglionSystem
import GanglionTestSupport

@testable import GanglionDaemon

/// A GET against a daemon's loopback listener, as `curl` would do it.
enum HTTPGet {
  static func text(port: Int, path: String) async throws -> String {
    let reply = try await offThePool {
      try HTTPClient.request(method: "GET", host: "127.0.0.1", port: port, path: path)
    }
    guard reply.status == 200 else { throw TestSupportError("GET \(path): \(reply.status) \(reply.body)") }
    return reply.body
  }
}

/// Raw HTTP/1.1 requests with any header, as a browser, a script or an attacker would send
/// them: for tests of what the listener accepts.
enum RawHTTP {
  /// Sends the request `lines` (request line and headers, without the blank line) and
  /// `body`; returns the status and the body of the reply.
  static func send(port: Int, _ lines: [String], body: String = "") async throws -> (status: Int, body: String) {
    try await offThePool {
      let socket = try Socket.connect(host: "127.0.0.1", port: port, timeoutSeconds: 10)
      let head = (lines + ["Content-Length: \(body.utf8.count)", "Connection: close"]).joined(separator: "\r\n")
      try socket.write(Array((head + "\r\n\r\n" + body).utf8))
      var received: [UInt8] = []
      while true {
        let chunk = try socket.read(maximum: 65536)
        if chunk.isEmpty { break }
        received += chunk
      }
      let text = String(decoding: received, as: UTF8.self)
      guard let split = text.firstRange(of: "\r\n\r\n") else { return (0, text) }
      let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
      return (status, String(text[split.upperBound...]))
    }
  }

  /// `GET path` with `Host: 127.0.0.1:port` and `headers`.
  static func get(port: Int, _ path: String, headers: [String] = []) async throws -> (status: Int, body: String) {
    try await send(port: port, ["GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)"] + headers)
  }
}

/// Runs blocking work (socket calls) on a thread of its own, so tests never hold one of the
/// cooperative pool's few threads while they wait.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    do {
      try PosixThread.detached(name: "test blocking work") {
        continuation.resume(with: Result { try work() })
      }
    } catch {
      continuation.resume(throwing: error)
    }
  }
}
