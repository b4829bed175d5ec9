/// The known keys of one YAML mapping, after unknown and duplicate keys were reported.
package struct YAMLFields {
  /// The mapping's pairs by key, only for allowed keys (first occurrence).
  package var pairs: [String: YAMLNode.Pair]
  /// Where to report a missing key: the key that owns this mapping.
  package var owner: SourceLocation
  /// The same pairs in the order written: the mapping's own, then merged ones.
  package var ordered: [YAMLNode.Pair] = []

  package subscript(key: String) -> YAMLNode? { pairs[key]?.value }

  package func keyLocation(_ key: String) -> SourceLocation? { pairs[key]?.key.location }

  package func has(_ key: String) -> Bool { pairs[key] != nil }
}

/// Reads typed values out of YAML nodes and records one diagnostic per problem, at the
/// offending key or value, saying what was expected. Each method returns nil after
/// reporting, so a decoder keeps going and reports every problem in one pass.
///
/// The config, rule files and rule-test files all read their mappings through `mapping` (a
/// fixed set of keys) or `entries` (keys that are names, like signals), so unknown keys,
/// duplicate keys and merge keys behave and read the same in every file.
package struct YAMLFieldReader {
  package var diagnostics = DiagnosticCollector()

  package init() {}

  package mutating func error(_ message: String, at location: SourceLocation) {
    diagnostics.error(message, at: location)
  }

  /// Checks that `node` is a mapping with scalar keys from `allowed`; reports the others
  /// (with a did-you-mean), duplicates, and a wrong node kind. YAML merge keys
  /// (`<<: *anchor`, or a list of anchors) are expanded first; keys written in the mapping
  /// itself win over merged ones.
  /// - Parameters:
  ///   - what: how messages name the mapping, e.g. "`gpio`" or "signal 'hallway.motion'".
  ///   - owner: where to report keys that are missing later (defaults to the node).
  ///   - misplaced: keys that belong elsewhere, with a hint saying where.
  package mutating func mapping(
    _ node: YAMLNode, _ what: String, allowed: [String], owner: SourceLocation? = nil,
    misplaced: [String: String] = [:], expected: String? = nil
  ) -> YAMLFields? {
    guard let pairs = entries(node, what, expected: expected) else { return nil }
    var fields = YAMLFields(pairs: [:], owner: owner ?? node.location)
    for pair in pairs {
      guard let key = pair.key.scalar else { continue }  // `entries` keeps scalar keys only
      guard allowed.contains(key) else {
        guard Self.couldBeKey(key) else {
          // A paragraph, a line of a file named by mistake: say where, not what (it may hold
          // secrets, and it cannot be a misspelt key).
          error(
            "unknown key (\(key.count) characters, not a key name) in \(what); expected one of: "
              + allowed.joined(separator: ", "), at: pair.key.textLocation)
          continue
        }
        var message = "unknown key '\(key)' in \(what)"
        if let hint = misplaced[key] {
          message += "; \(hint)"
        } else if let near = Spelling.nearest(to: key, in: allowed) {
          message += "; did you mean '\(near)'?"
        } else {
          message += "; expected one of: \(allowed.joined(separator: ", "))"
        }
        error(message, at: pair.key.textLocation)
        continue
      }
      fields.pairs[key] = pair
      fields.ordered.append(pair)
    }
    return fields
  }

  /// The pairs of a mapping whose keys the caller checks itself (signal names, payload
  /// fields), in the order written: merge keys expanded as in `mapping`, and keys that are
  /// not scalars or come twice reported and left out. Nil (after reporting) if `node` is
  /// not a mapping.
  package mutating func entries(_ node: YAMLNode, _ what: String, expected: String? = nil) -> [YAMLNode.Pair]? {
    guard let pairs = node.mapping else {
      error("\(what) expects \(expected ?? "a mapping of settings"); found \(describe(node))", at: node.textLocation)
      return nil
    }
    var out: [YAMLNode.Pair] = []
    var seen: [String: SourceLocation] = [:]
    for pair in expandingMerges(pairs, what) {
      guard let key = pair.key.scalar else {
        error("\(what): keys must be plain names; found \(pair.key.kindDescription)", at: pair.key.location)
        continue
      }
      if let first = seen[key] {
        error(
          "duplicate key '\(key)' in \(what); the first is at line \(first.line), column \(first.column)",
          at: pair.key.textLocation)
        continue
      }
      seen[key] = pair.key.location
      out.append(pair)
    }
    return out
  }

  /// The pairs with each `<<` merge key replaced by the pairs of the mapping(s) it names,
  /// minus keys the mapping gives itself or an earlier merged mapping already gave.
  mutating func expandingMerges(_ pairs: [YAMLNode.Pair], _ what: String) -> [YAMLNode.Pair] {
    func isMergeKey(_ key: YAMLNode) -> Bool { key.scalar == "<<" && key.scalarStyle == .plain }
    guard pairs.contains(where: { isMergeKey($0.key) }) else { return pairs }
    var explicit = pairs.filter { !isMergeKey($0.key) }
    var present = Set(explicit.compactMap(\.key.scalar))
    for pair in pairs where isMergeKey(pair.key) {
      let sources = pair.value.sequence ?? [pair.value]
      for source in sources {
        guard let merged = source.mapping else {
          error(
            "`<<` in \(what) merges a mapping (`<<: *name`) or a list of them; found \(describe(source))",
            at: source.textLocation)
          continue
        }
        for item in merged where !isMergeKey(item.key) {
          guard let key = item.key.scalar, !present.contains(key) else { continue }
          present.insert(key)
          explicit.append(item)
        }
      }
    }
    return explicit
  }

  /// A non-empty scalar's text.
  mutating func string(_ node: YAMLNode, _ what: String, expected: String = "a text") -> String? {
    guard let text = node.scalar, !node.isNull else {
      error("\(what) expects \(expected); found \(describe(node))", at: node.textLocation)
      return nil
    }
    guard !text.isEmpty else {
      error("\(what) expects \(expected); found an empty text", at: node.textLocation)
      return nil
    }
    return text
  }

  /// `true`/`false` or `on`/`off`, unquoted.
  mutating func bool(_ node: YAMLNode, _ what: String) -> Bool? {
    if node.scalar != nil, case .bool(let value) = node.jsonValue { return value }
    error("\(what) expects true or false (or on/off); found \(describe(node))", at: node.textLocation)
    return nil
  }

  /// A whole number in `range`, unquoted.
  mutating func int(_ node: YAMLNode, _ what: String, in range: ClosedRange<Int>) -> Int? {
    guard let text = node.scalar, node.scalarStyle == .plain, let value = Int(text) else {
      error(
        "\(what) expects a whole number from \(range.lowerBound) to \(range.upperBound); found \(describe(node))",
        at: node.textLocation)
      return nil
    }
    guard range.contains(value) else {
      error(
        "\(what) expects a whole number from \(range.lowerBound) to \(range.upperBound); found \(value)",
        at: node.textLocation)
      return nil
    }
    return value
  }

  /// `250ms`, `10s`, `5m`, `1h30m` (Duration.parse), or a bare `0`.
  mutating func duration(_ node: YAMLNode, _ what: String) -> Duration? {
    if let text = node.scalar, !node.isNull {
      if text.trimmingASCIIWhitespace() == "0" { return .zero }
      if let duration = Duration.parse(text) { return duration }
    }
    error(
      "\(what) expects a duration like 50ms, 10s, 5m or 1h30m (units us, ms, s, m, h, d); found \(describe(node))",
      at: node.textLocation)
    return nil
  }

  /// `64MiB`, `512KiB`, `1GiB`, `10MB`, or a number of bytes (ByteSize.parse), more than 0.
  mutating func byteSize(_ node: YAMLNode, _ what: String) -> Int64? {
    if let text = node.scalar, !node.isNull, let size = ByteSize.parse(text), size > 0 { return size }
    error(
      "\(what) expects a size like 64MiB, 512KiB or 1GiB (more than 0); found \(describe(node))",
      at: node.textLocation)
    return nil
  }

  /// One of `choices`, with a did-you-mean for a near miss.
  mutating func choice(_ node: YAMLNode, _ what: String, _ choices: [String]) -> String? {
    if let text = node.scalar, !node.isNull, choices.contains(text) { return text }
    let list = choices.map { "'\($0)'" }.joined(separator: ", ")
    var message = "\(what) expects one of \(list); found \(describe(node))"
    if let text = node.scalar, let near = Spelling.nearest(to: text, in: choices) {
      message += "; did you mean '\(near)'?"
    }
    error(message, at: node.textLocation)
    return nil
  }

  /// How a found node reads in a message: `'fast'`, `a list`, `nothing`.
  package func describe(_ node: YAMLNode) -> String {
    if node.isNull { return "nothing" }
    if let text = node.scalar { return Self.quoted(text) }
    return node.kindDescription
  }

  /// Whether an unknown key is worth quoting back: it looks like a key (at most 40 letters,
  /// digits, `_`, `-`, `.`), so it is probably a misspelt one.
  static func couldBeKey(_ key: String) -> Bool {
    key.count <= 40
      && key.unicodeScalars.allSatisfy {
        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0))
      }
  }

  /// A value quoted back in a message (`'sometimes'`), or only its length when it is long or
  /// spans lines: a file named by mistake is not echoed back, secrets included.
  static func quoted(_ text: String) -> String {
    if text.count <= 40, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
      return "'\(text)'"
    }
    return "a text of \(text.count) characters"
  }
}
