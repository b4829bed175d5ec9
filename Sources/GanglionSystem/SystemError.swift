import Glibc

/// A failed system call: its errno, what was attempted and on what. The one error type of the
/// system layer; modules above it wrap it in their own typed errors when they add context.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The errno value.
  public var code: Int32
  /// The call or step that failed, in words: `open`, `pwrite`, `connect to`, `start a thread`.
  public var operation: String?
  /// What it concerned: a path, an address, a thread's name.
  public var subject: String?
  /// Why, in words, when errno's text would not say it (`it is a FIFO (named pipe), not a
  /// regular file`); nil for errno's text.
  public var reason: String?

  public init(code: Int32, operation: String? = nil, subject: String? = nil, reason: String? = nil) {
    self.code = code
    self.operation = operation
    self.subject = subject
    self.reason = reason
  }

  /// The errno of the call that just failed. Call it right after the failing call, before
  /// anything else can change errno.
  public static func current(_ operation: String? = nil, _ subject: String? = nil) -> SystemError {
    SystemError(code: errno, operation: operation, subject: subject)
  }

  /// `reason`, else the C library's text for `code` (`No such file or directory`).
  public var text: String { reason ?? errnoText(code) }

  /// `/etc/x.yaml: cannot open: No such file or directory`; without a subject or operation,
  /// only what is known (`No such file or directory (errno 2)`).
  public var description: String {
    switch (subject, operation) {
    case (let subject?, let operation?): "\(subject): cannot \(operation): \(text)"
    case (nil, let operation?): "cannot \(operation): \(text)"
    case (let subject?, nil): "\(subject): \(text)"
    case (nil, nil): "\(text) (errno \(code))"
    }
  }

  /// The same error, said of another operation or subject.
  public func about(_ operation: String? = nil, _ subject: String? = nil) -> SystemError {
    SystemError(code: code, operation: operation ?? self.operation, subject: subject ?? self.subject, reason: reason)
  }

  /// ENOENT: no such file, chip or line.
  public var isNoSuchEntry: Bool { code == ENOENT }
  /// EACCES or EPERM: this process may not use it.
  public var isPermissionDenied: Bool { code == EACCES || code == EPERM }
  /// EBUSY: someone else holds it.
  public var isBusy: Bool { code == EBUSY }
  /// EINVAL: the kernel rejects the arguments.
  public var isInvalidArgument: Bool { code == EINVAL }
  /// EINTR, EAGAIN or EWOULDBLOCK: nothing wrong, try again later.
  public var isInterruptedOrWouldBlock: Bool { code == EINTR || code == EAGAIN || code == EWOULDBLOCK }
  /// ENOSPC, EDQUOT or EROFS: no room or no write access right now.
  public var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT || code == EROFS }
  /// ECONNREFUSED: nothing listens on that port.
  public var isConnectionRefused: Bool { code == ECONNREFUSED }
  /// ETIMEDOUT, or a read or write time-out (EAGAIN on a socket with SO_RCVTIMEO).
  public var isTimeOut: Bool { code == ETIMEDOUT || code == EAGAIN || code == EWOULDBLOCK }
  /// EADDRINUSE: the port is taken.
  public var isAddressInUse: Bool { code == EADDRINUSE }
  /// ENOTSUP / EOPNOTSUPP: the call is not supported here.
  public var isNotSupported: Bool { code == ENOTSUP || code == EOPNOTSUPP }

  /// errno values callers name, so that no module above this one needs Glibc.
  public static let noSuchEntry = ENOENT
  public static let invalidArgument = EINVAL
  public static let inputOutput = EIO
  public static let noSpace = ENOSPC
  public static let readOnlyFileSystem = EROFS
  public static let permissionDenied = EACCES
  public static let busy = EBUSY
  public static let fileTooLarge = EFBIG
  public static let notADirectory = ENOTDIR
  public static let isADirectory = EISDIR
  public static let tooManyOpenFiles = EMFILE
  public static let wouldBlock = EWOULDBLOCK
  public static let noDevice = ENODEV
  public static let outOfMemory = ENOMEM
  public static let protocolError = EPROTO
}

/// Refuses `text` as a C string argument of `operation` when it holds a NUL byte: C would see
/// only the part before it (a path `rules.yaml` + NUL + `../x` would open `rules.yaml`). Every
/// path, host or argument of this layer passes it before it reaches a C call.
/// - Throws: `SystemError` (EINVAL) naming the operation and the text (NUL shown as `\0`).
func refuseNUL(_ text: String, _ operation: String) throws(SystemError) {
  guard text.utf8.contains(0) else { return }
  throw SystemError(
    code: EINVAL, operation: "\(operation) (the name holds a NUL byte)",
    subject: text.split(separator: "\u{0}", omittingEmptySubsequences: false).joined(separator: "\\0"))
}

/// The C library's text for an errno value. The corresponding C function is `strerror`.
public func errnoText(_ code: Int32) -> String {
  guard let text = strerror(code) else { return "errno \(code)" }
  return String(cString: text)
}
