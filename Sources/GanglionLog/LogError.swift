import GanglionSystem

/// Why a log operation failed, with the file and the operation that failed.
///
/// `code` tells what went wrong; `operation` and `path` say where, so a message like
/// `fdatasync /var/lib/ganglion/log/00000000000000001042.seg: Input/output error (errno 5)`
/// can be logged as is.
public struct LogError: Error, Sendable, Equatable, CustomStringConvertible {
  public enum Code: Sendable, Equatable {
    /// A system call failed with this `errno`.
    case system(errno: Int32)
    /// Another writer holds the log folder's lock file.
    case locked
    /// `LogOptions` that cannot work (see `LogOptions`).
    case invalidOptions
    /// A file has bytes that are not a valid record or header (`detail` says which).
    case corrupt
    /// A record or segment written by a newer version of Ganglion.
    case unsupportedVersion
    /// The writer was closed, or an earlier sync failed and the log can no longer be trusted.
    case unusable
  }

  public var code: Code
  /// The system call or step that failed: `open`, `pwrite`, `fdatasync`, `flock`, `recover`...
  public var operation: String
  /// The file or folder it concerned.
  public var path: String
  /// More context, when there is some.
  public var detail: String?

  public init(code: Code, operation: String, path: String, detail: String? = nil) {
    self.code = code
    self.operation = operation
    self.path = path
    self.detail = detail
  }

  /// The `errno` of a failed system call, nil for other errors.
  public var errno: Int32? {
    if case .system(let e) = code { e } else { nil }
  }

  /// True for errors that mean "no room or no write access right now" (ENOSPC, EDQUOT, EROFS):
  /// the writer drops records and retries later instead of failing.
  public var isOutOfSpace: Bool {
    guard let e = errno else { return false }
    return SystemError(code: e).isOutOfSpace
  }

  public var description: String {
    var text = "\(operation) \(path): "
    switch code {
    case .system(let e): text += "\(Sys.errorText(e)) (errno \(e))"
    case .locked: text += "the log is in use by another writer (is the daemon running?)"
    case .invalidOptions: text += "invalid log options"
    case .corrupt: text += "corrupt data"
    case .unsupportedVersion: text += "written by a newer version"
    case .unusable: text += "the log writer is closed or failed"
    }
    if let detail { text += ": \(detail)" }
    return text
  }
}
