import GanglionSystem

/// A one-request HTTP/1.1 client for the CLI's talks with a running daemon on loopback.
/// Blocking; for the command line only.
public enum HTTPClient {
  public struct Reply: Sendable {
    public var status: Int
    public var body: String
  }

  /// - Parameter headers: more header lines (`Authorization`).
  public static func request(
    method: String, host: String, port: Int, path: String, query: [(String, String)] = [], body: String = "",
    headers: [(String, String)] = [], timeoutSeconds: Int = 10
  ) throws(SystemError) -> Reply {
    let socket = try Socket.connect(host: host, port: port, timeoutSeconds: timeoutSeconds)
    var target = path
    if !query.isEmpty {
      target +=
        "?"
        + query.map { HTTPParsing.percentEncode($0.0) + "=" + HTTPParsing.percentEncode($0.1) }
        .joined(separator: "&")
    }
    let bodyBytes = Array(body.utf8)
    let head =
      "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(bodyBytes.count)\r\n"
      + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "Connection: close\r\n\r\n"
    try socket.write(Array(head.utf8) + bodyBytes)
    var received: [UInt8] = []
    while true {
      let chunk = try socket.read(maximum: 65536)
      if chunk.isEmpty { break }
      received += chunk
    }
    guard let (headText, bodyStart) = HTTPParsing.splitHead(received) else {
      throw SystemError(code: SystemError.protocolError, operation: "read a reply from", subject: "\(host):\(port)")
    }
    let statusLine = headText.split(separator: "\r\n").first ?? ""
    let parts = statusLine.split(separator: " ")
    let status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
    return Reply(status: status, body: String(decoding: received[bodyStart...], as: UTF8.self))
  }
}
