/// Everything that went wrong in one GPIO operation. `claim` collects one problem per failing
/// line before throwing, so a configuration with three bad lines reports all three at once.
public struct GPIOError: Error, Sendable, CustomStringConvertible {
  /// One failure, with the signal and line it concerns.
  public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
      /// The chip does not exist (or could not be opened: see `errno`).
      case unknownChip
      /// No line with that name, or the offset is beyond the chip's lines.
      case unknownLine
      /// Two signals claim the same line.
      case lineClaimedTwice
      /// The same signal appears twice in one claim.
      case signalClaimedTwice
      /// The kernel refused the line request (busy, no permission, unsupported bias...).
      case requestFailed
      /// Reading or driving a claimed line failed.
      case ioFailed
      /// The signal is not claimed by this backend, or not in the direction asked for.
      case unknownSignal
      /// The call does not fit the backend's state (e.g. `start` before `claim`).
      case wrongState
      /// A system call the backend needs (pipe, poll, thread) failed.
      case system
    }

    public var kind: Kind
    /// The signal concerned, if any.
    public var signal: String?
    /// The line concerned, as it was requested.
    public var address: GPIOLineAddress?
    /// The errno of the failing call, if a system call failed.
    public var errno: Int32?
    /// The whole sentence, naming the signal, chip and line and the reason.
    public var message: String

    public init(
      _ kind: Kind, signal: String? = nil, address: GPIOLineAddress? = nil, errno: Int32? = nil,
      _ message: String
    ) {
      self.kind = kind
      self.signal = signal
      self.address = address
      self.errno = errno
      self.message = message
    }

    public var description: String { message }
  }

  /// Never empty.
  public var problems: [Problem]

  public init(_ problems: [Problem]) {
    precondition(!problems.isEmpty, "a GPIOError needs at least one problem")
    self.problems = problems
  }

  public init(_ problem: Problem) { self.init([problem]) }

  /// One line per problem.
  public var description: String { problems.map(\.message).joined(separator: "\n") }
}
