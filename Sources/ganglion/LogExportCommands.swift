import ArgumentParser
import GanglionAnalysis
import GanglionCore
import GanglionDaemon
import GanglionLog
import GanglionSystem

/// Progress of long work on stderr, only when stderr is a terminal.
enum Progress {
  static let interval = 100_000

  /// A callback that shows `N events read` in place, or nil when stderr is not a terminal.
  static func reporter(_ what: String) -> ((Int) -> Void)? {
    guard CurrentProcess.isTerminal(.error) else { return nil }
    return { count in writeStderr("\r\(what): \(count) events read") }
  }

  /// Clears the progress line, if one was shown.
  static func clear() {
    if CurrentProcess.isTerminal(.error) { writeStderr("\r\u{1B}[K") }
  }

  private static func writeStderr(_ text: String) { CurrentProcess.writeToStandardError(text) }
}

/// `--from`, `--to`, `--since`, `--until`.
struct SelectionOptions: ParsableArguments {
  @Option(help: "The first seq to read.") var from: UInt64?
  @Option(help: "The last seq to read.") var to: UInt64?
  @Option(help: "Only events at or after this time: a duration back from now (2h, 30m) or an RFC 3339 time.")
  var since: String?
  @Option(help: "Only events before this time: an RFC 3339 time, or a duration back from now.")
  var until: String?

  func selection() throws -> EventSelection {
    let now = SystemClock().now()
    var selection = EventSelection(fromSeq: from ?? 0, toSeq: to ?? .max)
    if let since {
      guard let time = EventSelection.parseSince(since, now: now) else {
        throw ValidationError("--since '\(since)': not a duration (2h, 30m) or an RFC 3339 time")
      }
      selection.since = time
    }
    if let until {
      guard let time = EventSelection.parseUntil(until, now: now) else {
        throw ValidationError("--until '\(until)': not an RFC 3339 time or a duration")
      }
      selection.until = time
    }
    return selection
  }
}

extension ExportFormat: ExpressibleByArgument {}

struct Export: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write events to standard output, as JSON lines or CSV (the same data in both).")

  @OptionGroup var location: LogLocation
  @OptionGroup var range: SelectionOptions
  @Option(help: "jsonl (the event JSON, one per line) or csv (a header row, then one row per event).")
  var format: ExportFormat = .jsonl

  func run() throws {
    let selection = try range.selection()
    let (directory, device) = try location.resolve()
    let reader = try LogLocation.reader(directory)
    defer { Progress.clear() }
    do {
      try Exporter.export(
        from: reader, selection: selection, device: device, format: format, progressInterval: Progress.interval,
        progress: Progress.reporter("export")
      ) { print($0) }
    } catch {
      Progress.clear()
      printError("cannot read the event log: \(error)")
      throw ExitCode.runtimeFailure
    }
  }
}

struct Stats: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Size, seq range, time range, events by signal and write rate of the log.")

  @OptionGroup var location: LogLocation
  @Flag(help: "Print the statistics as one JSON document.") var json = false

  func run() throws {
    let (directory, _) = try location.resolve()
    let reader = try LogLocation.reader(directory)
    let stats = reader.stats()
    print(json ? JSON.encode(Self.json(stats, directory: directory)) : Self.human(stats, directory: directory))
    // What could not be read is left out of the figures: say so (`log verify` tells more).
    for problem in stats.problems { printError("warning: \(problem) (not counted; see `ganglion log verify`)") }
  }

  static func json(_ stats: LogStats, directory: String) -> Value {
    func number<T: BinaryInteger>(_ n: T?) -> Value { n.map { .number(Double($0)) } ?? .null }
    var kinds: [String: Value] = [:]
    for (kind, count) in stats.eventsByKind { kinds[kind.rawValue] = .number(Double(count)) }
    return .object([
      "dir": .string(directory), "size_bytes": number(stats.sizeBytes), "segments": number(stats.segments),
      "events": number(stats.events), "first_seq": number(stats.firstSeq), "last_seq": number(stats.lastSeq),
      "first_time": stats.firstTime.map { .string($0.iso8601) } ?? .null,
      "last_time": stats.lastTime.map { .string($0.iso8601) } ?? .null,
      "events_per_second": stats.eventsPerSecond.map(Value.number) ?? .null,
      "events_by_signal": .object(stats.eventsBySignal.mapValues { .number(Double($0)) }),
      "events_by_kind": .object(kinds),
    ])
  }

  static func human(_ stats: LogStats, directory: String) -> String {
    var lines = ["\(directory): \(stats.sizeBytes) bytes in \(stats.segments) segments, \(stats.events) events"]
    if let first = stats.firstSeq, let last = stats.lastSeq { lines.append("seq #\(first) to #\(last)") }
    if let first = stats.firstTime, let last = stats.lastTime {
      lines.append("time \(first.iso8601) to \(last.iso8601)")
    }
    if let rate = stats.eventsPerSecond {
      let perHour = rate * 3600
      lines.append(
        "write rate: \(perHour >= 100 ? String(Int(perHour.rounded())) : String(Double(Int(perHour * 100)) / 100)) events/hour"
      )
    }
    if !stats.eventsByKind.isEmpty {
      lines.append(
        "by kind: "
          + stats.eventsByKind.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }
          .joined(separator: ", "))
    }
    if !stats.eventsBySignal.isEmpty {
      lines.append("by signal:")
      let width = stats.eventsBySignal.keys.map(\.count).max() ?? 0
      for (signal, count) in stats.eventsBySignal.sorted(by: {
        $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key
      }) {
        lines.append("  \(signal)\(String(repeating: " ", count: width - signal.count))  \(count)")
      }
    }
    return lines.joined(separator: "\n")
  }
}

struct Verify: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check every record of the log; exit 1 on corruption, naming the segment and offset.")

  @OptionGroup var location: LogLocation

  func run() throws {
    let (directory, _) = try location.resolve()
    let reader = try LogLocation.reader(directory)
    let report = reader.verify()
    for problem in report.problems {
      printError("\(directory)/\(problem.segment): error: offset \(problem.offset): \(problem.reason)")
    }
    var summary = "\(report.segments) segments, \(report.records) records, \(report.bytes) bytes"
    if let first = report.firstSeq, let last = report.lastSeq { summary += ", seq #\(first) to #\(last)" }
    if let tail = report.incompleteTail {
      summary +=
        "; \(tail.segment) ends inside a record at offset \(tail.offset) (being written, or cut at the next start)"
    }
    if report.isOK {
      print("ok: \(summary)")
      return
    }
    print("CORRUPT: \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s"); \(summary)")
    throw ExitCode.checkFailed
  }
}
