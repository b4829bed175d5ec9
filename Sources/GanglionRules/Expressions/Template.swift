import GanglionCore

/// A string with `${EXPR}` parts.
struct Template: Sendable {
  enum Part: Sendable {
    case text(String)
    case expression(CompiledExpr)
  }

  var parts: [Part]

  func render(_ state: EvalState) -> String {
    var out = ""
    for part in parts {
      switch part {
      case .text(let t): out += t
      case .expression(let e): out += Runtime.render(e.eval(state), as: e.type)
      }
    }
    return out
  }

  /// A whole `"${EXPR}"` keeps its type in JSON; anything else is a string.
  func jsonValue(_ state: EvalState) -> Value {
    if parts.count == 1, case .expression(let e) = parts[0] { return Runtime.json(e.eval(state), as: e.type) }
    return .string(render(state))
  }
}

/// A JSON document whose strings are templates (publish payloads written as maps or lists).
indirect enum JSONTemplate: Sendable {
  case constant(Value)
  case template(Template)
  case array([JSONTemplate])
  case object([(String, JSONTemplate)])

  func render(_ state: EvalState) -> Value {
    switch self {
    case .constant(let v): return v
    case .template(let t): return t.jsonValue(state)
    case .array(let items): return .array(items.map { $0.render(state) })
    case .object(let members):
      var out: [String: Value] = [:]
      for (key, value) in members { out[key] = value.render(state) }
      return .object(out)
    }
  }
}
