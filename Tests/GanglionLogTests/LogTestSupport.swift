import GanglionCore
import GanglionLog
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A fresh folder under /tmp, removed (with its files) on deinit.
final class LogTestDirectory {
  let path: String

  init(_ prefix: String = "ganglion-log-test") {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(created != nil, "mkdtemp failed: errno \(errno)")
    path = String(cString: created!)
  }

  /// The log folder inside (created by EventLog.open).
  var log: String { path + "/log" }

  deinit { removeTree(path) }
}

func removeTree(_ path: String) {
  if let dir = opendir(path) {
    while let entry = readdir(dir) {
      let name = withUnsafePointer(to: &entry.pointee.d_name) {
        String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
      }
      if name == "." || name == ".." { continue }
      let child = path + "/" + name
      if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
    }
    closedir(dir)
  }
  rmdir(path)
}

/// Whole-file helpers for damaging logs on purpose.
enum TestFile {
  static func read(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "open \(path): errno \(errno)")
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
      precondition(n >= 0)
      if n == 0 { break }
      out.append(contentsOf: chunk[0..<n])
    }
    return out
  }

  static func write(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "open \(path): errno \(errno)")
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
    precondition(n == bytes.count)
  }

  static func size(_ path: String) -> Int64 {
    var info = stat()
    precondition(stat(path, &info) == 0, "stat \(path)")
    return Int64(info.st_size)
  }

  static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  static func list(_ dir: String) -> [String] {
    var names: [String] = []
    guard let d = opendir(dir) else { return [] }
    while let entry = readdir(d) {
      let name = withUnsafePointer(to: &entry.pointee.d_name) {
        String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
      }
      if name != "." && name != ".." { names.append(name) }
    }
    closedir(d)
    return names.sorted()
  }

  static func segments(_ dir: String) -> [String] { list(dir).filter { $0.hasSuffix(".seg") } }
}

/// A deterministic event for seq-independent index `i`: content checks can recompute it.
func sampleEvent(_ i: Int) -> Event {
  let kinds: [EventKind] = [.signal, .signal, .signal, .fired, .publish, .log, .system, .deadLetter]
  let sources: [EventSource] = [.gpio, .mqtt, .rule, .command, .simulator, .system]
  var event = Event(
    time: Timestamp(microseconds: 1_764_000_000_000_000 + Int64(i) * 1_250), kind: kinds[i % kinds.count],
    signal: i % 5 == 4 ? nil : "sensor.s\(i % 7)", value: .number(Double(i) * 1.5),
    previous: i % 3 == 0 ? .null : .bool(i % 2 == 0), source: sources[i % sources.count],
    cause: i % 4 == 0 ? nil : UInt64(i / 2), rule: i % 6 == 0 ? "rule-\(i % 11)" : nil, late: i % 9 == 0)
  if i % 10 == 7 {
    event.value = .object(["i": .number(Double(i)), "tag": .string("t\(i)"), "list": .array([1, "x", nil])])
  }
  return event
}

/// `event` with its seq cleared, for comparing with `sampleEvent`.
func withoutSeq(_ event: Event) -> Event {
  var copy = event
  copy.seq = 0
  return copy
}

/// Appends `count` sample events starting at index `start`; returns them with their seqs.
@discardableResult
func appendSamples(_ log: EventLog, count: Int, start: Int = 0) throws -> [Event] {
  var out: [Event] = []
  for i in start..<start + count {
    var event = sampleEvent(i)
    try log.append(&event)
    out.append(event)
  }
  return out
}
