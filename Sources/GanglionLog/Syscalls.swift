import GanglionSystem

/// The log's file calls, on the system layer (`FileIO`, `FileSystem`): the same calls with
/// failures turned into `LogError`s that keep the operation and the path.
enum Sys {
  private static func logError(_ error: SystemError) -> LogError {
    LogError(code: .system(errno: error.code), operation: error.operation ?? "?", path: error.subject ?? "")
  }

  typealias OpenMode = FileIO.OpenMode

  /// What the log's files and folders are created with (minus the umask): readable by the
  /// daemon's user and group only. Events name what happens in a home.
  static let filePermissions: UInt32 = 0o640
  static let directoryPermissions: UInt32 = 0o750

  /// A file this creates gets `filePermissions`.
  static func open(_ path: String, _ mode: OpenMode) throws(LogError) -> Int32 {
    do { return try FileIO.open(path, mode, permissions: filePermissions) } catch { throw logError(error) }
  }

  static func close(_ fd: Int32, path: String) throws(LogError) {
    do { try FileIO.close(fd, path: path) } catch { throw logError(error) }
  }

  /// On failure, some prefix of `bytes` may be on file: `LogError` does not say how much.
  static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, offset: Int64, path: String) throws(LogError) {
    do { try FileIO.pwriteAll(fd, bytes, offset: offset, path: path) } catch { throw logError(error) }
  }

  /// Returns how many bytes were read (fewer only at end of file).
  static func preadFull(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int64, path: String
  ) throws(LogError) -> Int {
    do { return try FileIO.preadFull(fd, into: buffer, offset: offset, path: path) } catch { throw logError(error) }
  }

  static func fdatasync(_ fd: Int32, path: String) throws(LogError) {
    do { try FileIO.datasync(fd, path: path) } catch { throw logError(error) }
  }

  static func fsync(_ fd: Int32, path: String) throws(LogError) {
    do { try FileIO.fsync(fd, path: path) } catch { throw logError(error) }
  }

  static func ftruncate(_ fd: Int32, size: Int64, path: String) throws(LogError) {
    do { try FileIO.truncate(fd, size: size, path: path) } catch { throw logError(error) }
  }

  static func fileSize(_ fd: Int32, path: String) throws(LogError) -> Int64 {
    do { return try FileIO.size(fd, path: path) } catch { throw logError(error) }
  }

  /// The size of a file by path, nil if it does not exist.
  static func fileSize(path: String) throws(LogError) -> Int64? {
    do { return try FileSystem.size(of: path) } catch { throw logError(error) }
  }

  static func rename(_ from: String, to: String) throws(LogError) {
    do { try FileSystem.rename(from, to: to) } catch {
      throw LogError(code: .system(errno: error.code), operation: "rename", path: from, detail: "to \(to)")
    }
  }

  /// A missing file is not an error.
  static func unlink(_ path: String) throws(LogError) {
    do { try FileSystem.unlink(path) } catch { throw logError(error) }
  }

  static func makeDirectories(_ path: String) throws(LogError) {
    do { try FileSystem.makeDirectories(path, permissions: directoryPermissions) } catch { throw logError(error) }
  }

  /// Names in a folder, without `.` and `..`, unsorted.
  static func listDirectory(_ path: String) throws(LogError) -> [String] {
    do { return try FileSystem.entries(path).map(\.name) } catch { throw logError(error) }
  }

  static func syncDirectory(_ path: String) throws(LogError) {
    do { try FileSystem.syncDirectory(path) } catch { throw logError(error) }
  }

  /// False if another open file description holds the lock.
  static func tryLockExclusive(_ fd: Int32, path: String) throws(LogError) -> Bool {
    do { return try FileIO.tryLockExclusive(fd, path: path) } catch { throw logError(error) }
  }

  static func unlock(_ fd: Int32, path: String) throws(LogError) {
    do { try FileIO.unlock(fd, path: path) } catch { throw logError(error) }
  }

  static func monotonicMicroseconds() -> Int64 { SystemMonotonicClock.nowMicroseconds() }

  static func errorText(_ code: Int32) -> String { errnoText(code) }
}
