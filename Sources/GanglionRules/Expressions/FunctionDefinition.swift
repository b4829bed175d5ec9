import GanglionCore

/// One function of the expression language, complete: its name, what its arguments must be,
/// its type rule, what it makes an expression depend on, and its evaluation.
///
/// The checker knows nothing about particular functions: it looks the name up in
/// `Vocabulary.functions`, picks the definition whose parameters fit the call, checks the
/// arguments against `parameters` and hands them to `compile`. `compile` applies the type
/// rule (reporting through `FunctionCall.error`), records dependencies and returns the
/// evaluation closure, chosen once here so that evaluation compares no names.
///
/// A name may have several definitions of different shapes (`min(SIGNAL, WINDOW)` and
/// `min(a, b)`): the call's argument count chooses, and among definitions of the same count
/// the first whose `window` parameters are given duration literals.
struct FunctionDefinition: Sendable {
  /// What one argument must be.
  enum Parameter: Sendable {
    /// The name of a declared signal (not an expression): the function reads the signal's
    /// events. The expression then changes whenever the signal has an event.
    case signal(SignalRequirement)
    /// A positive duration literal, like `5m`: a window over the signal's recent events.
    case window
    /// Any expression; `placeholder` names it in signatures (`x`, `a`). Its type is the
    /// `compile` step's to check.
    case value(placeholder: String)

    var placeholder: String {
      switch self {
      case .signal: "SIGNAL"
      case .window: "WINDOW"
      case .value(let placeholder): placeholder
      }
    }
  }

  /// The signal types a `signal` parameter accepts.
  enum SignalRequirement: Sendable {
    case anyType
    /// Number signals (and json signals, whose values are checked when read).
    case numbers

    func accepts(_ type: ExprType) -> Bool {
      switch self {
      case .anyType: true
      case .numbers: type == .number || type == .json
      }
    }

    /// For messages: `avg() works on number signals`.
    var described: String {
      switch self {
      case .anyType: "signals of any type"
      case .numbers: "number signals"
      }
    }
  }

  /// The name as written in expressions.
  let name: String
  let parameters: [Parameter]
  /// Completes the signature in messages about a call that does not fit: `takes a signal
  /// and a window, like avg(living.temperature, 5m)`.
  let usage: String
  /// The type rule, the dependencies and the evaluation: given the checked arguments,
  /// returns the compiled call, or nil after reporting an error through `call.error`.
  let compile: @Sendable (_ call: inout FunctionCall) -> CompiledExpr?

  init(
    _ name: String, _ parameters: [Parameter], usage: String,
    compile: @escaping @Sendable (_ call: inout FunctionCall) -> CompiledExpr?
  ) {
    self.name = name
    self.parameters = parameters
    self.usage = usage
    self.compile = compile
  }

  /// How a call reads in messages: `avg(SIGNAL, WINDOW)`.
  var signature: String { "\(name)(\(parameters.map(\.placeholder).joined(separator: ", ")))" }
}

/// One call being compiled, as a function's `compile` step sees it: the arguments, already
/// checked against the definition's parameters, and where to put dependencies and errors.
struct FunctionCall {
  /// A checked argument, in the kind its parameter asked for.
  enum Argument {
    case signal(slot: Int, type: ExprType)
    case window(microseconds: Int64)
    case value(CompiledExpr)
  }

  let name: String
  /// Where the call starts in the expression text, for errors about the call as a whole.
  let offset: Int
  let arguments: [Argument]
  /// Where each argument starts, for errors about one argument.
  let argumentOffsets: [Int]
  /// What the call makes its expression depend on; the checker merges it into the
  /// expression's dependencies.
  var dependencies = Dependencies()
  /// Errors found by the type rule, at offsets in the expression text.
  private(set) var errors: [(message: String, offset: Int)] = []

  init(name: String, offset: Int, arguments: [Argument], argumentOffsets: [Int]) {
    self.name = name
    self.offset = offset
    self.arguments = arguments
    self.argumentOffsets = argumentOffsets
  }

  mutating func error(_ message: String, at offset: Int) { errors.append((message, offset)) }

  /// Argument `index`, declared `.signal` in the definition's parameters.
  func signal(_ index: Int) -> (slot: Int, type: ExprType) {
    guard case .signal(let slot, let type) = arguments[index] else { preconditionFailure(mismatch(index)) }
    return (slot, type)
  }

  /// Argument `index`, declared `.window`: the window in µs.
  func window(_ index: Int) -> Int64 {
    guard case .window(let microseconds) = arguments[index] else { preconditionFailure(mismatch(index)) }
    return microseconds
  }

  /// Argument `index`, declared `.value`.
  func value(_ index: Int) -> CompiledExpr {
    guard case .value(let compiled) = arguments[index] else { preconditionFailure(mismatch(index)) }
    return compiled
  }

  private func mismatch(_ index: Int) -> String {
    "\(name)(): argument \(index) is read as a different kind than its parameter declares"
  }
}

/// The events of one signal inside a window `(now - WINDOW, now]`, oldest first, as a window
/// function's evaluation sees them.
struct WindowEvents {
  let history: SignalHistory
  let range: Range<Int>

  @inline(__always)
  init(history: SignalHistory, now: Int64, window: Int64) {
    self.history = history
    range = history.firstIndex(now: now, window: window)..<history.endIndex
  }

  /// How many events, of any value.
  var count: Int { range.count }

  /// The number values among the events (a json signal's other values are skipped).
  var numbers: Numbers { Numbers(values: history.values, index: range.lowerBound, end: range.upperBound) }

  /// Whether any of the events changed the signal's value.
  var anyChanged: Bool {
    let changes = history.changes
    for i in range where changes[i] { return true }
    return false
  }

  struct Numbers: Sequence, IteratorProtocol {
    let values: [Value]
    var index: Int
    let end: Int

    @inline(__always)
    mutating func next() -> Double? {
      while index < end {
        let value = values[index]
        index += 1
        if case .number(let n) = value { return n }
      }
      return nil
    }
  }
}

extension FunctionDefinition {
  /// `NAME(SIGNAL, WINDOW)`: a function of the signal's events in the window. Records the
  /// window (the engine keeps that much history and re-evaluates when the window moves).
  /// - Parameters:
  ///   - signals: the signal types it works on.
  ///   - result: its type.
  ///   - withoutHistory: its value when the engine keeps no history for the signal (the
  ///     snapshot `explain` evaluates against).
  ///   - evaluate: the value over the window's events.
  static func window(
    _ name: String, of signals: SignalRequirement, result: ExprType = .number, withoutHistory: Value = .null,
    evaluate: @escaping @Sendable (WindowEvents) -> Value
  ) -> FunctionDefinition {
    FunctionDefinition(
      name, [.signal(signals), .window], usage: "takes a signal and a window, like \(name)(living.temperature, 5m)"
    ) { call in
      let slot = call.signal(0).slot
      let window = call.window(1)
      call.dependencies.windows.insert(WindowUse(slot: slot, microseconds: window))
      return CompiledExpr(
        type: result,
        eval: { state in
          guard let history = state.histories[slot] else { return withoutHistory }
          return evaluate(WindowEvents(history: history, now: state.now, window: window))
        })
    }
  }

  /// `NAME(x)` of one number (or duration, keeping its type): `abs`, `round`.
  static func number(_ name: String, _ function: @escaping @Sendable (Double) -> Double) -> FunctionDefinition {
    FunctionDefinition(name, [.value(placeholder: "x")], usage: "takes one number") { call in
      let x = call.value(0)
      guard x.type == .number || x.type == .duration || x.type == .json else {
        call.error("\(name)() needs a number, not \(x.type.described)", at: call.argumentOffsets[0])
        return nil
      }
      let xe = x.eval
      return CompiledExpr(
        type: x.type == .json ? .number : x.type,
        eval: { state in
          if case .number(let n) = xe(state) { return .number(function(n)) }
          return .null
        })
    }
  }

  /// `NAME(a, b)` of two values of one ordered type, giving that type: `min(a, b)`.
  static func pair(_ name: String, _ function: @escaping @Sendable (Double, Double) -> Double) -> FunctionDefinition {
    FunctionDefinition(name, [.value(placeholder: "a"), .value(placeholder: "b")], usage: "takes two numbers") {
      call in
      let a = call.value(0)
      let b = call.value(1)
      guard a.type == b.type || a.type == .json || b.type == .json, a.type.isOrdered, b.type.isOrdered else {
        call.error("\(name)(a, b) needs two numbers (or a signal and a window like 5m)", at: call.offset)
        return nil
      }
      let ae = a.eval
      let be = b.eval
      return CompiledExpr(
        type: a.type == .json ? b.type : a.type,
        eval: { state in
          guard case .number(let x) = ae(state), case .number(let y) = be(state) else { return .null }
          return .number(function(x, y))
        })
    }
  }
}

/// A name with a meaning of its own in expressions (`time`, `device`, and in `on` rules
/// `value`): its type, what reading it makes an expression depend on, and its evaluation.
struct NameDefinition: Sendable {
  enum Availability: Sendable {
    case everywhere
    /// Only in `on` rules, which bind the trigger event.
    case onRules
  }

  enum NameType: Sendable {
    case fixed(ExprType)
    /// The type of the `on` rule's trigger signal (json for signals of several types).
    case triggerSignal
  }

  let name: String
  let availability: Availability
  let type: NameType
  /// Records what reading the name makes an expression depend on (`time` moves with the
  /// local clock).
  let recordDependencies: @Sendable (inout Dependencies) -> Void
  let evaluate: Eval

  init(
    _ name: String, _ type: NameType, availability: Availability = .everywhere,
    recordDependencies: @escaping @Sendable (inout Dependencies) -> Void = { _ in }, evaluate: @escaping Eval
  ) {
    self.name = name
    self.type = type
    self.availability = availability
    self.recordDependencies = recordDependencies
    self.evaluate = evaluate
  }

  /// Whether the name means something in `scope`.
  func isAvailable(in scope: Scope) -> Bool { availability == .everywhere || scope.bindingType != nil }

  /// The name's type in `scope` (where it is available).
  func type(in scope: Scope) -> ExprType {
    switch type {
    case .fixed(let type): type
    case .triggerSignal: scope.bindingType ?? .json
    }
  }
}
