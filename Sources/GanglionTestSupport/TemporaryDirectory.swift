import Glibc

/// A fresh directory under `/tmp` (mode 0700), removed with everything in it when the last
/// reference goes away.
///
/// Thread safety: immutable; the file helpers may be called from any thread.
public final class TemporaryDirectory: Sendable {
  /// Absolute path, without a trailing slash.
  public let path: String

  /// Creates `/tmp/<prefix>-XXXXXX`. Throws `TestSupportError` on failure.
  public init(prefix: String = "ganglion-test") throws(TestSupportError) {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard created != nil else {
      throw TestSupportError("cannot create a temporary directory: \(errnoText())")
    }
    path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
public func removeTree(_ path: String) {
  for entry in directoryEntries(path) ?? [] {
    let child = "\(path)/\(entry.name)"
    if entry.isDirectory { removeTree(child) } else { unlink(child) }
  }
  if rmdir(path) != 0 { unlink(path) }
}

/// The names in directory `path` (without `.` and `..`), or nil if it can't be read.
public func directoryEntries(_ path: String) -> [(name: String, isDirectory: Bool)]? {
  guard let directory = opendir(path) else { return nil }
  defer { closedir(directory) }
  var entries: [(name: String, isDirectory: Bool)] = []
  while let entry = readdir(directory) {
    let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    if name == "." || name == ".." { continue }
    entries.append((name, entry.pointee.d_type == UInt8(DT_DIR)))
  }
  return entries
}

/// Reads a whole file as UTF-8 (invalid bytes are replaced). Returns nil if it can't be read.
public func readTextFile(_ path: String) -> String? {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if count < 0, errno == EINTR { continue }
    guard count >= 0 else { return nil }
    if count == 0 { break }
    bytes += buffer[0..<count]
  }
  return String(decoding: bytes, as: UTF8.self)
}

/// Writes `bytes` to `path`, creating or truncating it.
public func writeFile(_ path: String, bytes: [UInt8]) throws(TestSupportError) {
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
  guard fd >= 0 else { throw TestSupportError("cannot create \(path): \(errnoText())") }
  defer { close(fd) }
  var offset = 0
  while offset < bytes.count {
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
    if written < 0, errno == EINTR { continue }
    guard written > 0 else { throw TestSupportError("cannot write \(path): \(errnoText())") }
    offset += written
  }
}

/// The text for the current `errno`.
func errnoText(_ code: Int32 = errno) -> String {
  guard let text = strerror(code) else { return "error \(code)" }
  return String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self)
}
