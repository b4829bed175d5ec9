import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// errno values the log reacts to, so the rest of the module needs no Glibc.
enum SystemErrno {
  static let noSpace = ENOSPC
  static let quota = EDQUOT
  static let readOnly = EROFS
  static let notFound = ENOENT
  static let wouldBlock = EWOULDBLOCK
  static let io = EIO
}

/// The one place GanglionLog calls the C library. Every call checks its return value and
/// reads `errno` at once; failures become `LogError`s naming the operation and the path.
/// Calls retry on EINTR. All of them block the calling thread (file I/O).
enum Sys {
  static func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error" }
    return String(cString: text)
  }

  private static func fail(_ operation: String, _ path: String, _ code: Int32 = errno) -> LogError {
    LogError(code: .system(errno: code), operation: operation, path: path)
  }

  // MARK: files

  enum OpenMode {
    /// Read only.
    case read
    /// Read and write; create if missing (mode 0644).
    case readWriteCreate
    /// Read and write; create, fail if it exists.
    case createExclusive
    /// Read and write, must exist.
    case readWrite
  }

  /// The corresponding C function is `open` (with O_CLOEXEC).
  static func open(_ path: String, _ mode: OpenMode) throws(LogError) -> Int32 {
    let flags: Int32
    switch mode {
    case .read: flags = O_RDONLY | O_CLOEXEC
    case .readWriteCreate: flags = O_RDWR | O_CREAT | O_CLOEXEC
    case .createExclusive: flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC
    case .readWrite: flags = O_RDWR | O_CLOEXEC
    }
    while true {
      let fd = Glibc.open(path, flags, 0o644)
      if fd >= 0 { return fd }
      let e = errno
      if e != EINTR { throw fail("open", path, e) }
    }
  }

  /// The corresponding C function is `close`. EINTR is not retried (Linux closes anyway).
  static func close(_ fd: Int32, path: String) throws(LogError) {
    if Glibc.close(fd) != 0 {
      let e = errno
      if e != EINTR { throw fail("close", path, e) }
    }
  }

  /// Writes all of `bytes` at `offset`. The corresponding C function is `pwrite`.
  /// On failure, some prefix of `bytes` may be on file: `LogError` does not say how much.
  static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, offset: Int64, path: String) throws(LogError) {
    var done = 0
    while done < bytes.count {
      let n = Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
      if n < 0 {
        let e = errno
        if e == EINTR { continue }
        throw fail("pwrite", path, e)
      }
      if n == 0 { throw fail("pwrite", path, EIO) }
      done += n
    }
  }

  /// Reads up to `buffer.count` bytes at `offset`, stopping early only at end of file.
  /// Returns how many bytes were read. The corresponding C function is `pread`.
  static func preadFull(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int64, path: String
  ) throws(LogError) -> Int {
    var done = 0
    while done < buffer.count {
      let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
      if n < 0 {
        let e = errno
        if e == EINTR { continue }
        throw fail("pread", path, e)
      }
      if n == 0 { break }
      done += n
    }
    return done
  }

  #if DEBUG
    /// Tests only: fdatasync of a path under one of these prefixes fails with the errno.
    static let injectedSyncFailures = Mutex<[String: Int32]>([:])
  #endif

  /// The corresponding C function is `fdatasync`.
  static func fdatasync(_ fd: Int32, path: String) throws(LogError) {
    #if DEBUG
      let injected = injectedSyncFailures.withLock { failures in
        failures.first { path.hasPrefix($0.key) }?.value
      }
      if let injected { throw fail("fdatasync", path, injected) }
    #endif
    while Glibc.fdatasync(fd) != 0 {
      let e = errno
      if e != EINTR { throw fail("fdatasync", path, e) }
    }
  }

  /// The corresponding C function is `fsync`.
  static func fsync(_ fd: Int32, path: String) throws(LogError) {
    while Glibc.fsync(fd) != 0 {
      let e = errno
      if e != EINTR { throw fail("fsync", path, e) }
    }
  }

  /// The corresponding C function is `ftruncate`.
  static func ftruncate(_ fd: Int32, size: Int64, path: String) throws(LogError) {
    while Glibc.ftruncate(fd, off_t(size)) != 0 {
      let e = errno
      if e != EINTR { throw fail("ftruncate", path, e) }
    }
  }

  /// The size of an open file. The corresponding C function is `fstat`.
  static func fileSize(_ fd: Int32, path: String) throws(LogError) -> Int64 {
    var info = stat()
    if Glibc.fstat(fd, &info) != 0 { throw fail("fstat", path) }
    return Int64(info.st_size)
  }

  /// The size of a file by path, nil if it does not exist. The corresponding C function is `stat`.
  static func fileSize(path: String) throws(LogError) -> Int64? {
    var info = stat()
    if stat(path, &info) != 0 {
      let e = errno
      if e == ENOENT { return nil }
      throw fail("stat", path, e)
    }
    return Int64(info.st_size)
  }

  /// The corresponding C function is `rename`.
  static func rename(_ from: String, to: String) throws(LogError) {
    if Glibc.rename(from, to) != 0 {
      let e = errno
      throw LogError(code: .system(errno: e), operation: "rename", path: from, detail: "to \(to)")
    }
  }

  /// Removes a file; a missing file is not an error. The corresponding C function is `unlink`.
  static func unlink(_ path: String) throws(LogError) {
    if Glibc.unlink(path) != 0 {
      let e = errno
      if e != ENOENT { throw fail("unlink", path, e) }
    }
  }

  // MARK: folders

  /// Creates `path` and missing parents (mode 0755), like `mkdir -p`.
  /// The corresponding C function is `mkdir`.
  static func makeDirectories(_ path: String) throws(LogError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
      prefix += component
      if Glibc.mkdir(prefix, 0o755) != 0 {
        let e = errno
        if e != EEXIST { throw fail("mkdir", prefix, e) }
      }
      prefix += "/"
    }
    var info = stat()
    if stat(path, &info) != 0 { throw fail("stat", path) }
    if info.st_mode & S_IFMT != S_IFDIR { throw fail("mkdir", path, ENOTDIR) }
  }

  /// Names in a folder, without `.` and `..`. The corresponding C functions are `opendir`/`readdir`.
  static func listDirectory(_ path: String) throws(LogError) -> [String] {
    guard let dir = Glibc.opendir(path) else { throw fail("opendir", path) }
    defer { Glibc.closedir(dir) }
    var names: [String] = []
    while true {
      errno = 0
      guard let entry = Glibc.readdir(dir) else {
        let e = errno
        if e != 0 { throw fail("readdir", path, e) }
        break
      }
      let name = withUnsafePointer(to: &entry.pointee.d_name) {
        String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// Makes a folder's entries (created, renamed files) durable. The corresponding C function is `fsync`.
  static func syncDirectory(_ path: String) throws(LogError) {
    let fd = try open(path, .read)
    defer { _ = Glibc.close(fd) }
    try fsync(fd, path: path)
  }

  // MARK: locking and time

  /// Takes an exclusive `flock` without waiting. Returns false if another open file
  /// description holds it. The corresponding C function is `flock`.
  static func tryLockExclusive(_ fd: Int32, path: String) throws(LogError) -> Bool {
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let e = errno
      if e == EINTR { continue }
      if e == EWOULDBLOCK { return false }
      throw fail("flock", path, e)
    }
    return true
  }

  /// Releases an `flock` explicitly, so it ends now even if a copy of the descriptor lives on
  /// (in a child between fork and exec). The corresponding C function is `flock`.
  static func unlock(_ fd: Int32, path: String) throws(LogError) {
    while flock(fd, LOCK_UN) != 0 {
      let e = errno
      if e != EINTR { throw fail("flock", path, e) }
    }
  }

  /// CLOCK_MONOTONIC in microseconds. The corresponding C function is `clock_gettime`.
  static func monotonicMicroseconds() -> Int64 {
    var ts = timespec()
    // clock_gettime(CLOCK_MONOTONIC) cannot fail with a valid pointer.
    _ = clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
  }
}

extension Array where Element == UInt8 {
  /// `withUnsafeBytes` for a body that throws `LogError` (the standard one only rethrows `any Error`).
  func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws(LogError) -> T) throws(LogError) -> T {
    let result: Result<T, LogError> = withUnsafeBytes { raw in Result { () throws(LogError) -> T in try body(raw) } }
    return try result.get()
  }

  /// `withUnsafeMutableBytes` for a body that throws `LogError`.
  mutating func withMutableBytes<T>(
    _ body: (UnsafeMutableRawBufferPointer) throws(LogError) -> T
  ) throws(LogError) -> T {
    let result: Result<T, LogError> = withUnsafeMutableBytes { raw in
      Result { () throws(LogError) -> T in try body(raw) }
    }
    return try result.get()
  }
}
