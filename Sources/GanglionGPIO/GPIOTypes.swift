import GanglionCore

/// The internal resistor a GPIO input asks for (config.md `bias`).
public enum GPIOBiasSetting: Sendable, Hashable {
  /// Leave whatever the board or firmware configured.
  case asIs
  /// Pull the line high: an unconnected line reads high.
  case pullUp
  /// Pull the line low: an unconnected line reads low.
  case pullDown
  /// No pull resistor: an unconnected line floats.
  case disable
}

/// A line on a chip, by offset or by the name the kernel (device tree) gives it.
public enum GPIOLineID: Sendable, Hashable, CustomStringConvertible {
  case offset(Int)
  case name(String)

  public var description: String {
    switch self {
    case .offset(let offset): "\(offset)"
    case .name(let name): "'\(name)'"
    }
  }
}

/// Where a signal lives: a chip and a line on it.
public struct GPIOLineAddress: Sendable, Hashable, CustomStringConvertible {
  /// The chip as config.md allows it: its name (`gpiochip0`), its path (`/dev/gpiochip0`),
  /// its number (`0`) or its label (`pinctrl-rp1`).
  public var chip: String
  public var line: GPIOLineID

  public init(chip: String, line: GPIOLineID) {
    self.chip = chip
    self.line = line
  }

  public init(chip: String, offset: Int) {
    self.init(chip: chip, line: .offset(offset))
  }

  /// `gpiochip0 line 17`, `gpiochip0 line 'PIR'`.
  public var description: String { "\(chip) line \(line)" }
}

/// A GPIO input to claim: edges on it become events of `signal`.
public struct GPIOInputRequest: Sendable, Hashable {
  public var signal: String
  public var address: GPIOLineAddress
  public var bias: GPIOBiasSetting
  /// When true the logical value is the inverse of the physical level.
  public var activeLow: Bool
  /// Changes that revert within this period are suppressed (see `EdgeDebouncer`); zero
  /// delivers every change.
  public var debounce: Duration

  public init(
    signal: String, address: GPIOLineAddress, bias: GPIOBiasSetting = .asIs, activeLow: Bool = false,
    debounce: Duration = .zero
  ) {
    self.signal = signal
    self.address = address
    self.bias = bias
    self.activeLow = activeLow
    self.debounce = debounce
  }
}

/// A GPIO output to claim and drive.
public struct GPIOOutputRequest: Sendable, Hashable {
  public var signal: String
  public var address: GPIOLineAddress
  /// When true, logical `true` drives the line low.
  public var activeLow: Bool
  /// The logical value driven as soon as the line is claimed.
  public var initial: Bool

  public init(signal: String, address: GPIOLineAddress, activeLow: Bool = false, initial: Bool = false) {
    self.signal = signal
    self.address = address
    self.activeLow = activeLow
    self.initial = initial
  }
}

/// A (debounced) change of a claimed input.
public struct GPIOEdge: Sendable, Hashable, CustomStringConvertible {
  public var signal: String
  /// The logical value after the change (`active_low` applied).
  public var value: Bool
  /// When the change happened, in wall-clock time: for hardware the kernel's timestamp of
  /// the first edge, for the simulated board its clock at the first edge.
  public var time: Timestamp

  public init(signal: String, value: Bool, time: Timestamp) {
    self.signal = signal
    self.value = value
    self.time = time
  }

  public var description: String { "\(signal)=\(value) at \(time)" }
}

/// Edges of an input that the kernel dropped because its queue for the line was full (the
/// edges came faster than they were read).
public struct GPIOLostEdges: Sendable, Hashable, CustomStringConvertible {
  public var signal: String
  /// How many: exact with libgpiod 2.x (every edge is numbered); nil with 1.x, which only
  /// shows that the queue was full (some edges may have been lost, how many is unknown).
  public var count: Int?
  /// When the loss was found.
  public var time: Timestamp

  public init(signal: String, count: Int?, time: Timestamp) {
    self.signal = signal
    self.count = count
    self.time = time
  }

  public var description: String {
    "\(signal): \(count.map { "\($0) edges lost" } ?? "the kernel's edge queue was full; edges may have been lost")"
  }
}
