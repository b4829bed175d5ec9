import GanglionTestSupport

@testable import GanglionDaemon

/// A GET against a daemon's loopback listener, as `curl` would do it.
enum HTTPGet {
  static func text(port: Int, path: String) throws -> String {
    let reply = try HTTPClient.request(method: "GET", host: "127.0.0.1", port: port, path: path)
    guard reply.status == 200 else { throw TestSupportError("GET \(path): \(reply.status) \(reply.body)") }
    return reply.body
  }
}
