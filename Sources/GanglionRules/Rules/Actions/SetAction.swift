import GanglionCore

/// `set: { SIGNAL: EXPR, ... }`: sets output and virtual signals. Each value becomes an event
/// after the current event's rules ran (breadth-first); a value that is unknown, or not of
/// the signal's type, sets nothing.
struct SetAction: RuleAction {
  let assignments: [Assignment]

  func run(in context: ActionContext, recording record: (inout Event) -> Void) {
    for index in assignments.indices {
      let value = context.evaluate(assignments[index].value)
      guard !value.isNull, let typed = assignments[index].type.coerce(value) else { continue }
      context.queueSet(slot: assignments[index].slot, value: typed)
    }
  }
}

/// One `SIGNAL: VALUE` of a `set`: the signal's slot and type, and its value's evaluation
/// (an expression, a template, or a JSON template for json signals).
struct Assignment: Sendable {
  var slot: Int
  var type: SignalType
  var value: Eval
}

extension ActionDefinition {
  static let set = ActionDefinition(key: "set") { item, compiler in
    let node = item.value
    guard node.mapping?.isEmpty == false else {
      compiler.error("'set' takes a mapping of signals to values, like { hallway.light: on }", at: node.location)
      return nil
    }
    let errorsBefore = compiler.errorCount
    let pairs = compiler.reader.entries(node, "'set'") ?? []
    var assignments: [Assignment] = []
    var failed = compiler.errorCount != errorsBefore
    for pair in pairs {
      let signal = pair.key.scalar ?? ""
      guard let info = compiler.catalog[signal], let slot = compiler.slots[signal] else {
        if !compiler.catalog.unusable.contains(signal) {
          compiler.error(
            "unknown signal '\(signal)'" + Spelling.suggestion(for: signal, in: compiler.catalog.names),
            at: pair.key.location)
        }
        failed = true
        continue
      }
      guard info.isSettable else {
        compiler.error(
          "cannot set '\(signal)': it is an input (only outputs and virtual signals can be set)", at: pair.key.location)
        failed = true
        continue
      }
      compiler.actions.signalsSet.insert(signal)
      let value = pair.value
      var evaluate: Eval?
      if value.scalar == nil {
        if info.type == .json {
          if let json = compiler.jsonTemplate(value) { evaluate = { state in json.render(state) } }
        } else {
          compiler.error(
            "'\(signal)' is \(ExprType(info.type).described); a value here is an expression", at: value.location)
        }
      } else if value.scalarStyle != .plain, info.type == .string || info.type == .json {
        if let text = compiler.template(value) {
          if info.type == .json {
            evaluate = { state in text.jsonValue(state) }
          } else {
            evaluate = { state in .string(text.render(state)) }
          }
        }
      } else if value.isNull {
        compiler.error("'\(signal)' needs a value", at: value.location)
      } else {
        var expressions = compiler.expressionCompiler(bindingType: compiler.actions.bindingType)
        let expected = ExprType(info.type)
        let expr = expressions.compile(
          value.scalar!, origin: TextOrigin(node: value, lines: compiler.lines),
          expecting: expected == .json ? nil : expected, role: "the value of '\(signal)'")
        if info.type == .string, expr == nil, value.scalarStyle == .plain,
          expressions.diagnostics.first?.message.hasPrefix("unknown signal") == true
        {
          expressions.diagnostics[0].message += "; to set the text, quote it: \"\(value.scalar!)\""
        }
        // `light: "yes"`: a word that is neither a value of the signal's type nor a signal.
        if info.type == .bool || info.type == .number, expr == nil, expressions.diagnostics.count == 1,
          expressions.diagnostics[0].message.hasPrefix("unknown signal '\(value.scalar!.trimmingASCIIWhitespace())'")
        {
          let word = value.scalar!.trimmingASCIIWhitespace()
          let fits =
            info.type == .bool ? "on or off (true or false)" : "a number like 21.5"
          expressions.diagnostics[0].message =
            "'\(word)' is not a value for '\(signal)', \(ExprType(info.type).described): write \(fits), or an expression"
        }
        compiler.reader.diagnostics.append(contentsOf: expressions.diagnostics)
        compiler.actions.windows.formUnion(expressions.dependencies.windows)
        evaluate = expr?.eval
      }
      guard let evaluate else {
        failed = true
        continue
      }
      assignments.append(Assignment(slot: slot, type: info.type, value: evaluate))
    }
    return failed ? nil : SetAction(assignments: assignments)
  }
}
