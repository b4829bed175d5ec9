import CYAML

/// Parses YAML text with libyaml into `YAMLNode` trees. The only file that calls `yaml_*`.
///
/// Hostile input is bounded: at most `maximumBytes` of text, `maximumDepth` levels of
/// nesting, and `maximumNodes` nodes after aliases are expanded (no billion laughs).
/// Pure and thread-safe: each call has its own libyaml parser.
public enum YAMLParser {
  public static let maximumBytes = 1 << 20
  public static let maximumDepth = 64
  public static let maximumNodes = 100_000

  /// Parses a single-document YAML text.
  /// - Parameter file: the name used in locations and errors.
  /// - Returns: the document's root node, or nil for an empty document (only comments or
  ///   whitespace).
  /// - Throws: `DiagnosticsError` with the syntax error at its line and column, or a limit
  ///   that was exceeded.
  public static func parse(_ text: String, file: String) throws(DiagnosticsError) -> YAMLNode? {
    let byteCount = text.utf8.count
    guard byteCount <= maximumBytes else {
      throw DiagnosticsError([
        .error(
          "file is \(byteCount) bytes; Ganglion reads YAML files of at most \(maximumBytes / 1024) KiB",
          at: SourceLocation(file: file, line: 1, column: 1))
      ])
    }
    var builder = Builder(file: file)
    var bytes = Array(text.utf8)
    let outcome: Result<YAMLNode?, DiagnosticsError> = bytes.withUnsafeMutableBufferPointer { buffer in
      var parser = yaml_parser_t()
      guard yaml_parser_initialize(&parser) == 1 else {
        return .failure(DiagnosticsError([.error("libyaml could not allocate a parser", at: nil)]))
      }
      defer { yaml_parser_delete(&parser) }
      yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
      yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
      while true {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else {
          return .failure(DiagnosticsError([syntaxError(parser, file: file)]))
        }
        defer { yaml_event_delete(&event) }
        do throws(DiagnosticsError) {
          if try builder.consume(event) { return .success(builder.root) }
        } catch {
          return .failure(error)
        }
      }
    }
    return try outcome.get()
  }

  private static func syntaxError(_ parser: yaml_parser_t, file: String) -> Diagnostic {
    let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
    let context = parser.context.map { String(cString: $0) }
    let mark = parser.problem_mark
    let location = SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    let message = context.map { "\(problem) \($0)" } ?? problem
    return .error("YAML syntax: \(message)", at: location)
  }

  /// Assembles nodes from libyaml's event stream with an explicit stack (no recursion).
  private struct Builder {
    enum Frame {
      case mapping(
        location: SourceLocation, tag: String?, anchor: String?, pairs: [YAMLNode.Pair], pendingKey: YAMLNode?)
      case sequence(location: SourceLocation, tag: String?, anchor: String?, items: [YAMLNode])
    }

    let file: String
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    var sizes: [Int] = []  // nodes under each open frame
    var nodeCount = 0
    var documents = 0
    var root: YAMLNode?

    init(file: String) { self.file = file }

    func location(_ mark: yaml_mark_t) -> SourceLocation {
      SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
      pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    /// Returns true at the end of the stream.
    mutating func consume(_ event: yaml_event_t) throws(DiagnosticsError) -> Bool {
      let at = location(event.start_mark)
      switch event.type {
      case YAML_STREAM_END_EVENT:
        return true
      case YAML_DOCUMENT_START_EVENT:
        documents += 1
        if documents > 1 {
          throw DiagnosticsError([.error("a file holds one YAML document; found a second '---'", at: at)])
        }
      case YAML_SCALAR_EVENT:
        let scalar = event.data.scalar
        let text = String(
          decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)), as: UTF8.self)
        let style: YAMLNode.ScalarStyle
        switch scalar.style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: style = .literal
        case YAML_FOLDED_SCALAR_STYLE: style = .folded
        default: style = .plain
        }
        let tag = scalar.plain_implicit == 1 || scalar.quoted_implicit == 1 ? nil : string(scalar.tag)
        try add(YAMLNode(.scalar(text, style), at: at, tag: tag), size: 1, anchor: string(scalar.anchor))
      case YAML_ALIAS_EVENT:
        let name = string(event.data.alias.anchor) ?? ""
        guard let anchored = anchors[name] else {
          throw DiagnosticsError([.error("alias '*\(name)' names no anchor before it", at: at)])
        }
        var node = anchored.node
        node.location = at
        try add(node, size: anchored.size, anchor: nil)
      case YAML_SEQUENCE_START_EVENT:
        try push(
          .sequence(location: at, tag: nil, anchor: string(event.data.sequence_start.anchor), items: []), at: at)
      case YAML_MAPPING_START_EVENT:
        try push(
          .mapping(location: at, tag: nil, anchor: string(event.data.mapping_start.anchor), pairs: [], pendingKey: nil),
          at: at)
      case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
        let frame = stack.removeLast()
        let size = sizes.removeLast() + 1
        switch frame {
        case .sequence(let location, let tag, let anchor, let items):
          try add(YAMLNode(.sequence(items), at: location, tag: tag), size: size, anchor: anchor)
        case .mapping(let location, let tag, let anchor, let pairs, _):
          try add(YAMLNode(.mapping(pairs), at: location, tag: tag), size: size, anchor: anchor)
        }
      default:
        break
      }
      return false
    }

    mutating func push(_ frame: Frame, at: SourceLocation) throws(DiagnosticsError) {
      guard stack.count < YAMLParser.maximumDepth else {
        throw DiagnosticsError([.error("nesting deeper than \(YAMLParser.maximumDepth) levels", at: at)])
      }
      stack.append(frame)
      sizes.append(0)
    }

    mutating func add(_ node: YAMLNode, size: Int, anchor: String?) throws(DiagnosticsError) {
      nodeCount += size
      guard nodeCount <= YAMLParser.maximumNodes else {
        throw DiagnosticsError([
          .error("more than \(YAMLParser.maximumNodes) nodes (after expanding aliases)", at: node.location)
        ])
      }
      if let anchor { anchors[anchor] = (node, size) }
      guard let top = stack.popLast() else {
        root = node
        return
      }
      sizes[sizes.count - 1] += size
      switch top {
      case .sequence(let location, let tag, let anchor, var items):
        items.append(node)
        stack.append(.sequence(location: location, tag: tag, anchor: anchor, items: items))
      case .mapping(let location, let tag, let anchor, var pairs, let pendingKey):
        if let key = pendingKey {
          pairs.append(YAMLNode.Pair(key: key, value: node))
          stack.append(.mapping(location: location, tag: tag, anchor: anchor, pairs: pairs, pendingKey: nil))
        } else {
          stack.append(.mapping(location: location, tag: tag, anchor: anchor, pairs: pairs, pendingKey: node))
        }
      }
    }
  }
}
