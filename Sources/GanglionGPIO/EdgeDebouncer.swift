import GanglionCore

/// The debounce of one input line, as a pure state machine driven by the caller's clock, so
/// both backends (and tests) share it exactly.
///
/// Rule (config.md `debounce`): a change is reported only once the line has held a value
/// different from the last reported one for the whole period since its last edge; a burst of
/// edges that ends back at the reported value is suppressed. The reported edge keeps the time
/// of the first edge of the burst. A line that never settles for a full period reports
/// nothing until it does. With a zero period every change is reported at once.
///
/// Instants may be in any single time base (the hardware backend uses CLOCK_MONOTONIC, the
/// simulated board its wall clock); only differences matter.
public struct EdgeDebouncer: Sendable, Hashable {
  /// A change waiting for the line to settle.
  public struct Pending: Sendable, Hashable {
    /// The time of the first edge of the burst: the time the reported edge will carry.
    public var firstEdge: Timestamp
    /// The time of the latest edge; the change is due at `lastEdge + period`.
    public var lastEdge: Timestamp
    /// The current raw (logical) value of the line.
    public var value: Bool
  }

  public let period: Duration
  /// The last value reported (or the value at start).
  public private(set) var reported: Bool
  public private(set) var pending: Pending?

  public init(period: Duration, initial: Bool) {
    self.period = period > .zero ? period : .zero
    self.reported = initial
  }

  /// When `due(now:)` must next be called, if a change is waiting.
  public var deadline: Timestamp? { pending.map { $0.lastEdge + period } }

  /// Feeds an edge: the line's logical value became `value` at `time`. Returns the change to
  /// report now: with a zero period the edge itself; otherwise a waiting change that had
  /// already settled before `time` (edges may be read late, in a batch), while this edge
  /// starts or extends a burst that waits for `due(now:)`.
  /// An edge to the value already held is not a change (hardware may report two rising edges
  /// when a bounce is shorter than its sampling).
  public mutating func edge(to value: Bool, at time: Timestamp) -> (value: Bool, time: Timestamp)? {
    if period == .zero {
      guard value != reported else { return nil }
      reported = value
      return (value, time)
    }
    let settled = due(now: time)
    if var burst = pending {
      guard value != burst.value else { return settled }
      burst.value = value
      burst.lastEdge = max(burst.lastEdge, time)
      pending = burst
    } else if value != reported {
      pending = Pending(firstEdge: time, lastEdge: time, value: value)
    }
    return settled
  }

  /// Settles a waiting change whose deadline is at or before `now`: returns it if the line
  /// ended at a value different from the reported one, nil if the burst reverted (or nothing
  /// is due).
  public mutating func due(now: Timestamp) -> (value: Bool, time: Timestamp)? {
    guard let burst = pending, burst.lastEdge + period <= now else { return nil }
    pending = nil
    guard burst.value != reported else { return nil }
    reported = burst.value
    return (burst.value, burst.firstEdge)
  }
}
