import GanglionCore
import GanglionSystem

/// Reads a log folder: while a writer (this or another process) appends to it, or a copy of
/// it taken from another device. Takes no lock and writes nothing.
///
/// Never returns a corrupt record: every record's length, generation, CRC32C and seq order is
/// checked; bad bytes inside a segment are skipped up to the next valid record after them,
/// and a segment's corrupt tail ends its reading (later segments are still read: they start
/// at a known boundary). A record still being written is not returned
/// until it is complete. Events come in strictly increasing seq order.
///
/// Methods block on file I/O. A `LogReader` is a value holding only the folder path; it is
/// safe to use from any thread, and several can read at once.
public struct LogReader: Sendable {
  public let directory: String

  /// - Throws: if `directory` cannot be listed (missing, not a folder, no permission).
  public init(directory: String) throws(LogError) {
    _ = try Sys.listDirectory(directory)
    self.directory = directory
  }

  init(trustedDirectory: String) { directory = trustedDirectory }

  /// A streaming cursor over the events with `fromSeq <= seq <= toSeq`, in seq order.
  /// At the end, `next()` returns nil; called again later, it returns events appended since
  /// (for `log tail -f`).
  public func cursor(fromSeq: UInt64 = 0, toSeq: UInt64 = .max) throws(LogError) -> LogCursor {
    try LogCursor(directory: directory, fromSeq: fromSeq, toSeq: toSeq)
  }

  /// The events with `fromSeq <= seq <= toSeq`, in seq order.
  /// - Throws: I/O errors, and `.corrupt` or `.unsupportedVersion` for a record whose
  ///   checksum is right but whose payload does not decode.
  public func events(fromSeq: UInt64 = 0, toSeq: UInt64 = .max) throws(LogError) -> [Event] {
    let cursor = try cursor(fromSeq: fromSeq, toSeq: toSeq)
    var events: [Event] = []
    while let event = try cursor.next() { events.append(event) }
    return events
  }

  /// The event with this seq, nil if the log does not hold it (never logged, or dropped by
  /// the ring). Reads at most one segment (for `explain`).
  public func event(seq: UInt64) throws(LogError) -> Event? {
    try cursor(fromSeq: seq, toSeq: seq).next()
  }

  /// The seqs of the oldest and newest records in the log, nil if it holds none. Reads the
  /// first record of the oldest segment and scans the newest (cheap, unlike `stats()`).
  public func seqRange() throws(LogError) -> ClosedRange<UInt64>? {
    let segments = try EventLog.listSegments(directory: directory)
    var first: UInt64?
    for segment in segments {
      try scanSegment(segment) { (record, _) throws(LogError) in
        first = record.seq
        return false
      }
      if first != nil { break }
    }
    guard let first, let last = try lastRecordSeq(before: segments.count, in: segments) else { return nil }
    return first...max(first, last)
  }

  /// The events with `since <= time < until`, in seq order (times need not be monotonic:
  /// the whole log is scanned, decoding only matching records).
  public func events(since: Timestamp, until: Timestamp = Timestamp(microseconds: .max)) throws(LogError) -> [Event] {
    var events: [Event] = []
    var lastSeq: UInt64?
    for segment in try EventLog.listSegments(directory: directory) {
      try scanSegment(segment) { (record, scanner) throws(LogError) in
        guard lastSeq.map({ record.seq > $0 }) ?? true else { return true }
        lastSeq = record.seq
        let time = try decoding(segment, record) { () throws(EventCodecError) in try scanner.peekEvent().time }
        if time >= since, time < until {
          events.append(
            try decoding(segment, record) { () throws(EventCodecError) in try scanner.decodeEvent(seq: record.seq) })
        }
        return true
      }
    }
    return events
  }

  /// The last `n` events (fewer if the log holds fewer), in seq order. Reads segments from
  /// the newest back, decoding only the events returned.
  public func last(_ n: Int) throws(LogError) -> [Event] {
    guard n > 0 else { return [] }
    var result: [Event] = []
    var boundary = UInt64.max  // only seqs below the newer segments' first one
    for segment in try EventLog.listSegments(directory: directory).reversed() {
      let wanted = n - result.count
      var tail: [(seq: UInt64, payload: [UInt8])] = []
      var head = 0  // ring start in `tail` once it is full
      try scanSegment(segment) { (record, scanner) throws(LogError) in
        guard record.seq < boundary else { return false }
        if tail.count < wanted {
          tail.append((record.seq, scanner.payloadBytes()))
        } else {
          tail[head] = (record.seq, scanner.payloadBytes())
          head = (head + 1) % wanted
        }
        return true
      }
      let ordered = Array(tail[head...] + tail[..<head])
      var decoded: [Event] = []
      for item in ordered {
        let event = try decoding(segment, offset: nil) { () throws(EventCodecError) in
          try item.payload.withUnsafeBytes { raw in
            Result { () throws(EventCodecError) in try EventCodec.decode(raw, seq: item.seq) }
          }.get()
        }
        decoded.append(event)
      }
      if let first = ordered.first { boundary = min(boundary, first.seq) }
      result = decoded + result
      if result.count >= n { break }
    }
    return result
  }

  /// The last value and time of each signal (`signal` events with a signal name); with
  /// `signals`, of those only. Reads segments from the newest back, and with `signals` stops
  /// as soon as all of them are found; only records of wanted signals are fully decoded.
  public func lastSignalValues(
    of signals: Set<String>? = nil
  ) throws(LogError) -> [String: (value: Value, time: Timestamp)] {
    var values: [String: (value: Value, time: Timestamp)] = [:]
    var boundary = UInt64.max  // records at or past the newer segments' first seq are ignored
    for segment in try EventLog.listSegments(directory: directory).reversed() {
      var newest: [String: (value: Value, time: Timestamp)] = [:]
      var firstSeq: UInt64?
      try scanSegment(segment) { (record, scanner) throws(LogError) in
        guard record.seq < boundary else { return false }
        firstSeq = firstSeq ?? record.seq
        let name = try decoding(segment, record) { () throws(EventCodecError) in try scanner.peekSignal() }
        guard let name, values[name] == nil, signals?.contains(name) ?? true else { return true }
        let event = try decoding(segment, record) { () throws(EventCodecError) in
          try scanner.decodeEvent(seq: record.seq)
        }
        newest[name] = (event.value, event.time)
        return true
      }
      values.merge(newest) { newer, _ in newer }
      if let firstSeq { boundary = firstSeq }
      if let signals, values.count == signals.count { break }
    }
    return values
  }

  /// The seq of the last valid record in the segments before `index`, newest first.
  func lastRecordSeq(before index: Int, in segments: [EventLog.SegmentFile]) throws(LogError) -> UInt64? {
    for segment in segments[..<index].reversed() {
      var last: UInt64?
      try scanSegment(segment) { (record, _) throws(LogError) in
        last = record.seq
        return true
      }
      if let last { return last }
    }
    return nil
  }

  /// Runs `body` on each valid record of a segment until it returns false. Returns why the
  /// scan stopped, or nil if the segment is gone or its header is unreadable (`headerProblem`
  /// says why). Throws `.unsupportedVersion` for a segment of a newer format.
  /// Corrupt stretches with valid records after them are skipped (the scanner resyncs) and
  /// passed to `skipped`.
  @discardableResult
  func scanSegment(
    _ segment: EventLog.SegmentFile,
    headerProblem: ((SegmentFormat.HeaderProblem) -> Void)? = nil,
    skipped: ((SkippedBytes) -> Void)? = nil,
    _ body: (SegmentScanner.Record, SegmentScanner) throws(LogError) -> Bool
  ) throws(LogError) -> ScanStop? {
    let fd: Int32
    do {
      fd = try Sys.open(segment.path, .read)
    } catch {
      if error.errno == SystemError.noSuchEntry { return nil }  // deleted by retention meanwhile
      throw error
    }
    defer { _ = try? Sys.close(fd, path: segment.path) }
    let header: SegmentFormat.Header
    switch try readSegmentHeader(fd: fd, path: segment.path) {
    case .success(let h): header = h
    case .failure(let problem):
      if problem.unsupported {
        throw LogError(code: .unsupportedVersion, operation: "read", path: segment.path, detail: problem.reason)
      }
      headerProblem?(problem)
      return nil
    }
    var scanner = SegmentScanner(fd: fd, path: segment.path, header: header)
    defer { for stretch in scanner.skipped { skipped?(stretch) } }
    while let record = try scanner.next() {
      if try !body(record, scanner) { return .end }
    }
    return try scanner.stop()
  }

  private func decoding<T>(
    _ segment: EventLog.SegmentFile, _ record: SegmentScanner.Record, _ body: () throws(EventCodecError) -> T
  ) throws(LogError) -> T {
    try decoding(segment, offset: record.offset, body)
  }

  private func decoding<T>(
    _ segment: EventLog.SegmentFile, offset: Int64?, _ body: () throws(EventCodecError) -> T
  ) throws(LogError) -> T {
    do {
      return try body()
    } catch {
      throw LogError.undecodable(error, path: segment.path, offset: offset)
    }
  }
}

extension LogError {
  static func undecodable(_ error: EventCodecError, path: String, offset: Int64?) -> LogError {
    let unsupported = error.reason.hasPrefix("unknown codec version")
    let at = offset.map { "offset \($0): " } ?? ""
    return LogError(
      code: unsupported ? .unsupportedVersion : .corrupt, operation: "decode", path: path, detail: at + error.reason)
  }
}

/// Events of a log folder in seq order, read a chunk at a time. Not thread-safe (a cursor
/// belongs to one reader); holds one open file, closed at the end or on deinit.
public final class LogCursor {
  public let directory: String
  public let fromSeq: UInt64
  public let toSeq: UInt64
  private var segments: [EventLog.SegmentFile]
  private var index: Int
  private var scanner: SegmentScanner?
  private var fd: Int32 = -1
  private var lastServed: UInt64?
  private var finished = false
  /// Segment files skipped because their header is unreadable.
  public private(set) var skippedSegments: [String] = []

  init(directory: String, fromSeq: UInt64, toSeq: UInt64) throws(LogError) {
    self.directory = directory
    self.fromSeq = fromSeq
    self.toSeq = toSeq
    segments = try EventLog.listSegments(directory: directory)
    // Start in the last segment whose base is at or below fromSeq.
    index = max(0, (segments.lastIndex { $0.baseSeq <= fromSeq }) ?? 0)
  }

  deinit { closeSegment() }

  /// The next event, or nil at the current end of the log (or past `toSeq`).
  /// - Throws: I/O errors; `.corrupt`/`.unsupportedVersion` for a checksummed record that
  ///   does not decode.
  public func next() throws(LogError) -> Event? {
    while !finished {
      if scanner == nil {
        if index >= segments.count {
          if try !refreshSegments() { return nil }
          continue
        }
        if try !openSegment() { return nil }
        continue
      }
      if let record = try scanner!.next() {
        if record.seq > toSeq {
          finished = true
          closeSegment()
          return nil
        }
        if record.seq < fromSeq || lastServed.map({ record.seq <= $0 }) == true { continue }
        let event: Event
        do {
          event = try scanner!.decodeEvent(seq: record.seq)
        } catch {
          throw LogError.undecodable(error, path: scanner!.path, offset: record.offset)
        }
        lastServed = record.seq
        return event
      }
      // The end of this segment's valid records.
      if index == segments.count - 1 {
        // The newest known segment: if the writer has moved on to a newer one, read this
        // one once more (records may have landed before the switch), then go on.
        if try !refreshSegments() { return nil }
        continue
      }
      closeSegment()
      index += 1
    }
    return nil
  }

  /// Adds segments newer than the known ones; returns whether there were any.
  private func refreshSegments() throws(LogError) -> Bool {
    let newest = segments.last?.baseSeq
    let newer = try EventLog.listSegments(directory: directory).filter { s in newest.map { s.baseSeq > $0 } ?? true }
    segments.append(contentsOf: newer)
    return !newer.isEmpty
  }

  /// Opens `segments[index]`, or skips it. Returns false when the newest segment's header is
  /// not readable yet (the writer may be creating it): `next()` then ends for now.
  private func openSegment() throws(LogError) -> Bool {
    let segment = segments[index]
    closeSegment()  // after an error in an earlier call, the descriptor may still be open
    do {
      fd = try Sys.open(segment.path, .read)
    } catch {
      if error.errno == SystemError.noSuchEntry {  // deleted by retention meanwhile
        index += 1
        return true
      }
      throw error
    }
    switch try readSegmentHeader(fd: fd, path: segment.path) {
    case .success(let header):
      scanner = SegmentScanner(fd: fd, path: segment.path, header: header)
      return true
    case .failure(let problem):
      closeSegment()
      if problem.unsupported {
        throw LogError(code: .unsupportedVersion, operation: "read", path: segment.path, detail: problem.reason)
      }
      if index == segments.count - 1 {
        segments.removeLast()  // listed again, and retried, on the next call
        return false
      }
      skippedSegments.append(segment.name)
      index += 1
      return true
    }
  }

  private func closeSegment() {
    if fd >= 0 { _ = try? Sys.close(fd, path: directory) }
    fd = -1
    scanner = nil
  }
}
