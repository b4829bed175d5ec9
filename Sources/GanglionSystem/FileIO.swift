import Glibc
import Synchronization

/// Calls on open file descriptors: positioned and sequential reads and writes, syncs, sizes
/// and locks. Every call checks its result, reads errno at once, retries on EINTR (through
/// `retryingOnInterrupt`) and throws a `SystemError` naming the operation and the path.
/// All calls block the calling thread (file I/O): use them from dedicated threads.
public enum FileIO {
  public enum OpenMode: Sendable {
    /// Read only.
    case read
    /// Read only, without waiting: a FIFO or device opens at once instead of blocking.
    case readNonBlocking
    /// Read and write; create if missing.
    case readWriteCreate
    /// Read and write; create, fail if it exists.
    case createExclusive
    /// Read and write, must exist.
    case readWrite
    /// Write only; create, or empty an existing file.
    case writeTruncate
  }

  /// Opens `path` close-on-exec. `permissions` apply to a file this call creates (minus the
  /// umask). The corresponding C function is `open`.
  public static func open(_ path: String, _ mode: OpenMode, permissions: UInt32 = 0o644) throws(SystemError) -> Int32 {
    try refuseNUL(path, "open")
    let flags: Int32
    switch mode {
    case .read: flags = O_RDONLY | O_CLOEXEC
    case .readNonBlocking: flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
    case .readWriteCreate: flags = O_RDWR | O_CREAT | O_CLOEXEC
    case .createExclusive: flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC
    case .readWrite: flags = O_RDWR | O_CLOEXEC
    case .writeTruncate: flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
    }
    return try retryingOnInterrupt("open", path) { Glibc.open(path, flags, mode_t(permissions)) }
  }

  /// The corresponding C function is `close`. EINTR is not retried (Linux closes anyway).
  public static func close(_ fd: Int32, path: String) throws(SystemError) {
    if Glibc.close(fd) != 0 {
      let code = errno
      if code != EINTR { throw SystemError(code: code, operation: "close", subject: path) }
    }
  }

  /// Writes all of `bytes` at `offset`. The corresponding C function is `pwrite`.
  /// On failure, some prefix of `bytes` may be on file: the error does not say how much.
  public static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, offset: Int64, path: String)
    throws(SystemError)
  {
    var done = 0
    while done < bytes.count {
      let n = try retryingOnInterrupt("pwrite", path) {
        Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
      }
      if n == 0 { throw SystemError(code: EIO, operation: "pwrite", subject: path) }
      done += n
    }
  }

  /// Writes all of `bytes` at the current position (files, pipes, sockets without
  /// SIGPIPE handling: use `Socket.write` for sockets). The corresponding C function is `write`.
  public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SystemError) {
    var done = 0
    while done < bytes.count {
      let n = try retryingOnInterrupt("write", path) { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
      if n == 0 { throw SystemError(code: EIO, operation: "write", subject: path) }
      done += n
    }
  }

  /// Reads up to `buffer.count` bytes at `offset`, stopping early only at end of file.
  /// Returns how many bytes were read. The corresponding C function is `pread`.
  public static func preadFull(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int64, path: String)
    throws(SystemError) -> Int
  {
    var done = 0
    while done < buffer.count {
      let n = try retryingOnInterrupt("pread", path) {
        Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
      }
      if n == 0 { break }
      done += n
    }
    return done
  }

  /// Reads what is available at the current position, up to `buffer.count` bytes; 0 at end
  /// of file. EAGAIN (a non-blocking descriptor with nothing to read) throws. The
  /// corresponding C function is `read`.
  public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(SystemError)
    -> Int
  {
    try retryingOnInterrupt("read", path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
  }

  #if DEBUG
    /// Tests only: fdatasync of a path under one of these prefixes fails with the errno.
    public static let injectedSyncFailures = Mutex<[String: Int32]>([:])
  #endif

  /// The corresponding C function is `fdatasync`.
  public static func datasync(_ fd: Int32, path: String) throws(SystemError) {
    #if DEBUG
      let injected = injectedSyncFailures.withLock { failures in
        failures.first { path.hasPrefix($0.key) }?.value
      }
      if let injected { throw SystemError(code: injected, operation: "fdatasync", subject: path) }
    #endif
    _ = try retryingOnInterrupt("fdatasync", path) { Glibc.fdatasync(fd) }
  }

  /// The corresponding C function is `fsync`.
  public static func fsync(_ fd: Int32, path: String) throws(SystemError) {
    _ = try retryingOnInterrupt("fsync", path) { Glibc.fsync(fd) }
  }

  /// Cuts or extends the file to `size` bytes. The corresponding C function is `ftruncate`.
  public static func truncate(_ fd: Int32, size: Int64, path: String) throws(SystemError) {
    _ = try retryingOnInterrupt("ftruncate", path) { Glibc.ftruncate(fd, off_t(size)) }
  }

  /// What an open descriptor is. The corresponding C function is `fstat`.
  public static func status(_ fd: Int32, path: String) throws(SystemError) -> FileStatus {
    var info = stat()
    _ = try retryingOnInterrupt("fstat", path) { Glibc.fstat(fd, &info) }
    return FileStatus(info)
  }

  /// The size of an open file.
  public static func size(_ fd: Int32, path: String) throws(SystemError) -> Int64 {
    try status(fd, path: path).size
  }

  /// Takes an exclusive `flock` without waiting. Returns false if another open file
  /// description holds it. The corresponding C function is `flock`.
  public static func tryLockExclusive(_ fd: Int32, path: String) throws(SystemError) -> Bool {
    do {
      _ = try retryingOnInterrupt("flock", path) { flock(fd, LOCK_EX | LOCK_NB) }
      return true
    } catch  where error.code == EWOULDBLOCK {
      return false
    }
  }

  /// Releases an `flock` explicitly, so it ends now even if a copy of the descriptor lives on
  /// (in a child between fork and exec). The corresponding C function is `flock`.
  public static func unlock(_ fd: Int32, path: String) throws(SystemError) {
    _ = try retryingOnInterrupt("flock", path) { flock(fd, LOCK_UN) }
  }

  /// Whether `fd` is a terminal (for progress output). The corresponding C function is `isatty`.
  public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}

/// What `stat` tells about a file.
public struct FileStatus: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    case file, directory, fifo, socket, characterDevice, blockDevice, link, other
  }

  public var kind: Kind
  public var size: Int64
  public var device: UInt64
  public var inode: UInt64
  /// The permission bits (`0o640`).
  public var permissions: UInt32
  /// The owner's user id.
  public var owner: UInt32

  init(_ info: stat) {
    switch info.st_mode & S_IFMT {
    case S_IFREG: kind = .file
    case S_IFDIR: kind = .directory
    case S_IFIFO: kind = .fifo
    case S_IFSOCK: kind = .socket
    case S_IFCHR: kind = .characterDevice
    case S_IFBLK: kind = .blockDevice
    case S_IFLNK: kind = .link
    default: kind = .other
    }
    size = Int64(info.st_size)
    device = UInt64(info.st_dev)
    inode = UInt64(info.st_ino)
    permissions = UInt32(info.st_mode) & 0o7777
    owner = info.st_uid
  }

  /// `a regular file`, `a directory`, `a FIFO (named pipe)`..., for messages.
  public var kindDescription: String {
    switch kind {
    case .file: "a regular file"
    case .directory: "a directory"
    case .fifo: "a FIFO (named pipe)"
    case .socket: "a socket"
    case .characterDevice: "a character device"
    case .blockDevice: "a block device"
    case .link: "a symbolic link"
    case .other: "a special file"
    }
  }
}
