import GanglionSystem

/// A small state file kept beside the segments (the MQTT outbox's delivered seq, the rules'
/// running countdowns): replaced whole with tmp + fsync + rename + directory fsync, so a
/// reader after a crash sees the old contents or the new, never a torn mix.
///
/// Not thread-safe; blocking (it fsyncs): call it from the thread that owns the log, at most
/// once per sync interval.
public struct LogStateFile: Sendable {
  public let directory: String
  public let name: String

  public init(directory: String, name: String) {
    self.directory = directory
    self.name = name
  }

  public var path: String { directory + "/" + name }

  /// Replaces the file's contents durably.
  /// - Throws: `LogError` when a step fails (disk full, read-only disk); the old contents stay.
  public func write(_ text: String) throws(LogError) {
    try write(bytes: Array(text.utf8))
  }

  /// Replaces the file's contents durably with `bytes`.
  /// - Throws: `LogError` when a step fails (disk full, read-only disk); the old contents stay.
  public func write(bytes: [UInt8]) throws(LogError) {
    let tmpPath = path + ".tmp"
    try Sys.unlink(tmpPath)
    let fd = try Sys.open(tmpPath, .createExclusive)
    do {
      try bytes.withBytes { (raw) throws(LogError) in
        try Sys.pwriteAll(fd, raw, offset: 0, path: tmpPath)
      }
      try Sys.fsync(fd, path: tmpPath)
      try Sys.close(fd, path: tmpPath)
    } catch {
      _ = try? Sys.close(fd, path: tmpPath)
      try? Sys.unlink(tmpPath)
      throw error
    }
    try Sys.rename(tmpPath, to: path)
    try Sys.syncDirectory(directory)
  }

  /// The contents, or nil when the file does not exist.
  /// - Throws: `LogError` when it exists but cannot be read.
  public func read() throws(LogError) -> String? {
    try readBytes().map { String(decoding: $0, as: UTF8.self) }
  }

  /// The contents as bytes, or nil when the file does not exist.
  /// - Throws: `LogError` when it exists but cannot be read.
  public func readBytes() throws(LogError) -> [UInt8]? {
    guard let size = try Sys.fileSize(path: path) else { return nil }
    let fd = try Sys.open(path, .read)
    defer { _ = try? Sys.close(fd, path: path) }
    var bytes = [UInt8](repeating: 0, count: Int(size))
    let got = try bytes.withMutableBytes { (raw) throws(LogError) -> Int in
      try Sys.preadFull(fd, into: raw, offset: 0, path: path)
    }
    return Array(bytes[0..<got])
  }

  /// Removes the file; a missing file is no error.
  /// - Throws: `LogError` when it exists and cannot be removed.
  public func remove() throws(LogError) {
    try Sys.unlink(path)
    try Sys.syncDirectory(directory)
  }
}
