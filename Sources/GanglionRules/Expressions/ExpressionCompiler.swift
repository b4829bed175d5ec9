import GanglionCore

/// Type-checks expressions against the declared signals and turns them into closures.
/// Every error goes to `diagnostics` at the offending token; checking continues with the
/// next independent part so that one pass reports everything.
struct ExpressionCompiler {
  var scope: Scope
  var diagnostics: [Diagnostic] = []
  var dependencies = Dependencies()

  private var origin = TextOrigin(base: SourceLocation(file: "", line: 1, column: 1))
  private var scalars: [Unicode.Scalar] = []

  init(scope: Scope) { self.scope = scope }

  private mutating func error(_ message: String, at offset: Int) {
    diagnostics.append(.error(message, at: origin.location(of: offset)))
  }

  /// Parses and checks `text` (which starts at `origin`), expecting `expected` if given.
  mutating func compile(_ text: String, origin: TextOrigin, expecting expected: ExprType? = nil, role: String)
    -> CompiledExpr?
  {
    self.origin = origin
    scalars = Array(text.unicodeScalars)
    let expr: Expr
    do {
      expr = try Parser.parse(text)
    } catch {
      self.error(error.message, at: error.offset)
      return nil
    }
    guard let compiled = compile(expr) else { return nil }
    if let expected, compiled.type != expected, compiled.type != .json {
      self.error("\(role) must be \(expected.described), but this is \(compiled.type.described)", at: expr.offset)
      return nil
    }
    return compiled
  }

  /// A template: text with `${EXPR}` parts. Returns the parts, or nil after an error.
  mutating func compileTemplate(_ text: String, origin: TextOrigin) -> Template? {
    self.origin = origin
    scalars = Array(text.unicodeScalars)
    var parts: [Template.Part] = []
    var literal = ""
    var i = 0
    var failed = false
    while i < scalars.count {
      if scalars[i] == "$", i + 1 < scalars.count, scalars[i + 1] == "{" {
        // Find the closing brace, skipping quoted strings inside the expression.
        var j = i + 2
        var quote: Unicode.Scalar?
        while j < scalars.count {
          let c = scalars[j]
          if let q = quote {
            if c == "\\" { j += 1 } else if c == q { quote = nil }
          } else if c == "\"" || c == "'" {
            quote = c
          } else if c == "}" {
            break
          }
          j += 1
        }
        guard j < scalars.count else {
          error("'${' is not closed: missing '}'", at: i)
          return nil
        }
        if !literal.isEmpty {
          parts.append(.text(literal))
          literal = ""
        }
        let inner = String(String.UnicodeScalarView(scalars[(i + 2)..<j]))
        let savedScalars = scalars
        let innerOrigin = origin.shifted(by: i + 2)
        if let compiled = compile(inner, origin: innerOrigin, role: "a template part") {
          parts.append(.expression(compiled))
        } else {
          failed = true
        }
        self.origin = origin
        scalars = savedScalars
        i = j + 1
      } else {
        literal.unicodeScalars.append(scalars[i])
        i += 1
      }
    }
    if !literal.isEmpty { parts.append(.text(literal)) }
    return failed ? nil : Template(parts: parts)
  }

  // MARK: - Checking and compiling one node

  mutating func compile(_ expr: Expr) -> CompiledExpr? {
    switch expr.kind {
    case .number(let n):
      let v = Value.number(n)
      return CompiledExpr(type: .number, eval: { _ in v })
    case .string(let s):
      let v = Value.string(s)
      return CompiledExpr(type: .string, eval: { _ in v })
    case .bool(let b):
      let v = Value.bool(b)
      return CompiledExpr(type: .bool, eval: { _ in v })
    case .duration(let micros):
      dependencies.durations.insert(micros)
      let v = Value.number(Double(micros) / 1e6)
      return CompiledExpr(type: .duration, eval: { _ in v })
    case .timeOfDay(let seconds):
      dependencies.timesOfDay.insert(seconds)
      let v = Value.number(Double(seconds))
      return CompiledExpr(type: .timeOfDay, eval: { _ in v })
    case .name(let name):
      return compileName(name, at: expr.offset)
    case .call(let name, let arguments):
      return compileCall(name, arguments, at: expr.offset)
    case .index(let base, let key):
      let b = compile(base)
      let k = compile(key)
      guard let b, let k else { return nil }
      guard b.type == .json else {
        error("only json values can be indexed with [...]; this is \(b.type.described)", at: expr.offset)
        return nil
      }
      guard k.type == .string || k.type == .number || k.type == .json else {
        error("an index is a string (a field) or a number (a list position), not \(k.type.described)", at: key.offset)
        return nil
      }
      let be = b.eval
      let ke = k.eval
      return CompiledExpr(type: .json, eval: { s in Runtime.index(be(s), ke(s)) })
    case .negate(let operand):
      guard let o = compile(operand) else { return nil }
      guard o.type == .number || o.type == .duration || o.type == .json else {
        error("'-' needs a number or a duration, not \(o.type.described)", at: expr.offset)
        return nil
      }
      let oe = o.eval
      return CompiledExpr(
        type: o.type == .json ? .number : o.type,
        eval: { s in
          if case .number(let n) = oe(s) { return .number(-n) }
          return .null
        })
    case .not(let operand):
      guard let o = compile(operand) else { return nil }
      guard o.type == .bool || o.type == .json else {
        error("'not' needs a bool, not \(o.type.described)", at: operand.offset)
        return nil
      }
      let oe = o.eval
      return CompiledExpr(
        type: .bool,
        eval: { s in
          if case .bool(let b) = oe(s) { return .bool(!b) }
          return .null
        })
    case .binary(let op, let left, let right):
      let before = diagnostics.count
      let l = compile(left)
      let r = compile(right)
      if op == .equal || op == .notEqual {
        hintQuotes(around: left, comparedWith: r, since: before)
        hintQuotes(around: right, comparedWith: l, since: before)
      }
      guard let l, let r else { return nil }
      return compileBinary(op, l, r, left: left, right: right, at: expr.offset)
    case .inList(let subject, let items):
      let x = compile(subject)
      var compiledItems: [CompiledExpr] = []
      var failed = x == nil
      for item in items {
        let before = diagnostics.count
        guard let c = compile(item) else {
          hintQuotes(around: item, comparedWith: x, since: before)
          failed = true
          continue
        }
        if let x, !Self.comparable(x.type, c.type) {
          error("a list item is \(c.type.described), but the value is \(x.type.described)", at: item.offset)
          failed = true
        }
        compiledItems.append(c)
      }
      guard !failed, let x else { return nil }
      let xe = x.eval
      let evals = compiledItems.map(\.eval)
      return CompiledExpr(
        type: .bool,
        eval: { s in
          let v = xe(s)
          if v.isNull { return .null }
          for e in evals where Runtime.equal(v, e(s)) == .bool(true) { return .bool(true) }
          return .bool(false)
        })
    case .inRange(let subject, let low, let high):
      let x = compile(subject)
      let lo = compile(low)
      let hi = compile(high)
      guard let x, let lo, let hi else { return nil }
      guard x.type.isOrdered, x.type != .string else {
        error("'in' with a range needs a number or a time of day, not \(x.type.described)", at: subject.offset)
        return nil
      }
      for (bound, node) in [(lo, low), (hi, high)] where !Self.comparable(x.type, bound.type) || bound.type == .bool {
        error("a range bound is \(bound.type.described), but the value is \(x.type.described)", at: node.offset)
        return nil
      }
      let xe = x.eval
      let le = lo.eval
      let he = hi.eval
      if x.type == .timeOfDay {
        // Start inclusive, end exclusive; a range whose start is after its end wraps midnight.
        return CompiledExpr(
          type: .bool,
          eval: { s in
            guard case .number(let v) = xe(s), case .number(let a) = le(s), case .number(let b) = he(s) else {
              return .null
            }
            return .bool(a <= b ? (v >= a && v < b) : (v >= a || v < b))
          })
      }
      return CompiledExpr(
        type: .bool,
        eval: { s in
          guard case .number(let v) = xe(s), case .number(let a) = le(s), case .number(let b) = he(s) else {
            return .null
          }
          return .bool(v >= a && v <= b)
        })
    }
  }

  static func comparable(_ a: ExprType, _ b: ExprType) -> Bool { a == b || a == .json || b == .json }

  /// A bare name: a built-in of `Vocabulary.names` available here, else a signal, else a
  /// field path into a json signal.
  private mutating func compileName(_ name: String, at offset: Int) -> CompiledExpr? {
    if let builtin = Vocabulary.namesByName[name], builtin.isAvailable(in: scope) {
      builtin.recordDependencies(&dependencies)
      return CompiledExpr(type: builtin.type(in: scope), eval: builtin.evaluate)
    }
    if let info = scope.catalog[name], let slot = scope.slots[name] {
      dependencies.reads.insert(slot)
      return CompiledExpr(type: ExprType(info.type), eval: { s in s.values[slot] })
    }
    // `zigbee.living.temperature`: a field path into the json signal `zigbee.living`.
    var components = name.split(separator: ".").map(String.init)
    var path: [String] = []
    while components.count > 1 {
      path.insert(components.removeLast(), at: 0)
      let prefix = components.joined(separator: ".")
      if let info = scope.catalog[prefix], info.type == .json, let slot = scope.slots[prefix] {
        dependencies.reads.insert(slot)
        let keys: [Value] = path.map { Int($0).map { .number(Double($0)) } ?? .string($0) }
        return CompiledExpr(
          type: .json,
          eval: { s in
            var v = s.values[slot]
            for key in keys { v = Runtime.index(v, key) }
            return v
          })
      }
    }
    // Declared with an error the configuration's check reports: not one more here.
    if !scope.catalog.unusable.contains(name) { error(unknownNameMessage(name), at: offset) }
    return nil
  }

  /// `phone == home`: a bare word compared with a text is far more likely a text without its
  /// quotes than a misspelt signal, so the error of an unknown name `expr` (reported since
  /// diagnostic `since`) says how to write the text instead of suggesting a signal.
  private mutating func hintQuotes(around expr: Expr, comparedWith other: CompiledExpr?, since: Int) {
    guard case .name(let name) = expr.kind, let other, other.type == .string || other.type == .json else { return }
    let location = origin.location(of: expr.offset)
    let plain = "unknown signal '\(name)'"
    // Only the plain message (or a guess at a signal): a more specific hint (weekdays) stays.
    for index in since..<diagnostics.count
    where diagnostics[index].location == location
      && (diagnostics[index].message == plain || diagnostics[index].message.hasPrefix(plain + "; did you mean"))
    {
      diagnostics[index].message = "unknown signal '\(name)'; a text goes in quotes: \"\(name)\""
    }
  }

  private func unknownNameMessage(_ name: String) -> String {
    if let builtin = Vocabulary.namesByName[name], !builtin.isAvailable(in: scope) {
      return "'\(name)' is only available in 'on' rules"
    }
    if Vocabulary.weekdays.contains(name) {
      return "unknown signal '\(name)'; weekdays are strings: weekday == \"\(name)\""
    }
    if name.contains("-") {
      let pieces = name.split(separator: "-").map(String.init)
      if pieces.contains(where: { scope.catalog[$0] != nil }) {
        return "unknown signal '\(name)'; to subtract, put spaces around '-'"
      }
    }
    let builtins = Vocabulary.names.filter { $0.isAvailable(in: scope) }.map(\.name)
    return "unknown signal '\(name)'" + Spelling.suggestion(for: name, in: scope.catalog.names + builtins)
  }

  /// A call: looks the function up in `Vocabulary.functions`, checks the arguments against
  /// the parameters of the definition that fits, and lets the definition compile it.
  private mutating func compileCall(_ name: String, _ arguments: [Expr], at offset: Int) -> CompiledExpr? {
    guard let definitions = Vocabulary.functionsByName[name] else {
      error("unknown function '\(name)'" + Spelling.suggestion(for: name, in: Vocabulary.functionNames), at: offset)
      for argument in arguments { _ = compile(argument) }
      return nil
    }
    guard let definition = Self.definition(among: definitions, fitting: arguments) else {
      error(definitions.map { "\($0.signature) \($0.usage)" }.joined(separator: "; "), at: offset)
      return nil
    }
    var checked: [FunctionCall.Argument] = []
    for (index, (parameter, argument)) in zip(definition.parameters, arguments).enumerated() {
      switch parameter {
      case .signal(let requirement):
        guard case .name(let signal) = argument.kind else {
          error("the \(Self.ordinal(index)) argument of \(name)() is a signal name", at: argument.offset)
          continue
        }
        guard let info = scope.catalog[signal], let slot = scope.slots[signal] else {
          if !scope.catalog.unusable.contains(signal) { error(unknownNameMessage(signal), at: argument.offset) }
          continue
        }
        let type = ExprType(info.type)
        guard requirement.accepts(type) else {
          error("\(name)() works on \(requirement.described); this signal is \(type.described)", at: argument.offset)
          continue
        }
        dependencies.reads.insert(slot)
        checked.append(.signal(slot: slot, type: type))
      case .window:
        guard case .duration(let window) = argument.kind, window > 0 else {
          error("the window of \(name)() is a duration literal, like 5m", at: argument.offset)
          continue
        }
        checked.append(.window(microseconds: window))
      case .value:
        if let compiled = compile(argument) { checked.append(.value(compiled)) }
      }
    }
    guard checked.count == arguments.count else { return nil }
    var call = FunctionCall(name: name, offset: offset, arguments: checked, argumentOffsets: arguments.map(\.offset))
    let compiled = definition.compile(&call)
    dependencies.formUnion(call.dependencies)
    for (message, offset) in call.errors { error(message, at: offset) }
    return compiled
  }

  /// The definition a call uses: of the call's argument count, and if there are several
  /// (`min(SIGNAL, WINDOW)`, `min(a, b)`), the first whose windows are duration literals.
  private static func definition(among definitions: [FunctionDefinition], fitting arguments: [Expr])
    -> FunctionDefinition?
  {
    let sameCount = definitions.filter { $0.parameters.count == arguments.count }
    guard sameCount.count > 1 else { return sameCount.first }
    return sameCount.first { definition in
      zip(definition.parameters, arguments).allSatisfy { parameter, argument in
        guard case .window = parameter else { return true }
        if case .duration = argument.kind { return true }
        return false
      }
    } ?? sameCount.first
  }

  private static func ordinal(_ index: Int) -> String {
    switch index {
    case 0: "first"
    case 1: "second"
    case 2: "third"
    default: "\(index + 1)th"
    }
  }

  private mutating func compileBinary(
    _ op: Expr.BinaryOperator, _ l: CompiledExpr, _ r: CompiledExpr, left: Expr, right: Expr, at offset: Int
  ) -> CompiledExpr? {
    let le = l.eval
    let re = r.eval
    switch op {
    case .and, .or:
      for (side, node) in [(l, left), (r, right)] where side.type != .bool && side.type != .json {
        error("'\(op.rawValue)' needs bools on both sides; this is \(side.type.described)", at: node.offset)
        return nil
      }
      if op == .and {
        return CompiledExpr(
          type: .bool,
          eval: { s in
            let a = le(s)
            if case .bool(false) = a { return a }
            let b = re(s)
            if case .bool(false) = b { return b }
            if case .bool(true) = a, case .bool(true) = b { return b }
            return .null
          })
      }
      return CompiledExpr(
        type: .bool,
        eval: { s in
          let a = le(s)
          if case .bool(true) = a { return a }
          let b = re(s)
          if case .bool(true) = b { return b }
          if case .bool(false) = a, case .bool(false) = b { return b }
          return .null
        })
    case .equal, .notEqual:
      guard Self.comparable(l.type, r.type) else {
        error("cannot compare \(l.type.described) with \(r.type.described)", at: right.offset)
        return nil
      }
      let negate = op == .notEqual
      return CompiledExpr(
        type: .bool,
        eval: { s in
          let result = Runtime.equal(le(s), re(s))
          if negate, case .bool(let b) = result { return .bool(!b) }
          return result
        })
    case .less, .lessOrEqual, .greater, .greaterOrEqual:
      guard Self.comparable(l.type, r.type) else {
        error("cannot compare \(l.type.described) with \(r.type.described)", at: right.offset)
        return nil
      }
      guard l.type != .bool, r.type != .bool else {
        error("'\(op.rawValue)' does not order bools", at: (l.type == .bool ? left : right).offset)
        return nil
      }
      let test: @Sendable (Int) -> Bool
      switch op {
      case .less: test = { $0 < 0 }
      case .lessOrEqual: test = { $0 <= 0 }
      case .greater: test = { $0 > 0 }
      default: test = { $0 >= 0 }
      }
      if l.type == .number || r.type == .number || l.type == r.type && l.type != .string && l.type != .json {
        // Numbers, durations, times of day, timestamps: all `.number` at run time.
        switch op {
        case .less:
          return CompiledExpr(
            type: .bool,
            eval: { s in
              guard case .number(let a) = le(s), case .number(let b) = re(s) else { return .null }
              return .bool(a < b)
            })
        case .greater:
          return CompiledExpr(
            type: .bool,
            eval: { s in
              guard case .number(let a) = le(s), case .number(let b) = re(s) else { return .null }
              return .bool(a > b)
            })
        default:
          break
        }
      }
      return CompiledExpr(
        type: .bool,
        eval: { s in
          guard let order = Runtime.compare(le(s), re(s)) else { return .null }
          return .bool(test(order))
        })
    case .add, .subtract, .multiply, .divide, .remainder:
      guard let type = Self.arithmeticType(op, l.type, r.type) else {
        error("cannot use '\(op.rawValue)' on \(l.type.described) and \(r.type.described)", at: right.offset)
        return nil
      }
      if type == .string {
        return CompiledExpr(
          type: .string,
          eval: { s in
            guard case .string(let a) = le(s), case .string(let b) = re(s) else { return .null }
            return .string(a + b)
          })
      }
      let f: @Sendable (Double, Double) -> Double
      switch op {
      case .add: f = { $0 + $1 }
      case .subtract: f = { $0 - $1 }
      case .multiply: f = { $0 * $1 }
      case .divide: f = { $0 / $1 }
      default: f = { $0.truncatingRemainder(dividingBy: $1) }
      }
      return CompiledExpr(
        type: type,
        eval: { s in
          guard case .number(let a) = le(s), case .number(let b) = re(s) else { return .null }
          let result = f(a, b)
          return result.isFinite ? .number(result) : .null
        })
    }
  }

  /// The result type of arithmetic, nil if the operands don't go together.
  static func arithmeticType(_ op: Expr.BinaryOperator, _ a: ExprType, _ b: ExprType) -> ExprType? {
    let a = a == .json ? (b == .json ? .number : b) : a
    let b = b == .json ? a : b
    switch (op, a, b) {
    case (_, .number, .number): return .number
    case (.add, .string, .string): return .string
    case (.add, .duration, .duration), (.subtract, .duration, .duration): return .duration
    case (.add, .timestamp, .duration), (.add, .duration, .timestamp), (.subtract, .timestamp, .duration):
      return .timestamp
    case (.subtract, .timestamp, .timestamp): return .duration
    case (.multiply, .duration, .number), (.multiply, .number, .duration), (.divide, .duration, .number):
      return .duration
    case (.divide, .duration, .duration): return .number
    default: return nil
    }
  }
}
