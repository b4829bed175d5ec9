import Glibc

/// This process: its id, environment, standard streams and exit.
public enum CurrentProcess {
  /// The process id. The corresponding C function is `getpid`.
  public static var id: Int32 { getpid() }

  /// The path of this process's executable (`/proc/self/exe`), nil if unknown.
  public static var executablePath: String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The absolute path of the current working directory; nil if it cannot be told (it was
  /// removed, or is not reachable). The corresponding C function is `getcwd`.
  public static var workingDirectory: String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return nil }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The unit of CPU times in `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`).
  public static var clockTicksPerSecond: Int { sysconf(Int32(_SC_CLK_TCK)) }

  /// Whether this process runs as root (effective user id 0).
  public static var isRoot: Bool { geteuid() == 0 }

  /// The value of an environment variable, if set and not empty.
  public static func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
  }

  /// Every environment variable, `NAME=value`.
  public static var environmentEntries: [String] {
    var entries: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
      entries.append(String(cString: pointer))
      entry += 1
    }
    return entries
  }

  /// Ends the process now with `code` (buffered standard output is flushed). The
  /// corresponding C function is `exit`.
  public static func exit(_ code: Int32) -> Never {
    Glibc.exit(code)
  }

  /// Whether standard output (1) or standard error (2) is a terminal.
  public static func isTerminal(_ stream: StandardStream) -> Bool { isatty(stream.descriptor) == 1 }

  /// Writes `text` to standard error at once (unbuffered, whole). Errors are ignored: there
  /// is nowhere left to report them.
  public static func writeToStandardError(_ text: String) {
    write(text, to: .error)
  }

  /// Writes `text` to a standard stream, bypassing `print`'s buffer. Errors are ignored.
  public static func write(_ text: String, to stream: StandardStream) {
    if stream == .output { fflush(nil) }  // keep order with what `print` buffered
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { raw in try? FileIO.writeAll(stream.descriptor, raw, path: stream.name) }
  }

  /// Flushes what `print` buffered for standard output.
  public static func flushStandardOutput() { fflush(nil) }
}

public enum StandardStream: Sendable, Equatable {
  case output, error

  public var descriptor: Int32 { self == .output ? 1 : 2 }
  var name: String { self == .output ? "standard output" : "standard error" }
}

/// Signals this process acts on, by name, so no module above needs Glibc's constants.
public enum ProcessSignal: Sendable, Equatable {
  case terminate, interrupt, hangUp, kill, stop, continueRunning

  public var number: Int32 {
    switch self {
    case .terminate: SIGTERM
    case .interrupt: SIGINT
    case .hangUp: SIGHUP
    case .kill: SIGKILL
    case .stop: SIGSTOP
    case .continueRunning: SIGCONT
    }
  }

  /// Sends this signal to process `pid`. The corresponding C function is `kill`.
  public func send(to pid: Int32) throws(SystemError) {
    _ = try retryingOnInterrupt("send signal \(number)", "process \(pid)") { Glibc.kill(pid, number) }
  }
}
