import Glibc

/// Why a file could not be read or listed: the path, the operation and the errno text.
public struct FileError: Error, Sendable, CustomStringConvertible {
  public var path: String
  public var operation: String
  public var code: Int32

  public var description: String { "\(path): cannot \(operation): \(String(cString: strerror(code)))" }
}

/// The daemon's small file needs (config, rules, profiles). The only file in this module
/// that calls the C file API; every call checks its result and reads errno immediately.
/// Blocking: these are short local reads, done at start-up and reload, never on the
/// cooperative pool's hot path.
public enum FileSystem {
  /// The whole file as UTF-8 text (invalid bytes replaced). Refuses files over `limit` bytes.
  public static func readText(_ path: String, limit: Int = 4 << 20) throws(FileError) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw FileError(path: path, operation: "read", code: errno)
      }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
      if bytes.count > limit {
        throw FileError(path: path, operation: "read (larger than \(limit) bytes)", code: EFBIG)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  public enum Kind { case file, directory, missing, other }

  public static func kind(of path: String) -> Kind {
    var info = stat()
    guard stat(path, &info) == 0 else { return .missing }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return .file
    case S_IFDIR: return .directory
    default: return .other
    }
  }

  /// Whether two paths name the same file (same device and inode), however they are spelled.
  public static func isSameFile(_ a: String, _ b: String) -> Bool {
    var first = stat()
    var second = stat()
    guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
    return first.st_dev == second.st_dev && first.st_ino == second.st_ino
  }

  /// Names of the entries of a directory (not `.`/`..`), sorted.
  public static func list(_ directory: String) throws(FileError) -> [String] {
    guard let dir = opendir(directory) else { throw FileError(path: directory, operation: "list", code: errno) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafePointer(to: entry.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  /// Creates the directory and its parents (mode 0755); fine if it exists.
  public static func makeDirectories(_ path: String) throws(FileError) {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
      current += "/" + component
      if mkdir(current, 0o755) != 0 && errno != EEXIST {
        throw FileError(path: current, operation: "create directory", code: errno)
      }
    }
  }

  /// `path` resolved against `base` unless it is absolute; `./` prefixes dropped.
  public static func resolve(_ path: String, relativeTo base: String) -> String {
    if path.hasPrefix("/") || base.isEmpty || base == "." { return normalize(path) }
    return normalize(base + "/" + path)
  }

  /// The folder part of a path (`.` when it has none).
  public static func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  /// Removes `.` components and folds `x/..` where possible, keeping the path relative if it was.
  public static func normalize(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    var parts: [Substring] = []
    for part in path.split(separator: "/") {
      if part == "." { continue }
      if part == "..", let last = parts.last, last != ".." {
        parts.removeLast()
        continue
      }
      parts.append(part)
    }
    let joined = parts.joined(separator: "/")
    if absolute { return "/" + joined }
    return joined.isEmpty ? "." : joined
  }

  /// The value of an environment variable, if set and not empty.
  public static func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
  }
}
