import GanglionCore

/// An expression as written, before type checking. `offset` is where it starts in its text.
struct Expr: Sendable {
  enum BinaryOperator: String, Sendable {
    case or, and
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"

    var isComparison: Bool {
      switch self {
      case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: true
      default: false
      }
    }
  }

  indirect enum Kind: Sendable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case duration(Int64)
    case timeOfDay(Int)
    /// A signal, a binding (`value`), or a bare builtin (`time`, `now`, `device`).
    case name(String)
    case call(String, [Expr])
    case index(Expr, Expr)
    case negate(Expr)
    case not(Expr)
    case binary(BinaryOperator, Expr, Expr)
    /// `x in [a, b]`
    case inList(Expr, [Expr])
    /// `x in lo..hi`
    case inRange(Expr, Expr, Expr)
  }

  var kind: Kind
  var offset: Int
}

/// A Pratt parser over the tokens of one expression.
///
/// Precedence, lowest first: `or`, `and`, `not`, comparisons (non-associative), `in`,
/// `+ -`, `* / %`, unary `-`, indexing and calls.
struct Parser {
  private var tokens: [Token]
  private var position = 0

  init(tokens: [Token]) { self.tokens = tokens }

  /// Expressions are bounded so that checking and evaluating them cannot exhaust the stack.
  static let maximumTokens = 4096
  static let maximumDepth = 100

  static func parse(_ text: String) throws(ExpressionError) -> Expr {
    let tokens = try Lexer(text).tokenize()
    guard tokens.count <= maximumTokens else {
      throw ExpressionError(
        offset: tokens[maximumTokens].offset,
        message: "expression too long: more than \(maximumTokens) tokens; split it over several rules or signals")
    }
    var parser = Parser(tokens: tokens)
    let expr = try parser.expression(0)
    let token = parser.current
    guard case .end = token.kind else {
      throw ExpressionError(offset: token.offset, message: "unexpected \(describe(token)) after the expression")
    }
    if let deep = Parser.tooDeep(expr, depth: 0) {
      throw ExpressionError(offset: deep, message: "expression nested more than \(maximumDepth) levels deep")
    }
    return expr
  }

  /// The offset of a node deeper than `maximumDepth`, if any.
  private static func tooDeep(_ expr: Expr, depth: Int) -> Int? {
    if depth > maximumDepth { return expr.offset }
    var children: [Expr] = []
    switch expr.kind {
    case .number, .string, .bool, .duration, .timeOfDay, .name: return nil
    case .call(_, let arguments): children = arguments
    case .index(let a, let b), .binary(_, let a, let b): children = [a, b]
    case .negate(let a), .not(let a): children = [a]
    case .inList(let a, let items): children = [a] + items
    case .inRange(let a, let b, let c): children = [a, b, c]
    }
    for child in children {
      if let offset = tooDeep(child, depth: depth + 1) { return offset }
    }
    return nil
  }

  /// Recursion depth of the parser itself (parentheses, prefixes, lists).
  private var nesting = 0

  private var current: Token { tokens[position] }

  private mutating func advance() -> Token {
    let token = tokens[position]
    if position < tokens.count - 1 { position += 1 }
    return token
  }

  private static let keywords: Set<String> = ["and", "or", "not", "in", "true", "false", "on", "off"]

  static func describe(_ token: Token) -> String {
    switch token.kind {
    case .number(let n): "number \(Value.format(number: n))"
    case .string(let s): "string \"\(s)\""
    case .duration: "duration"
    case .timeOfDay: "time of day"
    case .identifier(let name): keywords.contains(name) ? "'\(name)'" : "name '\(name)'"
    case .symbol(let s): "'\(s)'"
    case .leftParen: "'('"
    case .rightParen: "')'"
    case .leftBracket: "'['"
    case .rightBracket: "']'"
    case .comma: "','"
    case .dotDot: "'..'"
    case .end: "end of expression"
    }
  }

  /// The infix operator at the current token and its binding power.
  private func infix() -> (Expr.BinaryOperator?, isIn: Bool, power: Int)? {
    switch current.kind {
    case .identifier("or"): (.or, false, 1)
    case .identifier("and"): (.and, false, 2)
    case .symbol(let s):
      switch s {
      case "==", "!=", "<", "<=", ">", ">=": (Expr.BinaryOperator(rawValue: s), false, 4)
      case "+", "-": (Expr.BinaryOperator(rawValue: s), false, 6)
      case "*", "/", "%": (Expr.BinaryOperator(rawValue: s), false, 7)
      default: nil
      }
    case .identifier("in"): (nil, true, 5)
    default: nil
    }
  }

  /// Parses an expression whose operators bind tighter than `minimumPower`.
  private mutating func expression(_ minimumPower: Int) throws(ExpressionError) -> Expr {
    var left = try prefix()
    while let (op, isIn, power) = infix(), power > minimumPower {
      let token = advance()
      if isIn {
        left = try inOperand(left, at: token)
        continue
      }
      guard let op else { break }
      let right = try expression(power)
      if op.isComparison, let (next, _, nextPower) = infix(), nextPower == power, next?.isComparison == true {
        throw ExpressionError(
          offset: current.offset, message: "comparisons do not chain; write 'a < b and b < c'")
      }
      left = Expr(kind: .binary(op, left, right), offset: left.offset)
    }
    return left
  }

  private mutating func inOperand(_ left: Expr, at token: Token) throws(ExpressionError) -> Expr {
    if case .leftBracket = current.kind {
      _ = advance()
      var items: [Expr] = []
      if case .rightBracket = current.kind {
        _ = advance()
        return Expr(kind: .inList(left, items), offset: left.offset)
      }
      while true {
        items.append(try expression(0))
        let next = advance()
        switch next.kind {
        case .comma: continue
        case .rightBracket: return Expr(kind: .inList(left, items), offset: left.offset)
        default:
          throw ExpressionError(
            offset: next.offset, message: "expected ',' or ']' in the list, found \(Parser.describe(next))")
        }
      }
    }
    let low = try expression(5)
    guard case .dotDot = current.kind else {
      throw ExpressionError(
        offset: current.offset, message: "'in' takes a list [a, b] or a range like 18:00..07:00")
    }
    _ = advance()
    let high = try expression(5)
    return Expr(kind: .inRange(left, low, high), offset: left.offset)
  }

  private mutating func prefix() throws(ExpressionError) -> Expr {
    let token = advance()
    nesting += 1
    defer { nesting -= 1 }
    guard nesting <= Parser.maximumDepth else {
      throw ExpressionError(
        offset: token.offset, message: "expression nested more than \(Parser.maximumDepth) levels deep")
    }
    var expr: Expr
    switch token.kind {
    case .number(let n): expr = Expr(kind: .number(n), offset: token.offset)
    case .string(let s): expr = Expr(kind: .string(s), offset: token.offset)
    case .duration(let d): expr = Expr(kind: .duration(d), offset: token.offset)
    case .timeOfDay(let t): expr = Expr(kind: .timeOfDay(t), offset: token.offset)
    case .symbol("-"):
      let operand = try expression(7)
      if case .number(let n) = operand.kind {
        return Expr(kind: .number(-n), offset: token.offset)
      }
      return Expr(kind: .negate(operand), offset: token.offset)
    case .identifier("not"):
      let operand = try expression(3)
      return Expr(kind: .not(operand), offset: token.offset)
    case .identifier("true"), .identifier("on"): expr = Expr(kind: .bool(true), offset: token.offset)
    case .identifier("false"), .identifier("off"): expr = Expr(kind: .bool(false), offset: token.offset)
    case .identifier(let name) where !Parser.keywords.contains(name):
      if case .leftParen = current.kind {
        _ = advance()
        var arguments: [Expr] = []
        if case .rightParen = current.kind {
          _ = advance()
        } else {
          argumentLoop: while true {
            arguments.append(try expression(0))
            let next = advance()
            switch next.kind {
            case .comma: continue
            case .rightParen: break argumentLoop
            default:
              throw ExpressionError(
                offset: next.offset, message: "expected ',' or ')' after an argument, found \(Parser.describe(next))")
            }
          }
        }
        expr = Expr(kind: .call(name, arguments), offset: token.offset)
      } else {
        expr = Expr(kind: .name(name), offset: token.offset)
      }
    case .leftParen:
      expr = try expression(0)
      let close = advance()
      guard case .rightParen = close.kind else {
        throw ExpressionError(offset: close.offset, message: "expected ')', found \(Parser.describe(close))")
      }
    default:
      throw ExpressionError(offset: token.offset, message: "expected a value, found \(Parser.describe(token))")
    }
    // Postfix: indexing.
    while case .leftBracket = current.kind {
      _ = advance()
      let key = try expression(0)
      let close = advance()
      guard case .rightBracket = close.kind else {
        throw ExpressionError(offset: close.offset, message: "expected ']', found \(Parser.describe(close))")
      }
      expr = Expr(kind: .index(expr, key), offset: expr.offset)
    }
    return expr
  }
}
