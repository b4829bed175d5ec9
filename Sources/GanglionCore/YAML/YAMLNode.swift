/// A YAML node with its source location. Ganglion's config, rules and rule tests are read
/// into these trees first, so every later error can point at `file:line:column`.
public struct YAMLNode: Sendable, Hashable {
  public enum ScalarStyle: Sendable, Hashable {
    /// Unquoted: `on`, `42`, `hallway.motion < 40`.
    case plain
    case singleQuoted, doubleQuoted
    /// `|` and `>` block scalars.
    case literal, folded
  }

  public enum Content: Sendable, Hashable {
    case scalar(String, ScalarStyle)
    case mapping([Pair])
    case sequence([YAMLNode])
  }

  public struct Pair: Sendable, Hashable {
    public var key: YAMLNode
    public var value: YAMLNode
    public init(key: YAMLNode, value: YAMLNode) {
      self.key = key
      self.value = value
    }
  }

  public var content: Content
  /// Where the node starts (for a quoted scalar: its opening quote).
  public var location: SourceLocation
  /// An explicit tag (`!!str`), if the file gave one.
  public var tag: String?

  public init(_ content: Content, at location: SourceLocation, tag: String? = nil) {
    self.content = content
    self.location = location
    self.tag = tag
  }

  /// The scalar's text, nil for mappings and sequences.
  public var scalar: String? {
    if case .scalar(let text, _) = content { text } else { nil }
  }

  public var scalarStyle: ScalarStyle? {
    if case .scalar(_, let style) = content { style } else { nil }
  }

  public var mapping: [Pair]? {
    if case .mapping(let pairs) = content { pairs } else { nil }
  }

  public var sequence: [YAMLNode]? {
    if case .sequence(let items) = content { items } else { nil }
  }

  /// A plain `~`, `null`, `Null`, `NULL` or empty scalar (YAML 1.2 core schema null).
  public var isNull: Bool {
    guard case .scalar(let text, .plain) = content, tag == nil else { return false }
    return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
  }

  /// The location of the first character of the scalar's text: one column after the
  /// opening quote of a quoted scalar; the node's location otherwise.
  public var textLocation: SourceLocation {
    switch scalarStyle {
    case .singleQuoted?, .doubleQuoted?: location.advanced(byColumns: 1)
    default: location
    }
  }

  /// What kind of node this is, for error messages: "a mapping", "a list", "a scalar".
  public var kindDescription: String {
    switch content {
    case .scalar: "a scalar"
    case .mapping: "a mapping"
    case .sequence: "a list"
    }
  }

  /// The scalar as the value a YAML 1.2 core schema reader would see: bools (`true`,
  /// `false`, and Ganglion's `on`/`off`), numbers, null, strings; mappings and sequences
  /// become JSON objects and arrays. Quoted scalars are always strings.
  public var jsonValue: Value {
    switch content {
    case .scalar(let text, let style):
      guard style == .plain, tag == nil else { return .string(text) }
      if isNull { return .null }
      switch text {
      case "true", "True", "TRUE", "on", "On", "ON": return .bool(true)
      case "false", "False", "FALSE", "off", "Off", "OFF": return .bool(false)
      default: break
      }
      if let number = SignalType.parseNumber(text), text.first != "+" { return .number(number) }
      return .string(text)
    case .sequence(let items):
      return .array(items.map(\.jsonValue))
    case .mapping(let pairs):
      var members: [String: Value] = [:]
      for pair in pairs { members[pair.key.scalar ?? JSON.encode(pair.key.jsonValue)] = pair.value.jsonValue }
      return .object(members)
    }
  }
}
