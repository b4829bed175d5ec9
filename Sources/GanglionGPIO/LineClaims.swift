/// One line of a claim, input or output, before it is resolved to a chip line.
enum LineRequest: Sendable {
  case input(GPIOInputRequest)
  case output(GPIOOutputRequest)

  var signal: String {
    switch self {
    case .input(let request): request.signal
    case .output(let request): request.signal
    }
  }

  var address: GPIOLineAddress {
    switch self {
    case .input(let request): request.address
    case .output(let request): request.address
    }
  }

  /// Inputs first, then outputs, in the order given.
  static func all(inputs: [GPIOInputRequest], outputs: [GPIOOutputRequest]) -> [LineRequest] {
    inputs.map(LineRequest.input) + outputs.map(LineRequest.output)
  }
}

/// A line after resolution: the chip's kernel name and the offset on it. Two requests that
/// resolve to the same key claim the same line, however they spelled it.
struct ResolvedLine: Sendable, Hashable, CustomStringConvertible {
  var chipName: String
  var offset: Int

  var description: String { "\(chipName) line \(offset)" }
}

enum LineClaims {
  /// Problems for a signal that appears more than once in one claim.
  static func duplicateSignals(_ requests: [LineRequest]) -> [GPIOError.Problem] {
    var seen: Set<String> = []
    var reported: Set<String> = []
    var problems: [GPIOError.Problem] = []
    for request in requests where !seen.insert(request.signal).inserted {
      guard reported.insert(request.signal).inserted else { continue }
      problems.append(
        .init(
          .signalClaimedTwice, signal: request.signal, address: request.address,
          "signal '\(request.signal)' is claimed more than once"))
    }
    return problems
  }

  /// Problems for lines that two signals claim (`gpiochip0 line 17 is claimed by both 'a'
  /// and 'b'`), given requests already resolved. Naming each request's own spelling when it
  /// differs from the resolved line (a name against an offset).
  static func duplicateLines(_ resolved: [(request: LineRequest, line: ResolvedLine)]) -> [GPIOError.Problem] {
    var owner: [ResolvedLine: LineRequest] = [:]
    var problems: [GPIOError.Problem] = []
    for (request, line) in resolved {
      guard let first = owner[line] else {
        owner[line] = request
        continue
      }
      func spelled(_ request: LineRequest) -> String {
        let address = request.address
        if case .offset(let offset) = address.line, offset == line.offset, address.chip == line.chipName {
          return "'\(request.signal)'"
        }
        return "'\(request.signal)' (as \(address))"
      }
      problems.append(
        .init(
          .lineClaimedTwice, signal: request.signal, address: request.address,
          "\(line) is claimed by both \(spelled(first)) and \(spelled(request))"))
    }
    return problems
  }

  /// `signal 'x': gpiochip0 line 3: ` — the prefix of per-line messages.
  static func prefix(_ request: LineRequest) -> String {
    "signal '\(request.signal)': \(request.address): "
  }
}
