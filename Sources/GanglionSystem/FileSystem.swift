import Glibc

/// Calls on paths: whole small files, folders, and path arithmetic. Every call checks its
/// result and reads errno immediately; failures are `SystemError`s naming the path.
/// Blocking: these are short local operations, done at start-up, reload, from the CLI and
/// from dedicated threads, never on the cooperative pool's hot path.
public enum FileSystem {
  /// The whole file as UTF-8 text (invalid bytes replaced).
  /// - Throws: `SystemError` when it cannot be opened or read, when it is not a regular file
  ///   (a FIFO, a device, a socket, a folder: named in `reason`), or (EFBIG) when it is
  ///   larger than `limit` bytes.
  public static func readText(_ path: String, limit: Int = 4 << 20) throws(SystemError) -> String {
    String(decoding: try readBytes(path, limit: limit), as: UTF8.self)
  }

  /// The whole file's bytes; see `readText`. Never waits for a writer: the file is opened
  /// non-blocking (a FIFO opens at once instead of waiting for one) and refused unless it is
  /// a regular file, and one larger than `limit` is refused before it is read.
  public static func readBytes(_ path: String, limit: Int = 4 << 20) throws(SystemError) -> [UInt8] {
    let fd = try FileIO.open(path, .readNonBlocking)
    defer { try? FileIO.close(fd, path: path) }
    let status = try FileIO.status(fd, path: path)
    guard status.kind == .file else {
      throw SystemError(
        code: status.kind == .directory ? EISDIR : EINVAL, operation: "read", subject: path,
        reason: "it is \(status.kindDescription), not a regular file")
    }
    guard status.size <= Int64(limit) else {
      throw SystemError(
        code: EFBIG, operation: "read", subject: path,
        reason: "it is \(status.size) bytes, larger than the limit of \(limit)")
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Int(status.size))
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = try chunk.withMutableBytes { buffer throws(SystemError) in try FileIO.read(fd, into: buffer, path: path) }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
      if bytes.count > limit {  // it grew while being read
        throw SystemError(
          code: EFBIG, operation: "read", subject: path, reason: "it is larger than the limit of \(limit) bytes")
      }
    }
    return bytes
  }

  /// Writes `bytes` to `path`, creating it (with `permissions`, minus the umask) or emptying
  /// it first. Not atomic: for files that must survive a crash whole, see the log's state
  /// files.
  public static func writeFile(_ path: String, bytes: [UInt8], permissions: UInt32 = 0o644) throws(SystemError) {
    let fd = try FileIO.open(path, .writeTruncate, permissions: permissions)
    defer { try? FileIO.close(fd, path: path) }
    try bytes.withBytes { raw throws(SystemError) in try FileIO.writeAll(fd, raw, path: path) }
  }

  public enum Kind: Equatable {
    case file, directory, missing
    /// Something else (a FIFO, a device, a socket), described for messages (`a FIFO (named pipe)`).
    case other(String)
  }

  /// What `path` is, following symbolic links.
  public static func kind(of path: String) -> Kind {
    guard let status = try? status(of: path) else { return .missing }
    switch status.kind {
    case .file: return .file
    case .directory: return .directory
    default: return .other(status.kindDescription)
    }
  }

  /// `stat` of `path` (following links). The corresponding C function is `stat`.
  public static func status(of path: String) throws(SystemError) -> FileStatus {
    try refuseNUL(path, "stat")
    var info = stat()
    _ = try retryingOnInterrupt("stat", path) { stat(path, &info) }
    return FileStatus(info)
  }

  /// The size of a file, nil if it does not exist.
  public static func size(of path: String) throws(SystemError) -> Int64? {
    do {
      return try status(of: path).size
    } catch  where error.isNoSuchEntry {
      return nil
    }
  }

  /// What makes a file the same file however its path is spelled (`../rules/a.yaml`,
  /// `a.yaml`, a symbolic link): its device and inode.
  public struct Identity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64
  }

  /// The identity of the file `path` names (following symbolic links); nil when it does not
  /// exist or cannot be examined.
  public static func identity(of path: String) -> Identity? {
    guard let status = try? status(of: path) else { return nil }
    return Identity(device: status.device, inode: status.inode)
  }

  /// Whether two paths name the same file (same device and inode), however they are spelled.
  public static func isSameFile(_ a: String, _ b: String) -> Bool {
    guard let first = identity(of: a), let second = identity(of: b) else { return false }
    return first == second
  }

  /// Where the symbolic link `path` points, as stored in the link (relative targets stay
  /// relative to the link's folder); nil when `path` is not a symbolic link or cannot be read.
  /// The corresponding C function is `readlink`.
  public static func linkTarget(of path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Names of the entries of a directory (not `.`/`..`), sorted. The corresponding C
  /// functions are `opendir`/`readdir`.
  public static func list(_ directory: String) throws(SystemError) -> [String] {
    try entries(directory).map(\.name).sorted()
  }

  /// The entries of a directory (not `.`/`..`), unsorted, with whether each is a directory
  /// itself (not following links).
  public static func entries(_ directory: String) throws(SystemError) -> [(name: String, isDirectory: Bool)] {
    try refuseNUL(directory, "list")
    guard let dir = opendir(directory) else { throw SystemError.current("list", directory) }
    defer { closedir(dir) }
    var entries: [(name: String, isDirectory: Bool)] = []
    while true {
      errno = 0
      guard let entry = readdir(dir) else {
        let code = errno
        if code != 0 { throw SystemError(code: code, operation: "list", subject: directory) }
        break
      }
      let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { entries.append((name, entry.pointee.d_type == UInt8(DT_DIR))) }
    }
    return entries
  }

  /// Creates the directory and its missing parents (`mkdir -p`); fine if it exists.
  /// - Throws: `SystemError` when a part cannot be created, or (ENOTDIR) when `path`
  ///   exists and is not a directory.
  public static func makeDirectories(_ path: String, permissions: UInt32 = 0o755) throws(SystemError) {
    try refuseNUL(path, "create directory")
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
      current += "/" + component
      if mkdir(current, mode_t(permissions)) != 0 {
        let code = errno
        if code != EEXIST { throw SystemError(code: code, operation: "create directory", subject: current) }
      }
    }
    guard try status(of: path).kind == .directory else {
      throw SystemError(code: ENOTDIR, operation: "create directory", subject: path)
    }
  }

  /// A fresh directory `/tmp/<prefix>-XXXXXX` (mode 0700). The corresponding C function is
  /// `mkdtemp`.
  public static func makeTemporaryDirectory(prefix: String) throws(SystemError) -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard created != nil else { throw SystemError.current("create a temporary directory", "/tmp") }
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Removes `path` and, if it is a directory, everything below it (symbolic links are not
  /// followed). Removes what it can; errors are ignored.
  public static func removeTree(_ path: String) {
    guard !path.utf8.contains(0) else { return }
    for entry in (try? entries(path)) ?? [] {
      let child = "\(path)/\(entry.name)"
      if entry.isDirectory { removeTree(child) } else { Glibc.unlink(child) }
    }
    if rmdir(path) != 0 { Glibc.unlink(path) }
  }

  /// The corresponding C function is `rename`.
  public static func rename(_ from: String, to: String) throws(SystemError) {
    try refuseNUL(from, "rename")
    try refuseNUL(to, "rename to")
    _ = try retryingOnInterrupt("rename to \(to)", from) { Glibc.rename(from, to) }
  }

  /// Removes a file; a missing file is not an error. The corresponding C function is `unlink`.
  public static func unlink(_ path: String) throws(SystemError) {
    try refuseNUL(path, "unlink")
    do {
      _ = try retryingOnInterrupt("unlink", path) { Glibc.unlink(path) }
    } catch  where error.isNoSuchEntry {}
  }

  /// Makes a folder's entries (created, renamed files) durable. The corresponding C function
  /// is `fsync`.
  public static func syncDirectory(_ path: String) throws(SystemError) {
    let fd = try FileIO.open(path, .read)
    defer { try? FileIO.close(fd, path: path) }
    try FileIO.fsync(fd, path: path)
  }

  /// `path` resolved against `base` unless it is absolute; `./` prefixes dropped.
  public static func resolve(_ path: String, relativeTo base: String) -> String {
    if path.hasPrefix("/") || base.isEmpty || base == "." { return normalize(path) }
    return normalize(base + "/" + path)
  }

  /// The last part of a path (`gpiochip0` of `/dev/gpiochip0`).
  public static func basename(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
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
}
