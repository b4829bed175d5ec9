import GanglionCore

/// Run-time helpers shared by compiled expressions.
enum Runtime {
  /// Three-valued equality: unknown if either side is unknown.
  @inline(__always)
  static func equal(_ a: Value, _ b: Value) -> Value {
    switch (a, b) {
    case (.null, _), (_, .null): return .null
    case (.number(let x), .number(let y)): return .bool(x == y)
    case (.bool(let x), .bool(let y)): return .bool(x == y)
    case (.string(let x), .string(let y)): return .bool(x == y)
    default: return .bool(a == b)
    }
  }

  /// Orders numbers with numbers and strings with strings; nil (unknown) otherwise.
  static func compare(_ a: Value, _ b: Value) -> Int? {
    switch (a, b) {
    case (.number(let x), .number(let y)): return x < y ? -1 : (x > y ? 1 : 0)
    case (.string(let x), .string(let y)): return x < y ? -1 : (x > y ? 1 : 0)
    default: return nil
    }
  }

  static func index(_ base: Value, _ key: Value) -> Value {
    switch (base, key) {
    case (.object(let members), .string(let name)): return members[name] ?? .null
    case (.array(let items), .number(let n)):
      guard let i = Int(exactly: n), items.indices.contains(i) else { return .null }
      return items[i]
    default: return .null
    }
  }

  /// A value as text inside a template.
  static func render(_ value: Value, as type: ExprType) -> String {
    guard case .number(let n) = value else { return value.isNull ? "unknown" : value.plainText }
    // Out-of-range results of arithmetic print as plain numbers rather than trap.
    guard let micros = Int64(exactly: (n * 1e6).rounded()), abs(micros) < 1 << 60 else { return value.plainText }
    switch type {
    case .duration: return Duration.microseconds(micros).compactDescription
    case .timeOfDay: return formatTimeOfDay(Int(micros / 1_000_000))
    case .timestamp: return Timestamp(microseconds: micros).iso8601
    default: return value.plainText
    }
  }

  /// A value as it goes into JSON (a whole `"${EXPR}"` template in a payload).
  static func json(_ value: Value, as type: ExprType) -> Value {
    guard case .number = value else { return value }
    switch type {
    case .timeOfDay, .timestamp: return .string(render(value, as: type))
    default: return value
    }
  }

  static func formatTimeOfDay(_ seconds: Int) -> String {
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    let base = "\(two(seconds / 3600)):\(two(seconds / 60 % 60))"
    return seconds % 60 == 0 ? base : base + ":\(two(seconds % 60))"
  }
}
