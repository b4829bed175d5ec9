/// JSON text to `Value` and back (RFC 8259). Pure Swift, no Foundation, bounded nesting.
public enum JSON {
  /// Why a text is not JSON, with the byte offset where parsing stopped.
  public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
  }

  /// Nesting deeper than this is rejected, so hostile input cannot exhaust the stack.
  public static let maximumDepth = 128

  /// Parses a complete JSON text (surrounding whitespace allowed).
  /// - Throws: `ParseError` for anything that is not exactly one JSON value.
  public static func parse(_ text: String) throws(ParseError) -> Value {
    var text = text
    let result: Result<Value, ParseError> = text.withUTF8 { bytes in
      var parser = Parser(bytes: bytes)
      do throws(ParseError) { return .success(try parser.parseDocument()) } catch { return .failure(error) }
    }
    return try result.get()
  }

  /// Parses JSON from raw bytes (an MQTT payload).
  public static func parse(bytes: UnsafeBufferPointer<UInt8>) throws(ParseError) -> Value {
    var parser = Parser(bytes: bytes)
    return try parser.parseDocument()
  }

  /// Compact JSON with object keys sorted, so equal values always encode to equal text.
  public static func encode(_ value: Value) -> String {
    var bytes: [UInt8] = []
    write(value, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Appends the compact JSON of `value` to `out` (object keys sorted, as `encode`).
  public static func write(_ value: Value, to out: inout String) {
    out += encode(value)
  }

  /// Appends `s` as a JSON string literal to `out`.
  public static func writeString(_ s: String, to out: inout String) {
    var bytes: [UInt8] = []
    writeString(s, to: &bytes)
    out += String(decoding: bytes, as: UTF8.self)
  }

  /// Appends the compact JSON of `value`, as UTF-8, to `out` (object keys sorted). Appending
  /// to one reserved buffer is how events are encoded on the daemon's hot path.
  public static func write(_ value: Value, to out: inout [UInt8]) {
    switch value {
    case .null: out.append(contentsOf: "null".utf8)
    case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
    case .number(let n): writeNumber(n, to: &out)
    case .string(let s): writeString(s, to: &out)
    case .array(let items):
      out.append(UInt8(ascii: "["))
      for (index, item) in items.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        write(item, to: &out)
      }
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      out.append(UInt8(ascii: "{"))
      for (index, key) in members.keys.sorted().enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        writeString(key, to: &out)
        out.append(UInt8(ascii: ":"))
        write(members[key]!, to: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
  }

  /// Appends a number as `Value.format(number:)` spells it (integers without a fraction,
  /// `null` for NaN and infinities).
  public static func writeNumber(_ n: Double, to out: inout [UInt8]) {
    if n == n.rounded(), abs(n) < 1e15 {
      let integer = Int64(n)
      if integer < 0 { out.append(UInt8(ascii: "-")) }
      writeDecimal(integer.magnitude, to: &out)
    } else {
      out.append(contentsOf: Value.format(number: n).utf8)
    }
  }

  /// Appends the decimal digits of `n`.
  public static func writeDecimal(_ n: UInt64, to out: inout [UInt8]) {
    if n < 10 {
      out.append(UInt8(truncatingIfNeeded: 48 + n))
      return
    }
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for UInt64.max's 20 digits
    withUnsafeMutableBytes(of: &digits) { buffer in
      var value = n
      var index = buffer.count
      while value > 0 {
        index -= 1
        buffer[index] = UInt8(truncatingIfNeeded: 48 + value % 10)
        value /= 10
      }
      out.append(contentsOf: buffer[index...])
    }
  }

  /// Appends `s` as a JSON string literal with the required escapes.
  public static func writeString(_ s: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    writeStringContent(s, to: &out)
    out.append(UInt8(ascii: "\""))
  }

  /// Appends `s` escaped for use inside a JSON string literal, without the quotes.
  public static func writeStringContent(_ s: String, to out: inout [UInt8]) {
    var s = s
    s.withUTF8 { bytes in
      var start = 0
      for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
        out.append(contentsOf: bytes[start..<index])
        start = index + 1
        switch byte {
        case 0x22: out.append(contentsOf: #"\""#.utf8)
        case 0x5C: out.append(contentsOf: #"\\"#.utf8)
        case 0x0A: out.append(contentsOf: #"\n"#.utf8)
        case 0x0D: out.append(contentsOf: #"\r"#.utf8)
        case 0x09: out.append(contentsOf: #"\t"#.utf8)
        default:
          out.append(contentsOf: #"\u00"#.utf8)
          out.append(hexDigit(byte >> 4))
          out.append(hexDigit(byte & 0x0F))
        }
      }
      out.append(contentsOf: bytes[start...])
    }
  }

  private static func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? 48 + nibble : UInt8(ascii: "a") + nibble - 10
  }

  private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ reason: String) -> ParseError { ParseError(offset: index, reason: reason) }

    mutating func parseDocument() throws(ParseError) -> Value {
      skipWhitespace()
      let value = try parseValue()
      skipWhitespace()
      guard index == bytes.count else { throw fail("unexpected text after the value") }
      return value
    }

    mutating func skipWhitespace() {
      while index < bytes.count {
        switch bytes[index] {
        case 0x20, 0x09, 0x0A, 0x0D: index += 1
        default: return
        }
      }
    }

    mutating func parseValue() throws(ParseError) -> Value {
      guard index < bytes.count else { throw fail("unexpected end of input") }
      switch bytes[index] {
      case UInt8(ascii: "{"): return try parseObject()
      case UInt8(ascii: "["): return try parseArray()
      case UInt8(ascii: "\""): return .string(try parseString())
      case UInt8(ascii: "t"):
        try expectWord("true")
        return .bool(true)
      case UInt8(ascii: "f"):
        try expectWord("false")
        return .bool(false)
      case UInt8(ascii: "n"):
        try expectWord("null")
        return .null
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
      default: throw fail("unexpected character")
      }
    }

    mutating func expectWord(_ word: String) throws(ParseError) {
      for expected in word.utf8 {
        guard index < bytes.count, bytes[index] == expected else { throw fail("unexpected character") }
        index += 1
      }
    }

    mutating func enter() throws(ParseError) {
      depth += 1
      if depth > JSON.maximumDepth { throw fail("nesting deeper than \(JSON.maximumDepth)") }
    }

    mutating func parseObject() throws(ParseError) -> Value {
      try enter()
      index += 1
      var members: [String: Value] = [:]
      skipWhitespace()
      if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
        index += 1
        depth -= 1
        return .object(members)
      }
      while true {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
          throw fail("expected a string key")
        }
        let key = try parseString()
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        index += 1
        skipWhitespace()
        members[key] = try parseValue()
        skipWhitespace()
        guard index < bytes.count else { throw fail("unexpected end of input") }
        if bytes[index] == UInt8(ascii: ",") {
          index += 1
          continue
        }
        guard bytes[index] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
        index += 1
        depth -= 1
        return .object(members)
      }
    }

    mutating func parseArray() throws(ParseError) -> Value {
      try enter()
      index += 1
      var items: [Value] = []
      skipWhitespace()
      if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
        index += 1
        depth -= 1
        return .array(items)
      }
      while true {
        skipWhitespace()
        items.append(try parseValue())
        skipWhitespace()
        guard index < bytes.count else { throw fail("unexpected end of input") }
        if bytes[index] == UInt8(ascii: ",") {
          index += 1
          continue
        }
        guard bytes[index] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
        index += 1
        depth -= 1
        return .array(items)
      }
    }

    mutating func parseNumber() throws(ParseError) -> Double {
      let start = index
      if bytes[index] == UInt8(ascii: "-") { index += 1 }
      func digits(_ p: inout Parser) -> Int {
        let s = p.index
        while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) {
          p.index += 1
        }
        return p.index - s
      }
      let intDigits = digits(&self)
      guard intDigits > 0 else { throw fail("expected a digit") }
      if intDigits > 1, bytes[start + (bytes[start] == UInt8(ascii: "-") ? 1 : 0)] == UInt8(ascii: "0") {
        throw fail("leading zero")
      }
      if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
        index += 1
        guard digits(&self) > 0 else { throw fail("expected a digit after '.'") }
      }
      if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
        index += 1
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
          index += 1
        }
        guard digits(&self) > 0 else { throw fail("expected a digit in the exponent") }
      }
      let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
      guard let number = Double(text), number.isFinite else { throw fail("number out of range") }
      return number
    }

    mutating func parseString() throws(ParseError) -> String {
      index += 1
      let start = index
      // Fast path: no escapes.
      while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "\"") {
          let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
          index += 1
          guard let string = String(validating: text, as: UTF8.self) else {
            throw fail("invalid UTF-8 in string")
          }
          return string
        }
        if byte == UInt8(ascii: "\\") { break }
        if byte < 0x20 { throw fail("control character in string") }
        index += 1
      }
      var scalars = String.UnicodeScalarView()
      guard let prefix = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
      else { throw fail("invalid UTF-8 in string") }
      scalars.append(contentsOf: prefix.unicodeScalars)
      var raw: [UInt8] = []
      func flush(_ raw: inout [UInt8], _ scalars: inout String.UnicodeScalarView) -> Bool {
        guard !raw.isEmpty else { return true }
        guard let s = String(validating: raw, as: UTF8.self) else { return false }
        scalars.append(contentsOf: s.unicodeScalars)
        raw.removeAll(keepingCapacity: true)
        return true
      }
      while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "\"") {
          index += 1
          guard flush(&raw, &scalars) else { throw fail("invalid UTF-8 in string") }
          return String(scalars)
        }
        if byte < 0x20 { throw fail("control character in string") }
        if byte != UInt8(ascii: "\\") {
          raw.append(byte)
          index += 1
          continue
        }
        guard flush(&raw, &scalars) else { throw fail("invalid UTF-8 in string") }
        index += 1
        guard index < bytes.count else { throw fail("unexpected end of input") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""): scalars.append("\"")
        case UInt8(ascii: "\\"): scalars.append("\\")
        case UInt8(ascii: "/"): scalars.append("/")
        case UInt8(ascii: "b"): scalars.append("\u{08}")
        case UInt8(ascii: "f"): scalars.append("\u{0C}")
        case UInt8(ascii: "n"): scalars.append("\n")
        case UInt8(ascii: "r"): scalars.append("\r")
        case UInt8(ascii: "t"): scalars.append("\t")
        case UInt8(ascii: "u"):
          var code = try parseHex4()
          if (0xD800...0xDBFF).contains(code) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw fail("unpaired surrogate") }
            index += 2
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          }
          guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
          scalars.append(scalar)
        default: throw fail("invalid escape")
        }
      }
      throw fail("unterminated string")
    }

    mutating func parseHex4() throws(ParseError) -> UInt32 {
      guard index + 4 <= bytes.count else { throw fail("unexpected end of input") }
      var code: UInt32 = 0
      for _ in 0..<4 {
        let byte = bytes[index]
        let digit: UInt32
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
        default: throw fail("invalid hex digit")
        }
        code = code << 4 | digit
        index += 1
      }
      return code
    }
  }
}
