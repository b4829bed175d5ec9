/// One problem found in user input (config, rules, tests), with where it is.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible, Error {
  public enum Severity: String, Sendable {
    case error, warning, note
  }

  public var location: SourceLocation?
  public var severity: Severity
  public var message: String

  public init(_ severity: Severity = .error, at location: SourceLocation?, _ message: String) {
    self.severity = severity
    self.location = location
    self.message = message
  }

  public static func error(_ message: String, at location: SourceLocation?) -> Diagnostic {
    Diagnostic(.error, at: location, message)
  }

  /// `file:line:column: error: message`, or `error: message` when no file is involved.
  public var description: String {
    if let location { return "\(location): \(severity.rawValue): \(message)" }
    return "\(severity.rawValue): \(message)"
  }
}

/// Thrown when input has one or more errors; carries all of them, in source order.
public struct DiagnosticsError: Error, Sendable, CustomStringConvertible {
  public var diagnostics: [Diagnostic]

  public init(_ diagnostics: [Diagnostic]) {
    self.diagnostics = diagnostics.sorted { lhs, rhs in
      switch (lhs.location, rhs.location) {
      case (let l?, let r?): return l < r
      case (nil, .some): return true
      default: return false
      }
    }
  }

  /// One line per diagnostic.
  public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Collects diagnostics while a pass keeps going, so that every error is reported at once.
public struct DiagnosticCollector: Sendable {
  public private(set) var diagnostics: [Diagnostic] = []

  public init() {}

  public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

  public mutating func error(_ message: String, at location: SourceLocation?) {
    diagnostics.append(.error(message, at: location))
  }

  public mutating func append(_ diagnostic: Diagnostic) { diagnostics.append(diagnostic) }

  public mutating func append(contentsOf other: [Diagnostic]) {
    diagnostics.append(contentsOf: other)
  }

  /// Throws `DiagnosticsError` with everything collected if any error was collected.
  public func throwIfErrors() throws(DiagnosticsError) {
    if hasErrors { throw DiagnosticsError(diagnostics) }
  }
}

/// Suggests the nearest candidate for a misspelled name (`did you mean 'debounce'?`).
public enum Spelling {
  /// The candidate with the smallest edit distance, if it is close enough to be a likely typo.
  public static func nearest(to word: String, in candidates: some Sequence<String>) -> String? {
    var best: (String, Int)?
    let length = word.unicodeScalars.count
    let limit = max(1, min(3, length / 3 + 1))
    for candidate in candidates {
      // The distance is at least the difference in length: skip without the quadratic
      // comparison (a megabyte-long name against every signal took a minute).
      guard abs(candidate.unicodeScalars.count - length) <= limit else { continue }
      let distance = editDistance(word, candidate)
      if distance <= limit, best == nil || distance < best!.1 { best = (candidate, distance) }
    }
    return best?.0
  }

  /// `; did you mean 'x'?` or an empty string.
  public static func suggestion(for word: String, in candidates: some Sequence<String>) -> String {
    guard let near = nearest(to: word, in: candidates) else { return "" }
    return "; did you mean '\(near)'?"
  }

  /// Levenshtein distance over Unicode scalars.
  public static func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars)
    let b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      current[0] = i
      for j in 1...b.count {
        let cost = a[i - 1] == b[j - 1] ? 0 : 1
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      }
      swap(&previous, &current)
    }
    return previous[b.count]
  }
}
