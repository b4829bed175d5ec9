/// The declared type of a signal (config.md): what its values may be and how payloads parse.
public enum SignalType: String, Sendable, CaseIterable, Hashable {
  case bool, number, string, json

  /// Parses an inbound text payload (MQTT, `set/` commands, `inject`) as this type.
  ///
  /// - Bool accepts `true/false/on/off/1/0` in any case; number accepts a JSON number or
  ///   plain decimal text; string takes the text as it is; json parses JSON.
  /// - Returns: nil when the text does not parse as this type; the caller dead-letters it.
  public func parse(text: String) -> Value? {
    switch self {
    case .bool:
      return SignalType.parseBool(text).map(Value.bool)
    case .number:
      return SignalType.parseNumber(text).map(Value.number)
    case .string:
      return .string(text)
    case .json:
      return try? JSON.parse(text)
    }
  }

  /// Converts a value taken out of a JSON document (a `json:` path) to this type.
  /// Numbers accept JSON numbers and numeric strings; bools accept JSON booleans and the
  /// bool spellings; strings accept strings, numbers and booleans as text.
  public func coerce(_ value: Value) -> Value? {
    switch (self, value) {
    case (.json, _): return value
    case (_, .null): return nil
    case (.bool, .bool), (.number, .number), (.string, .string): return value
    case (.bool, .string(let s)): return SignalType.parseBool(s).map(Value.bool)
    case (.bool, .number(let n)) where n == 0 || n == 1: return .bool(n == 1)
    case (.number, .string(let s)): return SignalType.parseNumber(s).map(Value.number)
    case (.string, .number), (.string, .bool): return .string(value.plainText)
    default: return nil
    }
  }

  /// Whether `value` is a valid value of this type (null, the unknown value, always is).
  public func admits(_ value: Value) -> Bool {
    switch (self, value) {
    case (_, .null), (.json, _), (.bool, .bool), (.number, .number), (.string, .string): true
    default: false
    }
  }

  public static func parseBool(_ text: String) -> Bool? {
    switch text.trimmingASCIIWhitespace().lowercased() {
    case "true", "on", "1": true
    case "false", "off", "0": false
    default: nil
    }
  }

  public static func parseNumber(_ text: String) -> Double? {
    let trimmed = text.trimmingASCIIWhitespace()
    guard !trimmed.isEmpty, let number = Double(trimmed), number.isFinite else { return nil }
    // Double() accepts forms like "inf", "0x1p3" and "nan": only plain decimals are numbers here.
    guard
      trimmed.unicodeScalars.allSatisfy({
        ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E"
      })
    else { return nil }
    return number
  }
}

extension String {
  /// The string without leading and trailing spaces, tabs, CR and LF.
  public func trimmingASCIIWhitespace() -> String {
    let scalars = unicodeScalars
    func isSpace(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" || s == "\n" || s == "\r" }
    guard let start = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
    let end = scalars.lastIndex(where: { !isSpace($0) })!
    return String(scalars[start...end])
  }
}
