import GanglionCore

/// The static type of an expression. At run time every type is a `Value`: durations are
/// `.number` seconds, times of day `.number` seconds since local midnight, timestamps
/// `.number` seconds since the epoch; `.null` is unknown for every type.
enum ExprType: String, Sendable, Equatable {
  case bool, number, string, json, duration
  case timeOfDay = "time of day"
  case timestamp

  init(_ signalType: SignalType) {
    switch signalType {
    case .bool: self = .bool
    case .number: self = .number
    case .string: self = .string
    case .json: self = .json
    }
  }

  /// `a bool`, `a number`, ...
  var described: String {
    switch self {
    case .json: "json"
    default: "a \(rawValue)"
    }
  }

  var isOrdered: Bool { self != .bool }
}

/// One evaluable expression: reads engine state, returns a value (`.null` = unknown).
typealias Eval = @Sendable (EvalState) -> Value

/// A checked expression, ready to evaluate.
struct CompiledExpr: Sendable {
  var type: ExprType
  var eval: Eval
}

/// A window a rule reads: `avg(SIGNAL, WINDOW)` and friends.
struct WindowUse: Sendable, Hashable {
  var slot: Int
  var microseconds: Int64
}

/// What an expression reads, so the engine knows when to re-evaluate it.
struct Dependencies: Sendable {
  /// Slots whose events change the expression's value.
  var reads: Set<Int> = []
  var windows: Set<WindowUse> = []
  /// Slots read through `age()`: the value moves with time.
  var ages: Set<Int> = []
  /// Reads `time` or `weekday`.
  var readsLocalTime = false
  /// Duration literals (µs): candidate instants at which `age(x) > D` flips.
  var durations: Set<Int64> = []
  /// Time-of-day literals (seconds): candidate instants at which `time` comparisons flip.
  var timesOfDay: Set<Int> = []

  mutating func formUnion(_ other: Dependencies) {
    reads.formUnion(other.reads)
    windows.formUnion(other.windows)
    ages.formUnion(other.ages)
    readsLocalTime = readsLocalTime || other.readsLocalTime
    durations.formUnion(other.durations)
    timesOfDay.formUnion(other.timesOfDay)
  }

  var dependsOnTime: Bool { !windows.isEmpty || !ages.isEmpty || readsLocalTime }
}

/// What names mean inside one rule.
struct Scope {
  var catalog: SignalCatalog
  var slots: [String: Int]
  /// The type of `value`/`previous` in an `on` rule; nil outside `on` rules.
  var bindingType: ExprType?
}
