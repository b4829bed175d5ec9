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
