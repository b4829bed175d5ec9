/// The value of a signal, and any JSON value. `null` stands for `unknown`: a signal that has
/// no reading yet.
public enum Value: Hashable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([Value])
  case object([String: Value])

  public var isNull: Bool { if case .null = self { true } else { false } }

  public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
  public var numberValue: Double? { if case .number(let n) = self { n } else { nil } }
  public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
  public var arrayValue: [Value]? { if case .array(let items) = self { items } else { nil } }

  /// The member at `key` of an object, nil otherwise.
  public subscript(key: String) -> Value? {
    if case .object(let members) = self { members[key] } else { nil }
  }

  /// Follows a dotted path (`a.b.0.c`): names index objects, whole numbers index arrays.
  /// Returns nil when any step does not exist.
  public func value(atPath path: String) -> Value? {
    var current = self
    for component in path.split(separator: ".", omittingEmptySubsequences: false) {
      switch current {
      case .object(let members):
        guard let next = members[String(component)] else { return nil }
        current = next
      case .array(let items):
        guard let index = Int(component), items.indices.contains(index) else { return nil }
        current = items[index]
      default:
        return nil
      }
    }
    return current
  }

  /// The plain-text form used for `state/` topics and templates: `true`, `21.5`, `text`
  /// (strings without quotes), JSON for arrays and objects, empty for null.
  public var plainText: String {
    switch self {
    case .null: return ""
    case .bool(let b): return b ? "true" : "false"
    case .number(let n): return Value.format(number: n)
    case .string(let s): return s
    case .array, .object: return JSON.encode(self)
    }
  }

  /// Appends the UTF-8 of `plainText` to `out`.
  public func writePlainText(to out: inout [UInt8]) {
    switch self {
    case .null: break
    case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
    case .number(let n): JSON.writeNumber(n, to: &out)
    case .string(let s): out.append(contentsOf: s.utf8)
    case .array, .object: JSON.write(self, to: &out)
    }
  }

  /// Numbers print like JSON and humans expect: `3` not `3.0`, shortest round-trip otherwise.
  public static func format(number: Double) -> String {
    if number.isNaN || number.isInfinite { return "null" }
    if number == number.rounded(), abs(number) < 1e15 {
      return String(Int64(number))
    }
    return "\(number)"
  }
}

extension Value: ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByStringLiteral, ExpressibleByNilLiteral
{
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(floatLiteral value: Double) { self = .number(value) }
  public init(integerLiteral value: Int) { self = .number(Double(value)) }
  public init(stringLiteral value: String) { self = .string(value) }
  public init(nilLiteral: ()) { self = .null }
}
