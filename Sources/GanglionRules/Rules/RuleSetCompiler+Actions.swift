import GanglionCore

/// What a rule's actions record while they compile, for the rule and the engine.
struct RuleActions {
  /// The type of `value` and `previous` (an `on` rule's trigger signals); nil in other rules.
  let bindingType: ExprType?
  /// Windows the actions' expressions read: the engine keeps that much history.
  var windows: Set<WindowUse> = []
  /// Signals the actions set, nested actions included (the rule's summary).
  var signalsSet: Set<String> = []
  /// The rule's `after` actions by id, in the order they are written (nested included):
  /// an id is reserved when the `after` starts compiling and filled when it is complete.
  private(set) var afters: [AfterAction?] = []

  init(bindingType: ExprType?) { self.bindingType = bindingType }

  /// The id of the next `after`: its number in the rule, the key its countdown persists by.
  mutating func reserveAfterID() -> Int {
    afters.append(nil)
    return afters.count - 1
  }

  mutating func complete(_ after: AfterAction) { afters[after.id] = after }

  /// The `after` actions by id; nil if one of them did not compile.
  var completedAfters: [AfterAction]? {
    var out: [AfterAction] = []
    for after in afters {
      guard let after else { return nil }
      out.append(after)
    }
    return out
  }
}

extension RuleSetCompiler {
  /// A `do` list: each item one action of `ActionDefinition.all`.
  mutating func actionList(_ node: YAMLNode) -> [any RuleAction]? {
    guard let items = node.sequence else {
      error("'do' is a list of actions (each starting with \(ActionDefinition.itemStartList))", at: node.location)
      return nil
    }
    var actions: [any RuleAction] = []
    var failed = false
    for item in items {
      if let action = action(item) { actions.append(action) } else { failed = true }
    }
    return failed ? nil : actions
  }

  /// One `do` list item: exactly one action key, plus that action's companion keys.
  mutating func action(_ node: YAMLNode) -> (any RuleAction)? {
    guard let pairs = node.mapping, !pairs.isEmpty else {
      error("an action is a mapping: \(ActionDefinition.keyList)", at: node.location)
      return nil
    }
    let errorsBefore = errorCount
    guard let fields = reader.mapping(node, "an action", allowed: ActionDefinition.itemKeys) else { return nil }
    var failed = errorCount != errorsBefore
    let keys = fields.ordered.filter { ActionDefinition.byKey[$0.key.scalar ?? ""] != nil }
    guard let actionKey = keys.first, let definition = ActionDefinition.byKey[actionKey.key.scalar ?? ""] else {
      if !failed { error("an action is one of \(ActionDefinition.keyList)", at: node.location) }
      return nil
    }
    for extra in keys.dropFirst() {
      error(
        "one action per list item: '\(definition.key)' and '\(extra.key.scalar ?? "")'; start another with '-'",
        at: extra.key.location)
      failed = true
    }
    var companions: [String: YAMLNode.Pair] = [:]
    for pair in fields.ordered where ActionDefinition.byKey[pair.key.scalar ?? ""] == nil {
      let key = pair.key.scalar ?? ""
      if definition.companionKeys.contains(key) {
        companions[key] = pair
      } else {
        let owners = ActionDefinition.all.filter { $0.companionKeys.contains(key) }.map { "'\($0.key)'" }
        error("'\(key)' inside an action goes with \(owners.joined(separator: " or "))", at: pair.key.location)
        failed = true
      }
    }
    let item = ActionItem(node: node, key: actionKey.key, value: actionKey.value, companions: companions)
    let action = definition.compile(item, &self)
    return failed ? nil : action
  }

  /// A scalar as a template (`${EXPR}` parts); nil for a non-scalar or after an error.
  mutating func template(_ node: YAMLNode) -> Template? {
    guard let text = node.scalar else { return nil }
    var compiler = expressionCompiler(bindingType: actions.bindingType)
    let result = compiler.compileTemplate(text, origin: TextOrigin(node: node, lines: lines))
    reader.diagnostics.append(contentsOf: compiler.diagnostics)
    actions.windows.formUnion(compiler.dependencies.windows)
    return result
  }

  /// A YAML value as a JSON document whose strings are templates (a payload written as a map
  /// or a list, or the value of a json signal). Maps are read like every mapping: merge keys
  /// expanded, duplicate keys reported.
  mutating func jsonTemplate(_ node: YAMLNode) -> JSONTemplate? {
    switch node.content {
    case .scalar(let text, let style):
      if style == .plain, !text.contains("${") { return .constant(node.jsonValue) }
      return template(node).map { .template($0) }
    case .sequence(let items):
      var out: [JSONTemplate] = []
      for item in items {
        guard let t = jsonTemplate(item) else { return nil }
        out.append(t)
      }
      return .array(out)
    case .mapping:
      let errorsBefore = errorCount
      guard let pairs = reader.entries(node, "a JSON map") else { return nil }
      var failed = errorCount != errorsBefore
      var out: [(String, JSONTemplate)] = []
      for pair in pairs {
        if let t = jsonTemplate(pair.value) { out.append((pair.key.scalar ?? "", t)) } else { failed = true }
      }
      return failed ? nil : .object(out)
    }
  }
}
