import GanglionCore

/// Turns rule files into a `RuleSet`, checking everything against the declared signals.
public enum RuleCompiler {
  /// A file with more problems than this is reported up to the first rule past the limit,
  /// so that a wrong file (a list of 100,000 items) does not flood the terminal.
  public static let maximumErrorsPerFile = 100
  static let ruleKeys = ["name", "description", "when", "for", "on", "every", "at", "if", "do", "enabled"]
  static let triggerKeys = ["when", "on", "every", "at"]

  /// Parses and type-checks all files together against the declared signals.
  ///
  /// Returns every error at once, each at `file:line:column` of the offending token, sorted
  /// by location. The rules are usable only if there are no errors: `rules` is nil then.
  /// Pure: no I/O, safe from any thread.
  /// - Parameter ownCommands: the daemon's own command topics, when commands are on: a
  ///   publish to one of them is warned about (it comes back as a command).
  public static func compile(
    _ sources: [RuleSource], signals: SignalCatalog, ownCommands: OwnCommandTopics? = nil
  ) -> (rules: RuleSet?, diagnostics: [Diagnostic]) {
    var compiler = RuleSetCompiler(catalog: signals)
    compiler.ownCommands = ownCommands
    for source in sources {
      let root: YAMLNode?
      do {
        root = try YAMLParser.parse(source.text, file: source.file)
      } catch {
        compiler.reader.diagnostics.append(contentsOf: error.diagnostics)
        continue
      }
      guard let root else {
        // Not an error (a placeholder file is harmless), but most likely not what was meant.
        compiler.reader.diagnostics.append(
          Diagnostic(
            .warning, at: SourceLocation(file: source.file, line: 1, column: 1),
            "the rule file is empty; expected 'rules:', a list of rules"))
        continue
      }
      compiler.lines = TextOrigin.splitLines(source.text)
      compiler.compileFile(root)
    }
    let diagnostics = DiagnosticsError(compiler.reader.diagnostics.diagnostics).diagnostics
    if diagnostics.contains(where: { $0.severity == .error }) { return (nil, diagnostics) }
    return (RuleSet(rules: compiler.rules, catalog: signals), diagnostics)
  }
}

/// Compiles the rules of all files, one rule at a time, into `rules`; every problem goes to
/// `reader`'s diagnostics. Mappings are read with `YAMLFieldReader`, as in the config, so
/// unknown keys, duplicate keys and merge keys (`<<: *defaults`) read the same.
///
/// The actions' compile steps (`ActionDefinition.compile`) get this compiler to check
/// expressions and templates and to record what the rule's actions need (`actions`).
struct RuleSetCompiler {
  let catalog: SignalCatalog
  var slots: [String: Int] = [:]
  var reader = YAMLFieldReader()
  var rules: [Rule] = []
  var firstDefinition: [String: SourceLocation] = [:]
  /// The current file's lines, for locations inside multi-line expressions.
  var lines: [[Unicode.Scalar]] = []
  /// What the current rule's actions recorded while they compiled.
  var actions = RuleActions(bindingType: nil)
  /// The daemon's own command topics, for the warning about publishing to them.
  var ownCommands: OwnCommandTopics?

  init(catalog: SignalCatalog) {
    self.catalog = catalog
    for (i, name) in catalog.names.enumerated() { slots[name] = i }
  }

  var errorCount: Int { reader.diagnostics.diagnostics.count }

  mutating func error(_ message: String, at location: SourceLocation) {
    reader.error(message, at: location)
  }

  mutating func compileFile(_ root: YAMLNode) {
    guard root.mapping != nil else {
      error("a rule file is a mapping with 'rules:', a list of rules; found \(root.kindDescription)", at: root.location)
      return
    }
    guard let fields = reader.mapping(root, "a rule file", allowed: ["rules"]), let node = fields["rules"] else {
      return
    }
    if node.isNull { return }
    guard let items = node.sequence else {
      error("'rules' is a list of rules (each starting with '- name:')", at: node.location)
      return
    }
    let errorsBefore = errorCount
    for item in items {
      if errorCount - errorsBefore >= RuleCompiler.maximumErrorsPerFile {
        error(
          "more than \(RuleCompiler.maximumErrorsPerFile) errors in this file; the rules from here on were not checked",
          at: item.location)
        break
      }
      compileRule(item)
    }
  }

  mutating func compileRule(_ node: YAMLNode) {
    guard node.mapping != nil else {
      error("a rule is a mapping with 'name', a trigger and 'do'; found \(node.kindDescription)", at: node.location)
      return
    }
    guard let fields = reader.mapping(node, "a rule", allowed: RuleCompiler.ruleKeys) else { return }
    let triggers = fields.ordered.filter { RuleCompiler.triggerKeys.contains($0.key.scalar ?? "") }

    var failed = false
    // Name.
    var name = "?"
    if let pair = fields.pairs["name"] {
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
        if let forNode = fields["for"] {
          hold = duration(forNode, what: "'for'")
          if hold == nil { failed = true }
        }
        if let expr {
          trigger = .when(expr, hold: hold, dependencies: compiler.dependencies)
          readSlots.formUnion(compiler.dependencies.reads)
          whenText = pair.value.scalar
          triggerText = "when: " + (pair.value.scalar ?? "")
          if let text = fields["for"]?.scalar { triggerText += ", for: " + text }
          if compiler.dependencies.reads.isEmpty, !compiler.dependencies.dependsOnTime {
            reader.diagnostics.append(
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
            if !catalog.unusable.contains(signal) {
              error(
                "unknown signal '\(signal)'" + Spelling.suggestion(for: signal, in: catalog.names), at: item.location)
            }
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
    if let forKey = fields.keyLocation("for"), triggers.count == 1, triggers[0].key.scalar != "when" {
      error("'for' goes with 'when' only", at: forKey)
      failed = true
    }

    // Conditions.
    var conditions: [CompiledExpr] = []
    var otherWindows: Set<WindowUse> = []
    if let node = fields["if"] {
      for item in node.sequence ?? [node] {
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
    actions = RuleActions(bindingType: bindingType)
    var compiledActions: [any RuleAction] = []
    if let node = fields["do"] {
      if let list = actionList(node) { compiledActions = list } else { failed = true }
      otherWindows.formUnion(actions.windows)
    } else {
      error("rule '\(name)' needs 'do', a list of actions", at: node.location)
      failed = true
    }

    var enabled = true
    if let value = fields["enabled"] {
      if let flag = value.jsonValue.boolValue, value.scalarStyle == .plain {
        enabled = flag
      } else {
        error("'enabled' is true or false", at: value.location)
        failed = true
      }
    }

    guard !failed, let trigger, let afters = actions.completedAfters else { return }
    let hash = TextHash.of(node)
    let summary = RuleSummary(
      name: name, location: node.location, enabled: enabled, trigger: triggerText, conditions: conditionTexts,
      reads: readSlots.map { catalog.names[$0] }.sorted(), sets: actions.signalsSet.sorted(), textHash: hash)
    rules.append(
      Rule(
        name: name, location: node.location, trigger: trigger, conditions: conditions, actions: compiledActions,
        enabled: enabled, textHash: hash, afters: afters, windowsOutsideTrigger: otherWindows, summary: summary,
        whenText: whenText, bindingType: bindingType))
  }

  // MARK: - Parts that rules and actions share

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
    reader.diagnostics.append(contentsOf: compiler.diagnostics)
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
