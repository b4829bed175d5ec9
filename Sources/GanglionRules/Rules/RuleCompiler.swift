import GanglionCore

/// Turns rule files into a `RuleSet`, checking everything against the declared signals.
public enum RuleCompiler {
  /// A file with more problems than this is reported up to the first rule past the limit,
  /// so that a wrong file (a list of 100,000 items) does not flood the terminal.
  public static let maximumErrorsPerFile = 100
  static let ruleKeys = ["name", "description", "when", "for", "on", "every", "at", "if", "do", "enabled"]
  static let triggerKeys = ["when", "on", "every", "at"]
  static let actionKeys = ["set", "publish", "log", "after"]
  static let publishKeys = ["topic", "payload", "qos", "retain"]

  /// Parses and type-checks all files together against the declared signals.
  ///
  /// Returns every error at once, each at `file:line:column` of the offending token, sorted
  /// by location. The rules are usable only if there are no errors: `rules` is nil then.
  /// Pure: no I/O, safe from any thread.
  public static func compile(_ sources: [RuleSource], signals: SignalCatalog) -> (
    rules: RuleSet?, diagnostics: [Diagnostic]
  ) {
    var context = CompileContext(catalog: signals)
    for source in sources {
      let root: YAMLNode?
      do {
        root = try YAMLParser.parse(source.text, file: source.file)
      } catch {
        context.diagnostics.append(contentsOf: error.diagnostics)
        continue
      }
      guard let root else {
        // Not an error (a placeholder file is harmless), but most likely not what was meant.
        context.diagnostics.append(
          Diagnostic(
            .warning, at: SourceLocation(file: source.file, line: 1, column: 1),
            "the rule file is empty; expected 'rules:', a list of rules"))
        continue
      }
      context.lines = TextOrigin.splitLines(source.text)
      context.compileFile(root)
    }
    let diagnostics = DiagnosticsError(context.diagnostics).diagnostics
    if diagnostics.contains(where: { $0.severity == .error }) { return (nil, diagnostics) }
    return (RuleSet(rules: context.rules, catalog: signals), diagnostics)
  }
}

private struct CompileContext {
  let catalog: SignalCatalog
  var slots: [String: Int] = [:]
  var diagnostics: [Diagnostic] = []
  var rules: [Rule] = []
  var firstDefinition: [String: SourceLocation] = [:]
  /// The current file's lines, for locations inside multi-line expressions.
  var lines: [[Unicode.Scalar]] = []

  init(catalog: SignalCatalog) {
    self.catalog = catalog
    for (i, name) in catalog.names.enumerated() { slots[name] = i }
  }

  mutating func error(_ message: String, at location: SourceLocation) {
    diagnostics.append(.error(message, at: location))
  }

  mutating func unknownKey(_ key: YAMLNode, allowed: [String], in what: String) {
    let name = key.scalar ?? "?"
    error("unknown key '\(name)' in \(what)" + Spelling.suggestion(for: name, in: allowed), at: key.location)
  }

  mutating func compileFile(_ root: YAMLNode) {
    guard let pairs = root.mapping else {
      error("a rule file is a mapping with 'rules:', a list of rules; found \(root.kindDescription)", at: root.location)
      return
    }
    for pair in pairs {
      guard pair.key.scalar == "rules" else {
        unknownKey(pair.key, allowed: ["rules"], in: "a rule file")
        continue
      }
      if pair.value.isNull { continue }
      guard let items = pair.value.sequence else {
        error("'rules' is a list of rules (each starting with '- name:')", at: pair.value.location)
        continue
      }
      let errorsBefore = diagnostics.count
      for item in items {
        if diagnostics.count - errorsBefore >= RuleCompiler.maximumErrorsPerFile {
          error(
            "more than \(RuleCompiler.maximumErrorsPerFile) errors in this file; the rules from here on were not checked",
            at: item.location)
          break
        }
        compileRule(item)
      }
    }
  }

  mutating func compileRule(_ node: YAMLNode) {
    guard let pairs = node.mapping else {
      error("a rule is a mapping with 'name', a trigger and 'do'; found \(node.kindDescription)", at: node.location)
      return
    }
    var fields: [String: YAMLNode.Pair] = [:]
    var triggers: [YAMLNode.Pair] = []
    for pair in pairs {
      guard let key = pair.key.scalar, RuleCompiler.ruleKeys.contains(key) else {
        unknownKey(pair.key, allowed: RuleCompiler.ruleKeys, in: "a rule")
        continue
      }
      if fields[key] != nil {
        error("'\(key)' is given twice", at: pair.key.location)
        continue
      }
      fields[key] = pair
      if RuleCompiler.triggerKeys.contains(key) { triggers.append(pair) }
    }

    var failed = false
    // Name.
    var name = "?"
    if let pair = fields["name"] {
      if let text = pair.value.scalar, SignalName.isValidIdentifier(text) {
        name = text
        if let first = firstDefinition[text] {
          error("duplicate rule name '\(text)' (first defined at \(first))", at: pair.value.location)
          failed = true
        } else {
          firstDefinition[text] = pair.value.location
        }
      } else {
        error("a rule name is made of a-z, 0-9, '_' and '-'", at: pair.value.location)
        failed = true
      }
    } else {
      error("a rule needs a 'name'", at: node.location)
      failed = true
    }

    // Trigger: exactly one.
    if triggers.isEmpty {
      error("rule '\(name)' needs exactly one trigger: 'when', 'on', 'every' or 'at'", at: node.location)
      failed = true
    } else if triggers.count > 1 {
      let names = triggers.map { "'\($0.key.scalar ?? "")'" }.joined(separator: " and ")
      error("rule '\(name)' has \(names); a rule has exactly one trigger", at: triggers[1].key.location)
      failed = true
    }

    var bindingType: ExprType?
    var trigger: Trigger?
    var triggerText = ""
    var whenText: String?
    var conditionTexts: [String] = []
    var readSlots: Set<Int> = []
    if triggers.count == 1 {
      let pair = triggers[0]
      switch pair.key.scalar {
      case "when":
        var compiler = expressionCompiler(bindingType: nil)
        let expr = compileExpression(pair.value, with: &compiler, expecting: .bool, role: "'when'")
        var hold: Int64?
        if let forPair = fields["for"] {
          hold = duration(forPair.value, what: "'for'")
          if hold == nil { failed = true }
        }
        if let expr {
          trigger = .when(expr, hold: hold, dependencies: compiler.dependencies)
          readSlots.formUnion(compiler.dependencies.reads)
          whenText = pair.value.scalar
          triggerText = "when: " + (pair.value.scalar ?? "")
          if let text = fields["for"]?.value.scalar { triggerText += ", for: " + text }
          if compiler.dependencies.reads.isEmpty, !compiler.dependencies.dependsOnTime {
            diagnostics.append(
              Diagnostic(
                .warning, at: pair.value.textLocation,
                "'when' reads no signal and no time, so it never changes and rule '\(name)' never fires"))
          }
        }
      case "on":
        var slotsRead: [Int] = []
        var types: Set<ExprType> = []
        let nodes = pair.value.sequence ?? [pair.value]
        for item in nodes {
          guard let signal = item.scalar, !signal.isEmpty else {
            error("'on' takes a signal name or a list of them", at: item.location)
            continue
          }
          guard let info = catalog[signal], let slot = slots[signal] else {
            error(
              "unknown signal '\(signal)'" + Spelling.suggestion(for: signal, in: catalog.names), at: item.location)
            continue
          }
          slotsRead.append(slot)
          types.insert(ExprType(info.type))
        }
        if nodes.isEmpty { error("'on' needs at least one signal", at: pair.value.location) }
        bindingType = types.count == 1 ? types.first! : .json
        if slotsRead.count == nodes.count, !nodes.isEmpty {
          trigger = .on(slotsRead)
          readSlots.formUnion(slotsRead)
          triggerText = "on: " + nodes.compactMap(\.scalar).joined(separator: ", ")
        }
      case "every":
        if let interval = duration(pair.value, what: "'every'") {
          trigger = .every(interval)
          triggerText = "every: " + (pair.value.scalar ?? "")
        }
      default:  // at
        var times: [Int] = []
        for item in pair.value.sequence ?? [pair.value] {
          if let seconds = timeOfDay(item) { times.append(seconds) }
        }
        if times.count == (pair.value.sequence ?? [pair.value]).count, !times.isEmpty {
          trigger = .at(times)
          triggerText = "at: " + times.map { Runtime.formatTimeOfDay($0) }.joined(separator: ", ")
        } else if pair.value.sequence?.isEmpty == true {
          error("'at' needs at least one time of day", at: pair.value.location)
        }
      }
      if trigger == nil { failed = true }
    }
    if let forPair = fields["for"], triggers.count == 1, triggers[0].key.scalar != "when" {
      error("'for' goes with 'when' only", at: forPair.key.location)
      failed = true
    }

    // Conditions.
    var conditions: [CompiledExpr] = []
    var otherWindows: Set<WindowUse> = []
    if let pair = fields["if"] {
      let nodes = pair.value.sequence ?? [pair.value]
      for item in nodes {
        var compiler = expressionCompiler(bindingType: bindingType)
        if let expr = compileExpression(item, with: &compiler, expecting: .bool, role: "'if'") {
          conditions.append(expr)
          conditionTexts.append(item.scalar ?? "")
          readSlots.formUnion(compiler.dependencies.reads)
          otherWindows.formUnion(compiler.dependencies.windows)
        } else {
          failed = true
        }
      }
    }

    // Actions.
    var actions: [Action] = []
    var afterDelays: [Int64] = []
    if let pair = fields["do"] {
      var builder = ActionBuilder(bindingType: bindingType)
      if let list = actionList(pair.value, builder: &builder) {
        actions = list
      } else {
        failed = true
      }
      afterDelays = builder.afterDelays
      otherWindows.formUnion(builder.windows)
    } else {
      error("rule '\(name)' needs 'do', a list of actions", at: node.location)
      failed = true
    }

    var enabled = true
    if let pair = fields["enabled"] {
      if let value = pair.value.jsonValue.boolValue, pair.value.scalarStyle == .plain {
        enabled = value
      } else {
        error("'enabled' is true or false", at: pair.value.location)
        failed = true
      }
    }

    guard !failed, let trigger else { return }
    let hash = TextHash.of(node)
    let summary = RuleSummary(
      name: name, location: node.location, enabled: enabled, trigger: triggerText, conditions: conditionTexts,
      reads: readSlots.map { catalog.names[$0] }.sorted(), sets: Self.signalsSet(by: actions).sorted(), textHash: hash)
    rules.append(
      Rule(
        name: name, location: node.location, trigger: trigger, conditions: conditions, actions: actions,
        enabled: enabled, textHash: hash, afterDelays: afterDelays, windowsOutsideTrigger: otherWindows,
        summary: summary, whenText: whenText))
  }

  static func signalsSet(by actions: [Action]) -> Set<String> {
    var out: Set<String> = []
    for action in actions {
      switch action {
      case .set(let assignments): out.formUnion(assignments.map(\.signal))
      case .after(_, _, let nested): out.formUnion(signalsSet(by: nested))
      case .publish, .log: break
      }
    }
    return out
  }

  func expressionCompiler(bindingType: ExprType?) -> ExpressionCompiler {
    ExpressionCompiler(scope: Scope(catalog: catalog, slots: slots, bindingType: bindingType))
  }

  /// Compiles a scalar node as an expression; reports a non-scalar.
  mutating func compileExpression(
    _ node: YAMLNode, with compiler: inout ExpressionCompiler, expecting: ExprType?, role: String
  ) -> CompiledExpr? {
    guard let text = node.scalar, !node.isNull else {
      error("\(role) is an expression, found \(node.isNull ? "nothing" : node.kindDescription)", at: node.location)
      return nil
    }
    let result = compiler.compile(text, origin: TextOrigin(node: node, lines: lines), expecting: expecting, role: role)
    diagnostics.append(contentsOf: compiler.diagnostics)
    compiler.diagnostics = []
    return result
  }

  mutating func duration(_ node: YAMLNode, what: String) -> Int64? {
    guard let text = node.scalar, let d = Duration.parse(text), d.microseconds > 0 else {
      error("\(what) is a duration like 250ms, 30s, 5m, 1h30m", at: node.location)
      return nil
    }
    return d.microseconds
  }

  mutating func timeOfDay(_ node: YAMLNode) -> Int? {
    if let text = node.scalar, let tokens = try? Lexer(text).tokenize(), tokens.count == 2,
      case .timeOfDay(let seconds) = tokens[0].kind
    {
      return seconds
    }
    error("'at' takes times of day like \"07:30\" (quoted), or a list of them", at: node.location)
    return nil
  }

  // MARK: - Actions

  struct ActionBuilder {
    var bindingType: ExprType?
    var afterDelays: [Int64] = []
    var windows: Set<WindowUse> = []
  }

  mutating func actionList(_ node: YAMLNode, builder: inout ActionBuilder) -> [Action]? {
    guard let items = node.sequence else {
      error(
        "'do' is a list of actions (each starting with '- set:', '- publish:', '- log:' or '- after:')",
        at: node.location)
      return nil
    }
    var actions: [Action] = []
    var failed = false
    for item in items {
      if let action = self.action(item, builder: &builder) { actions.append(action) } else { failed = true }
    }
    return failed ? nil : actions
  }

  mutating func action(_ node: YAMLNode, builder: inout ActionBuilder) -> Action? {
    guard let pairs = node.mapping, !pairs.isEmpty else {
      error("an action is a mapping: set, publish, log or after", at: node.location)
      return nil
    }
    var kind: YAMLNode.Pair?
    var nested: YAMLNode.Pair?
    var failed = false
    for pair in pairs {
      let key = pair.key.scalar ?? ""
      if RuleCompiler.actionKeys.contains(key) {
        if let kind {
          error(
            "one action per list item: '\(kind.key.scalar ?? "")' and '\(key)'; start another with '-'",
            at: pair.key.location)
          failed = true
        } else {
          kind = pair
        }
      } else if key == "do" {
        nested = pair
      } else {
        unknownKey(pair.key, allowed: RuleCompiler.actionKeys + ["do"], in: "an action")
        failed = true
      }
    }
    guard let kind else {
      if !failed { error("an action is one of set, publish, log or after", at: node.location) }
      return nil
    }
    if let nested, kind.key.scalar != "after" {
      error("'do' inside an action goes with 'after'", at: nested.key.location)
      failed = true
    }
    let result: Action?
    switch kind.key.scalar {
    case "set": result = setAction(kind.value, builder: &builder)
    case "publish": result = publishAction(kind.value, builder: &builder)
    case "log":
      if kind.value.scalar != nil, let t = template(kind.value, builder: &builder) {
        result = .log(t)
      } else {
        if kind.value.scalar == nil { error("'log' takes a text (a template)", at: kind.value.location) }
        result = nil
      }
    default:  // after
      let delay = duration(kind.value, what: "'after'")
      guard let nested else {
        error("'after' needs 'do', the actions to run later, in the same item", at: kind.key.location)
        return nil
      }
      let id = builder.afterDelays.count
      builder.afterDelays.append(delay ?? 0)
      let inner = actionList(nested.value, builder: &builder)
      if let delay, let inner { result = .after(delay: delay, id: id, actions: inner) } else { result = nil }
    }
    return failed ? nil : result
  }

  mutating func template(_ node: YAMLNode, builder: inout ActionBuilder) -> Template? {
    guard let text = node.scalar else { return nil }
    var compiler = expressionCompiler(bindingType: builder.bindingType)
    let result = compiler.compileTemplate(text, origin: TextOrigin(node: node, lines: lines))
    diagnostics.append(contentsOf: compiler.diagnostics)
    builder.windows.formUnion(compiler.dependencies.windows)
    return result
  }

  mutating func setAction(_ node: YAMLNode, builder: inout ActionBuilder) -> Action? {
    guard let pairs = node.mapping, !pairs.isEmpty else {
      error("'set' takes a mapping of signals to values, like { hallway.light: on }", at: node.location)
      return nil
    }
    var assignments: [Assignment] = []
    var failed = false
    for pair in pairs {
      let signal = pair.key.scalar ?? ""
      guard let info = catalog[signal], let slot = slots[signal] else {
        error("unknown signal '\(signal)'" + Spelling.suggestion(for: signal, in: catalog.names), at: pair.key.location)
        failed = true
        continue
      }
      guard info.isSettable else {
        error(
          "cannot set '\(signal)': it is an input (only outputs and virtual signals can be set)", at: pair.key.location)
        failed = true
        continue
      }
      let value = pair.value
      var source: Assignment.Source?
      if value.scalar == nil {
        if info.type == .json {
          source = jsonTemplate(value, builder: &builder).map { .json($0) }
        } else {
          error("'\(signal)' is \(ExprType(info.type).described); a value here is an expression", at: value.location)
        }
      } else if value.scalarStyle != .plain, info.type == .string || info.type == .json {
        source = template(value, builder: &builder).map { .template($0) }
      } else if value.isNull {
        error("'\(signal)' needs a value", at: value.location)
      } else {
        var compiler = expressionCompiler(bindingType: builder.bindingType)
        let expected = ExprType(info.type)
        let expr = compiler.compile(
          value.scalar!, origin: TextOrigin(node: value, lines: lines), expecting: expected == .json ? nil : expected,
          role: "the value of '\(signal)'")
        if info.type == .string, expr == nil, value.scalarStyle == .plain,
          compiler.diagnostics.first?.message.hasPrefix("unknown signal") == true
        {
          compiler.diagnostics[0].message += "; to set the text, quote it: \"\(value.scalar!)\""
        }
        diagnostics.append(contentsOf: compiler.diagnostics)
        builder.windows.formUnion(compiler.dependencies.windows)
        source = expr.map { .expression($0) }
      }
      guard let source else {
        failed = true
        continue
      }
      assignments.append(Assignment(slot: slot, signal: signal, type: info.type, source: source))
    }
    return failed ? nil : .set(assignments)
  }

  mutating func jsonTemplate(_ node: YAMLNode, builder: inout ActionBuilder) -> JSONTemplate? {
    switch node.content {
    case .scalar(let text, let style):
      if style == .plain, !text.contains("${") { return .constant(node.jsonValue) }
      return template(node, builder: &builder).map { .template($0) }
    case .sequence(let items):
      var out: [JSONTemplate] = []
      for item in items {
        guard let t = jsonTemplate(item, builder: &builder) else { return nil }
        out.append(t)
      }
      return .array(out)
    case .mapping(let pairs):
      var out: [(String, JSONTemplate)] = []
      var failed = false
      for pair in pairs {
        guard let key = pair.key.scalar else {
          error("a payload key is a text", at: pair.key.location)
          failed = true
          continue
        }
        if let t = jsonTemplate(pair.value, builder: &builder) { out.append((key, t)) } else { failed = true }
      }
      return failed ? nil : .object(out)
    }
  }

  mutating func publishAction(_ node: YAMLNode, builder: inout ActionBuilder) -> Action? {
    guard let pairs = node.mapping else {
      error("'publish' takes { topic, payload, qos, retain }", at: node.location)
      return nil
    }
    var topic: Template?
    var payload: PublishAction.Payload = .text(Template(parts: []))
    var qos = 0
    var retain = false
    var failed = false
    var sawTopic = false
    for pair in pairs {
      switch pair.key.scalar {
      case "topic":
        sawTopic = true
        if pair.value.scalar == nil || pair.value.isNull {
          error("'topic' is a text", at: pair.value.location)
          failed = true
        } else if let text = pair.value.scalar, !text.contains("${"),
          text.isEmpty || text.contains("+") || text.contains("#")
        {
          error("a publish topic is not empty and has no wildcards (+ #)", at: pair.value.location)
          failed = true
        } else if let t = template(pair.value, builder: &builder) {
          topic = t
        } else {
          failed = true
        }
      case "payload":
        if pair.value.scalar != nil {
          // A scalar payload is sent as written (`on` stays "on"), with templates filled in.
          if let t = template(pair.value, builder: &builder) { payload = .text(t) } else { failed = true }
        } else if let t = jsonTemplate(pair.value, builder: &builder) {
          payload = .json(t)
        } else {
          failed = true
        }
      case "qos":
        if let n = pair.value.jsonValue.numberValue, [0, 1, 2].contains(n) {
          qos = Int(n)
        } else {
          error("'qos' is 0, 1 or 2", at: pair.value.location)
          failed = true
        }
      case "retain":
        if let b = pair.value.jsonValue.boolValue {
          retain = b
        } else {
          error("'retain' is true or false", at: pair.value.location)
          failed = true
        }
      default:
        unknownKey(pair.key, allowed: RuleCompiler.publishKeys, in: "'publish'")
        failed = true
      }
    }
    if !sawTopic {
      error("'publish' needs a 'topic'", at: node.location)
      failed = true
    }
    guard !failed, let topic else { return nil }
    return .publish(PublishAction(topic: topic, payload: payload, qos: qos, retain: retain))
  }
}

/// FNV-1a over a rule's YAML content (not its layout or comments).
enum TextHash {
  static func of(_ node: YAMLNode) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func feed(_ text: String) {
      for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
      }
    }
    func walk(_ node: YAMLNode) {
      switch node.content {
      case .scalar(let text, let style):
        feed(style == .plain ? "p" : "q")
        feed(String(text.utf8.count))
        feed(":")
        feed(text)
      case .sequence(let items):
        feed("[")
        items.forEach(walk)
        feed("]")
      case .mapping(let pairs):
        feed("{")
        for pair in pairs {
          walk(pair.key)
          walk(pair.value)
        }
        feed("}")
      }
    }
    walk(node)
    return hash
  }
}
