import GanglionSystem

/// A fresh directory under `/tmp` (mode 0700), removed with everything in it when the last
/// reference goes away.
///
/// Thread safety: immutable; the file helpers may be called from any thread.
public final class TemporaryDirectory: Sendable {
  /// Absolute path, without a trailing slash.
  public let path: String

  /// Creates `/tmp/<prefix>-XXXXXX`. Throws `TestSupportError` on failure.
  public init(prefix: String = "ganglion-test") throws(TestSupportError) {
    do {
      path = try FileSystem.makeTemporaryDirectory(prefix: prefix)
    } catch {
      throw TestSupportError("\(error)")
    }
  }

  deinit {
    removeTree(path)
  }

  /// The path of `name` inside this directory.
  public func path(_ name: String) -> String { "\(path)/\(name)" }

  /// Writes `text` to `name` (created or replaced) and returns the file's path.
  @discardableResult
  public func write(_ text: String, to name: String) throws(TestSupportError) -> String {
    let filePath = path(name)
    try writeFile(filePath, bytes: Array(text.utf8))
    return filePath
  }
}

/// An error of a test helper, with a message that says what failed.
public struct TestSupportError: Error, Sendable, CustomStringConvertible {
  public var description: String

  public init(_ description: String) { self.description = description }
}

/// Removes `path` and, if it is a directory, everything below it (symbolic links are not
/// followed). Errors are ignored: it removes what it can.
public func removeTree(_ path: String) { FileSystem.removeTree(path) }

/// The names in directory `path` (without `.` and `..`), or nil if it can't be read.
public func directoryEntries(_ path: String) -> [(name: String, isDirectory: Bool)]? {
  try? FileSystem.entries(path)
}

/// Reads a whole file as UTF-8 (invalid bytes are replaced). Returns nil if it can't be read.
public func readTextFile(_ path: String) -> String? {
  try? FileSystem.readText(path, limit: Int.max)
}

/// Writes `bytes` to `path`, creating or truncating it.
public func writeFile(_ path: String, bytes: [UInt8]) throws(TestSupportError) {
  do {
    try FileSystem.writeFile(path, bytes: bytes)
  } catch {
    throw TestSupportError("\(error)")
  }
}
