import GanglionCore

/// Where an expression's text came from, so that a token's offset inside the text maps back
/// to `file:line:column` in the rule file: also inside multi-line and quoted scalars, when the
/// file's lines are known.
struct TextOrigin: Sendable {
  /// The location of the scalar's first character.
  var base: SourceLocation
  var style: YAMLNode.ScalarStyle
  /// The scalar's text, as YAML delivered it (folded, unescaped).
  var text: [Unicode.Scalar]
  /// Where the expression starts inside `text` (a `${...}` part of a template).
  var start = 0
  /// The file's lines, to find where folded lines and escapes put each character.
  var lines: [[Unicode.Scalar]]?

  /// An origin with no source text: offsets count columns on `base`'s line.
  init(base: SourceLocation) {
    self.base = base
    style = .plain
    text = []
  }

  init(node: YAMLNode, lines: [[Unicode.Scalar]]?) {
    base = node.textLocation
    style = node.scalarStyle ?? .plain
    text = Array((node.scalar ?? "").unicodeScalars)
    self.lines = lines
  }

  /// The origin of a part of this text that starts `offset` characters in.
  func shifted(by offset: Int) -> TextOrigin {
    var copy = self
    copy.start += offset
    return copy
  }

  static func splitLines(_ text: String) -> [[Unicode.Scalar]] {
    var lines: [[Unicode.Scalar]] = [[]]
    for scalar in text.unicodeScalars {
      if scalar == "\n" { lines.append([]) } else if scalar != "\r" { lines[lines.count - 1].append(scalar) }
    }
    return lines
  }

  /// The location of `offset` (in Unicode scalars) into the expression.
  func location(of offset: Int) -> SourceLocation {
    let target = start + offset
    guard let lines, base.line - 1 < lines.count, !text.isEmpty else {
      return base.advanced(byColumns: target)
    }
    switch style {
    case .literal, .folded: return blockLocation(of: target, lines: lines)
    default: return flowLocation(of: target, lines: lines)
    }
  }

  private static func isSpace(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" }

  /// Plain and quoted scalars: walk the source beside the text. A line break in the source
  /// (with the indentation after it) is one space or newline in the text; an escape is
  /// several source characters for one text character.
  private func flowLocation(of target: Int, lines: [[Unicode.Scalar]]) -> SourceLocation {
    var line = base.line - 1
    var column = base.column - 1
    var i = 0
    while i < target, i < text.count, line < lines.count {
      let row = lines[line]
      let restIsBlank = row[min(column, row.count)...].allSatisfy(Self.isSpace)
      if column >= row.count || restIsBlank {
        // A folded line break: skip blank lines and the next line's indentation in the source,
        // and the whitespace it became in the text.
        line += 1
        while line < lines.count, lines[line].allSatisfy(Self.isSpace) { line += 1 }
        column = line < lines.count ? (lines[line].firstIndex { !Self.isSpace($0) } ?? 0) : 0
        while i < target, i < text.count, text[i] == " " || text[i] == "\n" || text[i] == "\t" { i += 1 }
        continue
      }
      let c = row[column]
      if style == .doubleQuoted, c == "\\" {
        column += 2
      } else if style == .singleQuoted, c == "'", column + 1 < row.count, row[column + 1] == "'" {
        column += 2
      } else {
        column += 1
      }
      i += 1
    }
    if i < target { column += target - i }
    return SourceLocation(file: base.file, line: line + 1, column: column + 1)
  }

  /// `|` and `>` scalars: each text line is a source line after the indicator, indented.
  private func blockLocation(of target: Int, lines: [[Unicode.Scalar]]) -> SourceLocation {
    var first = base.line  // 0-based index of the line after the indicator
    while first < lines.count, lines[first].allSatisfy(Self.isSpace) { first += 1 }
    let indent = first < lines.count ? (lines[first].firstIndex { !Self.isSpace($0) } ?? 0) : 0
    var line = base.line
    var column = 0
    for i in 0..<min(target, text.count) {
      if text[i] == "\n" {
        line += 1
        column = 0
      } else {
        column += 1
      }
    }
    return SourceLocation(file: base.file, line: line + 1, column: indent + column + 1)
  }
}

/// A token of the expression language.
struct Token: Sendable, Equatable {
  enum Kind: Sendable, Equatable {
    case number(Double)
    case string(String)
    /// Microseconds.
    case duration(Int64)
    /// Seconds since midnight.
    case timeOfDay(Int)
    /// A name: a signal (`hallway.motion`), a keyword (`and`, `on`), a function.
    case identifier(String)
    /// `== != < <= > >= + - * / %`
    case symbol(String)
    case leftParen, rightParen, leftBracket, rightBracket, comma, dotDot
    case end
  }

  var kind: Kind
  /// Offset of the token's first character in the text, in Unicode scalars.
  var offset: Int
}

/// A problem found while reading an expression, at an offset into its text.
struct ExpressionError: Error, Sendable {
  var offset: Int
  var message: String
}

/// Splits expression text into tokens.
///
/// Names may hold dots and dashes (`living-room.lux`), so `a-b` is one name: write `a - b`
/// to subtract. A number followed by letters is a duration (`5m`, `1h30m`); `HH:MM` and
/// `HH:MM:SS` are times of day.
struct Lexer {
  let scalars: [Unicode.Scalar]

  init(_ text: String) { scalars = Array(text.unicodeScalars) }

  static func isLetter(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("A"..."Z").contains(s) || s == "_" }
  static func isDigit(_ s: Unicode.Scalar) -> Bool { ("0"..."9").contains(s) }
  static func isNameCharacter(_ s: Unicode.Scalar) -> Bool { isLetter(s) || isDigit(s) }

  func tokenize() throws(ExpressionError) -> [Token] {
    var tokens: [Token] = []
    var i = 0
    func peek(_ k: Int) -> Unicode.Scalar? { i + k < scalars.count ? scalars[i + k] : nil }
    while i < scalars.count {
      let c = scalars[i]
      let start = i
      switch c {
      case " ", "\t", "\n", "\r":
        i += 1
        continue
      case "(":
        tokens.append(Token(kind: .leftParen, offset: i))
        i += 1
      case ")":
        tokens.append(Token(kind: .rightParen, offset: i))
        i += 1
      case "[":
        tokens.append(Token(kind: .leftBracket, offset: i))
        i += 1
      case "]":
        tokens.append(Token(kind: .rightBracket, offset: i))
        i += 1
      case ",":
        tokens.append(Token(kind: .comma, offset: i))
        i += 1
      case "+", "-", "*", "/", "%":
        tokens.append(Token(kind: .symbol(String(c)), offset: i))
        i += 1
      case "=", "!", "<", ">":
        if peek(1) == "=" {
          tokens.append(Token(kind: .symbol(String(c) + "="), offset: i))
          i += 2
        } else if c == "<" || c == ">" {
          tokens.append(Token(kind: .symbol(String(c)), offset: i))
          i += 1
        } else if c == "=" {
          throw ExpressionError(offset: i, message: "'=' is not an operator; compare with '=='")
        } else {
          throw ExpressionError(offset: i, message: "'!' is not an operator; use 'not' or '!='")
        }
      case "&", "|":
        let word = c == "&" ? "and" : "or"
        throw ExpressionError(offset: i, message: "'\(c)' is not an operator; use '\(word)'")
      case ".":
        if peek(1) == "." {
          tokens.append(Token(kind: .dotDot, offset: i))
          i += 2
        } else {
          throw ExpressionError(offset: i, message: "unexpected '.'")
        }
      case "\"", "'":
        i += 1
        var text = ""
        var closed = false
        while i < scalars.count {
          let s = scalars[i]
          if s == c {
            closed = true
            i += 1
            break
          }
          if s == "\\", i + 1 < scalars.count {
            let e = scalars[i + 1]
            switch e {
            case "n": text.unicodeScalars.append("\n")
            case "t": text.unicodeScalars.append("\t")
            default: text.unicodeScalars.append(e)
            }
            i += 2
            continue
          }
          text.unicodeScalars.append(s)
          i += 1
        }
        guard closed else { throw ExpressionError(offset: start, message: "string is not closed: missing \(c)") }
        tokens.append(Token(kind: .string(text), offset: start))
      default:
        if Lexer.isDigit(c) {
          tokens.append(try number(&i))
        } else if Lexer.isLetter(c) {
          while i < scalars.count {
            let s = scalars[i]
            if Lexer.isNameCharacter(s) {
              i += 1
            } else if s == "." || s == "-", let next = peek(1), Lexer.isNameCharacter(next) {
              i += 1
            } else {
              break
            }
          }
          tokens.append(Token(kind: .identifier(String(String.UnicodeScalarView(scalars[start..<i]))), offset: start))
        } else if c == "$", peek(1) == "{" {
          // A template where an expression belongs (`set: { light: "${value}" }`).
          throw ExpressionError(
            offset: i,
            message: "'${...}' is template syntax for strings (publish, log); here write the expression itself")
        } else {
          throw ExpressionError(offset: i, message: "unexpected character '\(c)'")
        }
      }
    }
    tokens.append(Token(kind: .end, offset: scalars.count))
    return tokens
  }

  private func number(_ i: inout Int) throws(ExpressionError) -> Token {
    let start = i
    func digits() -> Int {
      let from = i
      while i < scalars.count, Lexer.isDigit(scalars[i]) { i += 1 }
      return i - from
    }
    let whole = digits()
    // Time of day: H:MM or HH:MM, optionally :SS.
    if i < scalars.count, scalars[i] == ":", whole <= 2 {
      let hours = Int(text(start, i))!
      i += 1
      let minuteStart = i
      guard digits() == 2 else { throw ExpressionError(offset: start, message: "a time of day is HH:MM, like 07:30") }
      let minutes = Int(text(minuteStart, i))!
      var seconds = 0
      if i < scalars.count, scalars[i] == ":" {
        i += 1
        let secondStart = i
        guard digits() == 2 else {
          throw ExpressionError(offset: start, message: "a time of day is HH:MM or HH:MM:SS")
        }
        seconds = Int(text(secondStart, i))!
      }
      guard hours < 24, minutes < 60, seconds < 60 else {
        throw ExpressionError(offset: start, message: "'\(text(start, i))' is not a time of day (00:00 to 23:59)")
      }
      return Token(kind: .timeOfDay(hours * 3600 + minutes * 60 + seconds), offset: start)
    }
    if i + 1 < scalars.count, scalars[i] == ".", Lexer.isDigit(scalars[i + 1]) {
      i += 1
      _ = digits()
    }
    // A duration: the number runs on into letters (and further number+unit parts).
    if i < scalars.count, Lexer.isLetter(scalars[i]) {
      while i < scalars.count,
        Lexer.isNameCharacter(scalars[i])
          || (scalars[i] == "." && i + 1 < scalars.count && Lexer.isDigit(scalars[i + 1]))
      {
        i += 1
      }
      let spelled = text(start, i)
      guard let duration = Duration.parse(spelled) else {
        throw ExpressionError(
          offset: start, message: "'\(spelled)' is not a duration (units: ms, s, m, h, d; like 250ms, 5m, 1h30m)")
      }
      return Token(kind: .duration(duration.microseconds), offset: start)
    }
    let spelled = text(start, i)
    guard let value = Double(spelled) else {
      throw ExpressionError(offset: start, message: "'\(spelled)' is not a number")
    }
    return Token(kind: .number(value), offset: start)
  }

  private func text(_ from: Int, _ to: Int) -> String { String(String.UnicodeScalarView(scalars[from..<to])) }
}
