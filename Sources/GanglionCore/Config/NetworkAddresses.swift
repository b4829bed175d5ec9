/// A host and port taken from a broker URL (`mqtt://host:1883`) or a `listen:` value.
struct NetworkAddress: Equatable {
  var host: String
  var port: Int?
  var useTLS: Bool

  struct Problem: Error {
    var message: String
  }

  /// `mqtt://host[:port]` or `mqtts://host[:port]`; IPv6 hosts in brackets.
  static func parseURL(_ url: String) -> Result<NetworkAddress, Problem> {
    guard let separator = url.firstRange(of: "://") else {
      return .failure(Problem(message: "expects mqtt://host[:port] or mqtts://host[:port]"))
    }
    let scheme = url[..<separator.lowerBound]
    let useTLS: Bool
    switch scheme {
    case "mqtt": useTLS = false
    case "mqtts": useTLS = true
    default:
      return .failure(Problem(message: "expects the scheme mqtt:// or mqtts:// (TLS), not \(scheme)://"))
    }
    var rest = url[separator.upperBound...]
    if rest.hasSuffix("/") { rest = rest.dropLast() }
    if rest.contains("@") {
      return .failure(Problem(message: "must not hold credentials; use `username:` and `password_file:`"))
    }
    if rest.contains("/") || rest.contains("?") {
      return .failure(Problem(message: "expects only a host and an optional port, no path"))
    }
    return parseHostPort(String(rest), portRequired: false).map {
      NetworkAddress(host: $0.host, port: $0.port, useTLS: useTLS)
    }
  }

  /// `host:port`, `[v6]:port`, and `host` alone when the port is optional.
  static func parseHostPort(_ text: String, portRequired: Bool) -> Result<NetworkAddress, Problem> {
    var host: Substring
    var portText: Substring?
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else {
        return .failure(Problem(message: "has an IPv6 address without its closing ']'"))
      }
      host = text[text.index(after: text.startIndex)..<close]
      let after = text[text.index(after: close)...]
      if !after.isEmpty {
        guard after.first == ":" else { return .failure(Problem(message: "expects ':port' after ']'")) }
        portText = after.dropFirst()
      }
      guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
        return .failure(Problem(message: "has an invalid IPv6 address"))
      }
    } else {
      if let colon = text.lastIndex(of: ":") {
        host = text[..<colon]
        portText = text[text.index(after: colon)...]
      } else {
        host = Substring(text)
      }
      guard !host.isEmpty else { return .failure(Problem(message: "needs a host")) }
      guard
        host.unicodeScalars.allSatisfy({
          ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == "_"
        })
      else {
        return .failure(Problem(message: "has an invalid host name (IPv6 addresses go in brackets: [::1]:1883)"))
      }
    }
    var port: Int?
    if let portText {
      guard let value = Int(portText), (1...65_535).contains(value),
        portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
      else {
        return .failure(Problem(message: "expects a port from 1 to 65535"))
      }
      port = value
    } else if portRequired {
      return .failure(Problem(message: "needs a port"))
    }
    return .success(NetworkAddress(host: String(host), port: port, useTLS: false))
  }
}

/// MQTT topic rules (MQTT 3.1.1, 4.7) for topics Ganglion subscribes to or publishes under.
enum MQTTTopicCheck {
  /// Why `filter` is not a valid subscription filter, or nil.
  static func problem(inFilter filter: String) -> String? {
    if filter.utf8.count > 65_535 { return "too long" }
    if filter.utf8.contains(0) { return "must not hold a NUL character" }
    let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
    for (index, level) in levels.enumerated() {
      if level.contains("#"), level != "#" || index != levels.count - 1 {
        return "'#' must be a whole level at the end (like sensors/#)"
      }
      if level.contains("+"), level != "+" { return "'+' must be a whole level (like sensors/+/lux)" }
    }
    return nil
  }

  /// Why `prefix` is not a usable topic prefix for publishing, or nil.
  static func problem(inPrefix prefix: String) -> String? {
    if prefix.contains("+") || prefix.contains("#") { return "a prefix must not hold the wildcards + or #" }
    if prefix.hasSuffix("/") { return "a prefix must not end with '/'" }
    if prefix.utf8.contains(0) { return "must not hold a NUL character" }
    return nil
  }
}
