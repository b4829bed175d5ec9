/// A parsed HTTP/1.1 request: only what the daemon's loopback API needs.
public struct HTTPRequest: Sendable {
  public var method: String
  /// The path without the query string.
  public var path: String
  /// Query parameters, decoded (`%XX` and `+`).
  public var query: [String: String]
  public var headers: [String: String]
  public var body: [UInt8]

  public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPResponse: Sendable {
  public var status: Int
  public var contentType: String
  public var body: [UInt8]
  /// More header lines (`WWW-Authenticate`).
  public var headers: [(String, String)] = []

  public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
    self.status = status
    self.contentType = contentType
    self.body = Array(body.utf8)
  }

  public static func json(_ text: String, status: Int = 200) -> HTTPResponse {
    HTTPResponse(status: status, contentType: "application/json", body: text + "\n")
  }

  public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
    HTTPResponse(status: status, body: text.hasSuffix("\n") || text.isEmpty ? text : text + "\n")
  }

  static func reason(_ status: Int) -> String {
    switch status {
    case 200: "OK"
    case 202: "Accepted"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 409: "Conflict"
    case 408: "Request Timeout"
    case 413: "Payload Too Large"
    case 422: "Unprocessable Entity"
    case 500: "Internal Server Error"
    case 503: "Service Unavailable"
    default: "Status"
    }
  }

  func encoded() -> [UInt8] {
    var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
    head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    head += "\r\n"
    return Array(head.utf8) + body
  }
}

/// Request parsing and URL decoding, shared by the server and the client.
enum HTTPParsing {
  static let maximumHeaderBytes = 16 * 1024
  static let maximumBodyBytes = 256 * 1024

  enum Problem: Error {
    case incomplete
    case malformed(String)
    case tooLarge
  }

  /// Splits `bytes` at the blank line ending the head; nil if it has not arrived yet.
  static func splitHead(_ bytes: [UInt8]) -> (head: String, bodyStart: Int)? {
    guard bytes.count >= 4 else { return nil }
    for i in 0...(bytes.count - 4)
    where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
      return (String(decoding: bytes[0..<i], as: UTF8.self), i + 4)
    }
    return nil
  }

  static func headers(_ lines: ArraySlice<Substring>) -> [String: String] {
    var headers: [String: String] = [:]
    for line in lines {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmingSpaces()
    }
    return headers
  }

  static func parse(_ bytes: [UInt8]) -> Result<HTTPRequest, Problem> {
    do throws(Problem) { return .success(try parseRequest(bytes)) } catch { return .failure(error) }
  }

  static func parseRequest(_ bytes: [UInt8]) throws(Problem) -> HTTPRequest {
    guard let (head, bodyStart) = splitHead(bytes) else {
      if bytes.count > maximumHeaderBytes { throw .tooLarge }
      throw .incomplete
    }
    let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
    let parts = lines[0].split(separator: " ")
    guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { throw .malformed("bad request line") }
    let headers = headers(lines.dropFirst())
    let length = Int(headers["content-length"] ?? "0") ?? -1
    guard length >= 0 else { throw .malformed("bad Content-Length") }
    guard length <= maximumBodyBytes else { throw .tooLarge }
    guard bytes.count - bodyStart >= length else { throw .incomplete }
    let target = parts[1]
    let path: Substring
    var query: [String: String] = [:]
    if let mark = target.firstIndex(of: "?") {
      path = target[..<mark]
      for pair in target[target.index(after: mark)...].split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        query[percentDecode(kv[0])] = kv.count > 1 ? percentDecode(kv[1]) : ""
      }
    } else {
      path = target
    }
    return HTTPRequest(
      method: String(parts[0]), path: percentDecode(path), query: query, headers: headers,
      body: Array(bytes[bodyStart..<(bodyStart + length)]))
  }

  static func percentDecode(_ text: Substring) -> String {
    var out: [UInt8] = []
    var bytes = Array(text.utf8)[...]
    while let byte = bytes.popFirst() {
      if byte == UInt8(ascii: "+") {
        out.append(UInt8(ascii: " "))
      } else if byte == UInt8(ascii: "%"), bytes.count >= 2,
        let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
      {
        out.append(value)
        bytes = bytes.dropFirst(2)
      } else {
        out.append(byte)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  static func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
        UInt8(ascii: "~"):
        out.unicodeScalars.append(Unicode.Scalar(byte))
      default:
        let hex = String(byte, radix: 16, uppercase: true)
        out += "%" + (hex.count == 1 ? "0" + hex : hex)
      }
    }
    return out
  }
}

extension String {
  func trimmingSpaces() -> String {
    var s = Substring(self)
    while s.first == " " || s.first == "\t" { s = s.dropFirst() }
    while s.last == " " || s.last == "\t" { s = s.dropLast() }
    return String(s)
  }
}
