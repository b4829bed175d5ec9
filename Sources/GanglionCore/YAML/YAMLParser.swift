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
  /// Children are appended in place to the open frame, so building is linear in the
  /// number of nodes.
  private struct Builder {
    struct Frame {
      var isMapping: Bool
      var location: SourceLocation
      var anchor: String?
      /// A sequence's items; a mapping's keys and values, alternating.
      var children: [YAMLNode] = []
      /// Nodes under this frame, aliases expanded.
      var size = 0
    }

    let file: String
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, size: Int)] = [:]
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
        try add(YAMLNode(.scalar(text, style), at: at, tag: tag), size: 1, newNodes: 1, anchor: string(scalar.anchor))
      case YAML_ALIAS_EVENT:
        let name = string(event.data.alias.anchor) ?? ""
        guard let anchored = anchors[name] else {
          throw DiagnosticsError([.error("alias '*\(name)' names no anchor before it", at: at)])
        }
        var node = anchored.node
        node.location = at
        try add(node, size: anchored.size, newNodes: anchored.size, anchor: nil)
      case YAML_SEQUENCE_START_EVENT:
        try push(Frame(isMapping: false, location: at, anchor: string(event.data.sequence_start.anchor)))
      case YAML_MAPPING_START_EVENT:
        try push(Frame(isMapping: true, location: at, anchor: string(event.data.mapping_start.anchor)))
      case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
        let frame = stack.removeLast()
        let content: YAMLNode.Content
        if frame.isMapping {
          var pairs: [YAMLNode.Pair] = []
          pairs.reserveCapacity(frame.children.count / 2)
          var index = 0
          while index + 1 < frame.children.count {
            pairs.append(YAMLNode.Pair(key: frame.children[index], value: frame.children[index + 1]))
            index += 2
          }
          content = .mapping(pairs)
        } else {
          content = .sequence(frame.children)
        }
        // The children were counted as they came; only the container itself is new.
        try add(
          YAMLNode(content, at: frame.location, tag: nil), size: frame.size + 1, newNodes: 1, anchor: frame.anchor)
      default:
        break
      }
      return false
    }

    mutating func push(_ frame: Frame) throws(DiagnosticsError) {
      guard stack.count < YAMLParser.maximumDepth else {
        throw DiagnosticsError([.error("nesting deeper than \(YAMLParser.maximumDepth) levels", at: frame.location)])
      }
      stack.append(frame)
    }

    /// Adds a finished node to the open frame (or makes it the root).
    /// - Parameters:
    ///   - size: nodes in its subtree, aliases expanded.
    ///   - newNodes: nodes not counted yet (the whole subtree for an alias).
    mutating func add(_ node: YAMLNode, size: Int, newNodes: Int, anchor: String?) throws(DiagnosticsError) {
      nodeCount += newNodes
      guard nodeCount <= YAMLParser.maximumNodes else {
        throw DiagnosticsError([
          .error("more than \(YAMLParser.maximumNodes) nodes (after expanding aliases)", at: node.location)
        ])
      }
      if let anchor { anchors[anchor] = (node, size) }
      guard !stack.isEmpty else {
        root = node
        return
      }
      stack[stack.count - 1].children.append(node)
      stack[stack.count - 1].size += size
    }
  }
}
