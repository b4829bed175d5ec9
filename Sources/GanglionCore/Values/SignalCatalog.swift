/// How a signal is fed: what may set it (config.md "Signals").
public enum SignalRole: String, Sendable, Hashable {
  /// Read from a GPIO line, an MQTT topic or the simulator; rules cannot `set` it.
  case input
  /// Drives a GPIO line; set by rules and commands.
  case output
  /// Exists only inside Ganglion; set by rules and commands.
  case virtual
}

/// What the rule checker and engine need to know about one declared signal.
public struct SignalInfo: Sendable, Hashable {
  public var name: String
  public var type: SignalType
  public var role: SignalRole
  /// Restore the last logged value at start-up.
  public var persist: Bool
  /// The value at start-up for outputs and virtual signals (nil: unknown).
  public var initial: Value?
  /// Where the signal is declared.
  public var location: SourceLocation?

  public init(
    name: String, type: SignalType, role: SignalRole, persist: Bool = false, initial: Value? = nil,
    location: SourceLocation? = nil
  ) {
    self.name = name
    self.type = type
    self.role = role
    self.persist = persist
    self.initial = initial
    self.location = location
  }

  /// Rules and commands may set it.
  public var isSettable: Bool { role != .input }
}

/// The declared signals, by name. Built from the config; given to the rule checker, the
/// engine and the command handlers.
public struct SignalCatalog: Sendable {
  public private(set) var signals: [String: SignalInfo] = [:]
  /// Names in declaration order.
  public private(set) var names: [String] = []
  /// Signals the configuration declares but could not decode (their errors are reported with
  /// it): checks of rules, which would call them unknown, stay silent about them, so that one
  /// mistake in the configuration is one error, not one more per rule that uses the signal.
  public var unusable: Set<String> = []

  public init(_ signals: [SignalInfo] = []) {
    for signal in signals { add(signal) }
  }

  /// Adds or replaces a signal.
  public mutating func add(_ signal: SignalInfo) {
    if signals.updateValue(signal, forKey: signal.name) == nil { names.append(signal.name) }
  }

  public subscript(name: String) -> SignalInfo? { signals[name] }

  public var all: [SignalInfo] { names.map { signals[$0]! } }
}
