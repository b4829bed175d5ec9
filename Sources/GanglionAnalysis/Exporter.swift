import GanglionCore
import GanglionLog

/// Which events of the log a command reads: a seq range and a time range, both inclusive
/// of their start; `until` is exclusive. Events come in seq order; times need not be monotonic,
/// so a time range is a filter, not a stopping point.
public struct EventSelection: Sendable, Equatable {
  public var fromSeq: UInt64
  public var toSeq: UInt64
  public var since: Timestamp?
  public var until: Timestamp?

  public init(fromSeq: UInt64 = 0, toSeq: UInt64 = .max, since: Timestamp? = nil, until: Timestamp? = nil) {
    self.fromSeq = fromSeq
    self.toSeq = toSeq
    self.since = since
    self.until = until
  }

  public func contains(_ event: Event) -> Bool {
    event.seq >= fromSeq && event.seq <= toSeq && since.map { event.time >= $0 } != false
      && until.map { event.time < $0 } != false
  }

  /// Parses `--since`: a duration back from `now` (`2h`, `30m`) or an RFC 3339 time.
  public static func parseSince(_ text: String, now: Timestamp) -> Timestamp? {
    if let duration = Duration.parse(text) { return now - duration }
    return Timestamp(iso8601: text)
  }

  /// Parses `--until`: an RFC 3339 time, or a duration back from `now`.
  public static func parseUntil(_ text: String, now: Timestamp) -> Timestamp? {
    parseSince(text, now: now)
  }
}

/// How `log export` writes events.
public enum ExportFormat: String, Sendable, CaseIterable {
  /// The event JSON of events.md, one per line.
  case jsonl
  /// A header row, then one row per event (RFC 4180 quoting). `value` and `previous` are
  /// written as plain text when they are strings, numbers or booleans, as JSON when they
  /// are objects or arrays, and empty when unknown.
  case csv
}

/// Writes events of a log in an export format: the same events and fields in every format.
public enum Exporter {
  /// The CSV columns, in the order of the event JSON's keys.
  public static let csvColumns = [
    "seq", "id", "time", "kind", "signal", "value", "previous", "source", "cause", "rule", "late",
  ]

  /// The line before the first event, if the format has one.
  public static func header(_ format: ExportFormat) -> String? {
    format == .csv ? csvColumns.joined(separator: ",") : nil
  }

  /// One event as one line (no newline).
  public static func line(_ event: Event, device: String, format: ExportFormat) -> String {
    switch format {
    case .jsonl:
      return event.json(device: device)
    case .csv:
      let fields: [String] = [
        String(event.seq), event.id(device: device), event.time.iso8601, event.kind.rawValue, event.signal ?? "",
        csvValue(event.value), csvValue(event.previous), event.source.rawValue, event.cause.map { String($0) } ?? "",
        event.rule ?? "", event.late ? "true" : "false",
      ]
      return fields.map(csvField).joined(separator: ",")
    }
  }

  /// A value as a CSV cell's text: scalars as they are, objects and arrays as JSON.
  public static func csvValue(_ value: Value) -> String {
    switch value {
    case .null: ""
    case .string(let s): s
    case .bool, .number: JSON.encode(value)
    default: JSON.encode(value)
    }
  }

  /// RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled.
  static func csvField(_ text: String) -> String {
    guard
      text.utf8.contains(where: {
        $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13
      })
    else { return text }
    var out = "\""
    for character in text {
      if character == "\"" { out += "\"\"" } else { out.append(character) }
    }
    return out + "\""
  }

  /// Streams the selected events to `write`, one line per call (no newline), header first.
  /// `progress` is called with the count of events read every `progressInterval` events.
  /// - Returns: how many events were written.
  /// - Throws: the log's read errors (a corrupt record that passed its checksum).
  @discardableResult
  public static func export(
    from reader: LogReader, selection: EventSelection, device: String, format: ExportFormat,
    progressInterval: Int = 100_000, progress: ((Int) -> Void)? = nil, write: (String) -> Void
  ) throws(LogError) -> Int {
    if let header = header(format) { write(header) }
    let cursor = try reader.cursor(fromSeq: selection.fromSeq, toSeq: selection.toSeq)
    var read = 0
    var written = 0
    while let event = try cursor.next() {
      read += 1
      if let progress, read % progressInterval == 0 { progress(read) }
      guard selection.contains(event) else { continue }
      write(line(event, device: device, format: format))
      written += 1
    }
    return written
  }
}
