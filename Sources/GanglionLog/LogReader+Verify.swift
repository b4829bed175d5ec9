import GanglionCore
import GanglionSystem

/// What `LogReader.verify()` found.
public struct VerifyReport: Sendable, Equatable {
  /// A place where the log is not valid.
  public struct Problem: Sendable, Equatable, CustomStringConvertible {
    /// The segment file name.
    public var segment: String
    /// Byte offset in the segment file.
    public var offset: Int64
    public var reason: String

    public var description: String { "\(segment) offset \(offset): \(reason)" }
  }

  public var segments = 0
  /// Valid records.
  public var records = 0
  public var bytes: Int64 = 0
  public var firstSeq: UInt64?
  public var lastSeq: UInt64?
  /// Corruption: bad headers, bad records (the rest of that segment is unreadable), records
  /// that do not decode, seqs out of order, unreadable files.
  public var problems: [Problem] = []
  /// The newest segment ends inside a record. Normal while a writer is appending; after a
  /// crash, the writer's next `open` cuts it. Not counted as a problem.
  public var incompleteTail: Problem?

  /// No problems (an incomplete tail is allowed).
  public var isOK: Bool { problems.isEmpty }
}

/// What `LogReader.stats()` counts.
public struct LogStats: Sendable, Equatable {
  /// Bytes of segment files.
  public var sizeBytes: Int64 = 0
  public var segments = 0
  public var events = 0
  public var firstSeq: UInt64?
  public var lastSeq: UInt64?
  /// The earliest and latest event time (times need not follow seq order).
  public var firstTime: Timestamp?
  public var lastTime: Timestamp?
  /// Events by signal name (events without a signal are not counted here).
  public var eventsBySignal: [String: Int] = [:]
  public var eventsByKind: [EventKind: Int] = [:]
  /// What could not be read (file errors, records that do not decode); empty normally.
  public var problems: [String] = []

  /// Events per second between `firstTime` and `lastTime`, nil if they are equal.
  public var eventsPerSecond: Double? {
    guard let firstTime, let lastTime, lastTime > firstTime else { return nil }
    return Double(events) / (Double(lastTime.microseconds - firstTime.microseconds) / 1_000_000)
  }
}

extension LogReader {
  /// Checks every segment header and record (length, generation, CRC32C, seq order, and that
  /// the payload decodes). Never throws: unreadable files are reported as problems.
  public func verify() -> VerifyReport {
    var report = VerifyReport()
    let segments: [EventLog.SegmentFile]
    do {
      segments = try EventLog.listSegments(directory: directory)
    } catch {
      report.problems.append(.init(segment: directory, offset: 0, reason: error.description))
      return report
    }
    report.segments = segments.count
    var lastSeq: UInt64?
    for (index, segment) in segments.enumerated() {
      if let size = try? Sys.fileSize(path: segment.path) { report.bytes += size }
      var headerProblem: String?
      var baseChecked = false
      do throws(LogError) {
        let checkRecord = { (record: SegmentScanner.Record, scanner: SegmentScanner) throws(LogError) -> Bool in
          if !baseChecked, scanner.header.baseSeq != segment.baseSeq {
            report.problems.append(
              .init(
                segment: segment.name, offset: 8,
                reason: "header base seq \(scanner.header.baseSeq) is not the file name's"))
          }
          baseChecked = true
          if let lastSeq, record.seq <= lastSeq {
            report.problems.append(
              .init(segment: segment.name, offset: record.offset, reason: "seq \(record.seq) after \(lastSeq)"))
          }
          do throws(EventCodecError) {
            _ = try scanner.decodeEvent(seq: record.seq)
          } catch {
            report.problems.append(.init(segment: segment.name, offset: record.offset, reason: error.description))
          }
          lastSeq = max(lastSeq ?? 0, record.seq)
          report.firstSeq = report.firstSeq ?? record.seq
          report.lastSeq = lastSeq
          report.records += 1
          return true
        }
        let stop = try scanSegment(
          segment, headerProblem: { headerProblem = $0.reason },
          skipped: { stretch in
            let seqs =
              stretch.unreadableSeqs.map { "; seq #\($0.lowerBound) to #\($0.upperBound) cannot be read" } ?? ""
            report.problems.append(
              .init(
                segment: segment.name, offset: stretch.offset,
                reason: "\(stretch.reason) (\(stretch.bytes) bytes skipped, the records after them are read\(seqs))"))
          }, checkRecord)
        if let headerProblem {
          report.problems.append(.init(segment: segment.name, offset: 0, reason: "segment header: \(headerProblem)"))
        }
        switch stop {
        case .none, .end?: break
        case .corrupt(let offset, let reason)?:
          report.problems.append(.init(segment: segment.name, offset: offset, reason: reason))
        case .incomplete(let offset, let bytes)?:
          let problem = VerifyReport.Problem(
            segment: segment.name, offset: offset, reason: "file ends inside a record (\(bytes) bytes)")
          if index == segments.count - 1 { report.incompleteTail = problem } else { report.problems.append(problem) }
        }
      } catch {
        report.problems.append(.init(segment: segment.name, offset: 0, reason: error.description))
      }
    }
    return report
  }

  /// Size, seq and time ranges, and counts, over every valid record. Decodes the whole log.
  /// Never throws: what could not be read (I/O errors, records that do not decode) is
  /// listed in `problems` and left out of the counts; `verify()` says more.
  public func stats() -> LogStats {
    var stats = LogStats()
    let segments: [EventLog.SegmentFile]
    do {
      segments = try EventLog.listSegments(directory: directory)
    } catch {
      stats.problems.append(error.description)
      return stats
    }
    stats.segments = segments.count
    var lastSeq: UInt64?
    for segment in segments {
      do throws(LogError) {
        stats.sizeBytes += try Sys.fileSize(path: segment.path) ?? 0
        try scanSegment(segment) { (record, scanner) throws(LogError) in
          guard lastSeq.map({ record.seq > $0 }) ?? true else { return true }
          lastSeq = record.seq
          let event: Event
          do throws(EventCodecError) {
            event = try scanner.decodeEvent(seq: record.seq)
          } catch {
            stats.problems.append(LogError.undecodable(error, path: segment.path, offset: record.offset).description)
            return true
          }
          stats.events += 1
          stats.firstSeq = stats.firstSeq ?? record.seq
          stats.lastSeq = record.seq
          stats.firstTime = min(stats.firstTime ?? event.time, event.time)
          stats.lastTime = max(stats.lastTime ?? event.time, event.time)
          if let signal = event.signal { stats.eventsBySignal[signal, default: 0] += 1 }
          stats.eventsByKind[event.kind, default: 0] += 1
          return true
        }
      } catch {
        stats.problems.append(error.description)
      }
    }
    return stats
  }
}
