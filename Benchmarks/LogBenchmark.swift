import GanglionCore
import GanglionLog
import GanglionSystem

/// Event log benchmarks: appends/s per sync mode, bytes per event, replay events/s, CRC32C
/// throughput, and the open (recovery) time of a full 64 MiB log. Prints one line per result.
/// Works in a fresh folder under /tmp (or `$GANGLION_BENCH_DIR`), removed at the end.
func runLogBenchmark() {
  let base = CurrentProcess.environment("GANGLION_BENCH_DIR") ?? "/tmp"
  let root = "\(base)/ganglion-log-bench-\(CurrentProcess.id)"
  do {
    try FileSystem.makeDirectories(root)
  } catch {
    print("log: cannot create a folder in \(base): \(error)")
    return
  }
  defer { FileSystem.removeTree(root) }
  do {
    try benchmarkLog(root: root)
  } catch {
    print("log: benchmark failed: \(error)")
  }
}

private func benchEvent(_ i: Int) -> Event {
  // A typical GPIO/MQTT signal event, with a cause on every other one.
  Event(
    time: Timestamp(microseconds: 1_764_000_000_000_000 + Int64(i) * 1000), kind: .signal,
    signal: "hallway.motion\(i % 8)", value: .bool(i % 2 == 0), previous: .bool(i % 2 != 0),
    source: i % 3 == 0 ? .mqtt : .gpio, cause: i % 2 == 0 ? nil : UInt64(i))
}

private func seconds(_ body: () throws -> Void) rethrows -> Double {
  let clock = ContinuousClock()
  let elapsed = try clock.measure(body)
  let (s, atto) = elapsed.components
  return Double(s) + Double(atto) / 1e18
}

private func rate(_ count: Int, _ time: Double) -> String {
  let perSecond = Double(count) / max(time, 1e-9)
  return perSecond >= 10_000 ? "\(Int(perSecond / 1000))k/s" : "\(Int(perSecond))/s"
}

/// Bytes of the segment files in `path` (stat only, no reading).
private func folderBytes(_ path: String) -> Int64 {
  let names = ((try? FileSystem.list(path)) ?? []).filter { $0.hasSuffix(".seg") }
  return names.reduce(0) { $0 + (((try? FileSystem.size(of: path + "/" + $1)) ?? nil) ?? 0) }
}

private func benchmarkLog(root: String) throws {
  // CRC32C throughput.
  let block = [UInt8](repeating: 0xA5, count: 1 << 20)
  var crc: UInt32 = 0
  let crcTime = seconds { for _ in 0..<64 { crc = CRC32C.checksum(block, continuing: crc) } }
  print("log: crc32c \(Int(64 / crcTime)) MiB/s (\(crc & 1))")

  // Appends per sync mode.
  let modes: [(String, LogSync, Int)] = [
    ("always", .always, 2_000), ("interval 1s", .interval(.seconds(1)), 200_000), ("never", .never, 200_000),
  ]
  for (name, sync, count) in modes {
    let directory = "\(root)/\(name.replacingSpaces)"
    let log = try EventLog.open(directory: directory, options: LogOptions(sync: sync))
    let clock = ContinuousClock()
    let start = clock.now
    let time = try seconds {
      for i in 0..<count {
        var event = benchEvent(i)
        try log.append(&event)
        switch sync {
        case .always: try log.sync()
        default:
          let now = start.duration(to: clock.now)
          try log.syncIfDue(nowMicroseconds: now.microseconds)
        }
      }
      try log.sync()
    }
    try log.close()
    let bytes = folderBytes(directory)
    print(
      "log: append, sync \(name): \(rate(count, time)) (\(count) events), "
        + "\(String(Double(bytes) / Double(count)).prefix(5)) bytes/event on disk")
  }

  // Replay.
  let replayDirectory = "\(root)/interval-1s"
  let reader = try LogReader(directory: replayDirectory)
  var replayed = 0
  let replayTime = try seconds { replayed = try reader.events().count }
  print("log: replay events(fromSeq:) \(rate(replayed, replayTime)) (\(replayed) events)")
  let lastTime = try seconds { _ = try reader.last(100) }
  print("log: last(100) \(Int(lastTime * 1e6)) us")

  // A full 64 MiB ring: open (recovery of the tail segment), then the full-scan readers.
  let fullDirectory = "\(root)/full"
  let options = LogOptions(maxSize: 64 << 20, segmentSize: 4 << 20, sync: .never)
  var log = try EventLog.open(directory: fullDirectory, options: options)
  var i = 0
  var written: Int64 = 0
  let fillTime = try seconds {
    // Go round the ring once, then stop when the newest segment is nearly full.
    while written < 68 << 20 || folderBytes(fullDirectory) < (63 << 20) {
      for _ in 0..<10_000 {
        var event = benchEvent(i)
        try log.append(&event)
        i += 1
      }
      try log.sync()
      written += 10_000 * 51
      if i > 5_000_000 { break }
    }
  }
  try log.close()
  print(
    "log: wrote \(i) events in \(Int(fillTime * 1000)) ms; the ring holds \(folderBytes(fullDirectory) >> 20) MiB")
  let openTime = try seconds { log = try EventLog.open(directory: fullDirectory, options: options) }
  let recovery = log.recovery
  try log.close()
  print("log: open (recovery) of the 64 MiB log: \(Int(openTime * 1000)) ms, \(recovery.segmentsFound) segments")
  let fullReader = try LogReader(directory: fullDirectory)
  var verified: VerifyReport?
  let verifyTime = seconds { verified = fullReader.verify() }
  print(
    "log: verify of the 64 MiB log: \(Int(verifyTime * 1000)) ms, \(verified?.records ?? 0) records, ok \(verified?.isOK ?? false)"
  )
  let lastValuesTime = try seconds { _ = try fullReader.lastSignalValues() }
  print("log: lastSignalValues of the 64 MiB log: \(Int(lastValuesTime * 1000)) ms")
  let persisted: Set<String> = ["hallway.motion1", "hallway.motion6"]
  let someValuesTime = try seconds { _ = try fullReader.lastSignalValues(of: persisted) }
  print("log: lastSignalValues(of: 2 signals) of the 64 MiB log: \(Int(someValuesTime * 1000)) ms")
  let lookups = 100
  let lookupTime = try seconds {
    for k in 0..<lookups { _ = try fullReader.event(seq: UInt64(i - 1 - k * 1000)) }
  }
  print("log: event(seq:) lookup \(Int(lookupTime / Double(lookups) * 1e6)) us each")
}

extension String {
  fileprivate var replacingSpaces: String { String(map { $0 == " " ? "-" : $0 }) }
}
