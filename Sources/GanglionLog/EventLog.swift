import GanglionCore
import GanglionSystem

/// The writer of the on-disk event log: a ring of segment files in one folder.
///
/// Not thread-safe: one thread (the daemon's pipeline) owns it. Every method blocks on file
/// I/O, so call it from a dedicated thread, never from Swift's cooperative pool. Only one
/// writer per folder: `open` takes an `flock` on the folder's `LOCK` file and a second
/// writer (in any process) gets `LogError.Code.locked`. Readers (`LogReader`) need no lock.
///
/// Appends are buffered and written in large `pwrite`s (at `sync`, and whenever the buffer
/// passes 64 KiB). When a write fails (disk full, read-only, I/O error) the writer does not
/// throw: it drops the records it could not write (`droppedRecords`), reports the failure in
/// `writeFailure`, tries again after `LogOptions.retryInterval`, and resumes by itself; seqs keep
/// increasing. A failed fdatasync is different: it throws, and the writer is unusable from
/// then on (the kernel may have dropped the dirty pages; the daemon should exit and restart).
public final class EventLog {
  public let directory: String
  public let options: LogOptions
  /// What `open` found and repaired.
  public private(set) var recovery: RecoveryReport
  /// The seq the next `append` assigns (1 for a new log). Never reused, across restarts too.
  public private(set) var nextSeq: UInt64
  /// Records given a seq but never written: writing failed, or the event was too large.
  public private(set) var droppedRecords: UInt64 = 0
  /// Events whose encoding is larger than 16 MiB: given a seq, counted in `droppedRecords`,
  /// not written.
  public private(set) var oversizedRecords: UInt64 = 0
  /// The write failure in effect, nil while writes succeed. Set on the first failure (log it
  /// then), cleared when a retry succeeds.
  public private(set) var writeFailure: LogError?
  /// The failure to delete an old segment, while it lasts (the ring then grows past
  /// `maxSize`); nil again once the ring is back within it.
  public private(set) var retentionFailure: LogError?
  /// Record bytes written by this writer (for metrics).
  public private(set) var writtenBytes: Int64 = 0
  /// fdatasyncs of segment data done by this writer (for metrics).
  public private(set) var syncCount: Int64 = 0

  /// Bytes of the segment files (the ring's current size), not counting buffered records.
  public var sizeBytes: Int64 { closedSegments.reduce(active?.size ?? 0) { $0 + $1.size } }

  /// Seqs are reserved in `seq.meta` this many at a time (a crash leaves a gap of at most this).
  static let reservationBlock: UInt64 = 4096
  /// The buffer is written out when it passes this size.
  static let flushThreshold = 64 << 10

  private struct ActiveSegment {
    var fd: Int32
    var path: String
    var baseSeq: UInt64
    var generation: UInt32
    /// Bytes on file (all valid).
    var size: Int64
    var unsynced: Bool
    var hasRecords: Bool
  }

  private struct ClosedSegment {
    var baseSeq: UInt64
    var path: String
    var size: Int64
  }

  private let lockFD: Int32
  private var meta: SeqMeta
  private var closedSegments: [ClosedSegment]
  private var active: ActiveSegment?
  /// The segment the buffered records are framed for when `active` is nil.
  private var planned: (baseSeq: UInt64, generation: UInt32)?
  private var nextGeneration: UInt32
  private var buffer: [UInt8] = []
  private var bufferRecords = 0
  /// The seqs of the first and last record in the buffer (nil when it is empty).
  private var bufferFirstSeq: UInt64?
  private var bufferLastSeq: UInt64 = 0
  /// Seqs given out whose records were never written, not taken yet (`takeLostSeqs`).
  private var lostSeqs: [ClosedRange<UInt64>] = []
  /// At most this many separate ranges are kept; past it the newest two are joined (the
  /// seqs between them are then reported lost although they may be on file).
  static let maximumLostRanges = 1024
  private var payload: [UInt8] = []
  private var retryAtMonotonic: Int64 = 0
  private var lastIntervalSync: Int64?
  /// Set by a failed fdatasync or by `close`: every later call throws it.
  private var unusable: LogError?
  /// The files and the lock were closed.
  private var released = false

  private init(
    directory: String, options: LogOptions, lockFD: Int32, meta: SeqMeta, closedSegments: [ClosedSegment],
    active: ActiveSegment?, nextGeneration: UInt32, recovery: RecoveryReport
  ) {
    self.directory = directory
    self.options = options
    self.lockFD = lockFD
    self.meta = meta
    self.closedSegments = closedSegments
    self.active = active
    self.nextGeneration = nextGeneration
    self.recovery = recovery
    self.nextSeq = recovery.nextSeq
    buffer.reserveCapacity(Self.flushThreshold + 4096)
  }

  deinit {
    // Without close(): buffered records are lost; files are closed, the lock released.
    if !released { releaseFiles() }
  }

  // MARK: opening and recovery

  /// Opens the log in `directory` (creating the folder and its parents if needed), takes the
  /// writer lock, and recovers: every segment is checked record by record; corrupt bytes
  /// with valid records after them are skipped, not cut (`recovery.skipped`), and the newest
  /// segment is cut at a torn or corrupt tail (`recovery.cuts` says where and how many
  /// bytes); segments past `maxSize` are deleted. Blocks for the scan (one read of the log).
  /// - Throws: `.locked` if another writer has the folder, `.invalidOptions`,
  ///   `.unsupportedVersion` for a newest segment written by a newer version, and system
  ///   errors (cannot create, read or truncate the files).
  public static func open(directory: String, options: LogOptions = LogOptions()) throws(LogError) -> EventLog {
    try options.validate(directory: directory)
    try Sys.makeDirectories(directory)
    let lockPath = directory + "/" + SegmentFormat.lockFileName
    let lockFD = try Sys.open(lockPath, .readWriteCreate)
    do throws(LogError) {
      guard try Sys.tryLockExclusive(lockFD, path: lockPath) else {
        throw LogError(code: .locked, operation: "flock", path: lockPath)
      }
      return try recover(directory: directory, options: options, lockFD: lockFD)
    } catch {
      _ = try? Sys.unlock(lockFD, path: lockPath)
      _ = try? Sys.close(lockFD, path: lockPath)
      throw error
    }
  }

  private static func recover(directory: String, options: LogOptions, lockFD: Int32) throws(LogError) -> EventLog {
    let meta = try SeqMeta.open(directory: directory)
    var tailFD: (fd: Int32, path: String)?
    do throws(LogError) {
      return try recover(directory: directory, options: options, lockFD: lockFD, meta: meta, tailFD: &tailFD)
    } catch {
      if let tailFD { _ = try? Sys.close(tailFD.fd, path: tailFD.path) }
      _ = try? meta.close()
      throw error
    }
  }

  /// Recovery proper; `tailFD` holds the tail segment's descriptor while this function owns it.
  private static func recover(
    directory: String, options: LogOptions, lockFD: Int32, meta: SeqMeta, tailFD: inout (fd: Int32, path: String)?
  ) throws(LogError) -> EventLog {
    var meta = meta
    for name in try Sys.listDirectory(directory) where name.hasSuffix(SegmentFormat.fileSuffix + ".tmp") {
      try Sys.unlink(directory + "/" + name)  // a segment that was being created
    }
    var segments = try listSegments(directory: directory)
    let segmentsFound = segments.count
    var cuts: [RecoveryReport.Cut] = []
    var maxGeneration = meta.generation
    var damaged: [String] = []
    var skipped: [SkippedBytes] = []

    // The newest segment with a readable header becomes the tail. A newer one without a
    // readable header holds no synced record (its header was synced before it got its
    // name): removed if it holds nothing else, else renamed `<name>.damaged` and kept.
    var tail: (header: SegmentFormat.Header, scanner: SegmentScanner)?
    while let last = segments.last {
      let fd = try Sys.open(last.path, .readWrite)
      tailFD = (fd, last.path)
      let size = try Sys.fileSize(fd, path: last.path)
      switch try readSegmentHeader(fd: fd, path: last.path) {
      case .failure(let problem):
        tailFD = nil
        _ = try? Sys.close(fd, path: last.path)
        if problem.unsupported {
          throw LogError(code: .unsupportedVersion, operation: "recover", path: last.path, detail: problem.reason)
        }
        if size <= Int64(SegmentFormat.headerSize) {
          try Sys.unlink(last.path)
          cuts.append(.init(segment: last.name, offset: 0, bytes: size, reason: problem.reason))
        } else {
          try Sys.rename(last.path, to: last.path + ".damaged")
          cuts.append(
            .init(segment: last.name, offset: 0, bytes: size, reason: problem.reason + "; kept as \(last.name).damaged")
          )
        }
        segments.removeLast()
        continue
      case .success(let header):
        var scanner = SegmentScanner(fd: fd, path: last.path, header: header)
        while try scanner.next() != nil {}
        skipped += scanner.skipped
        switch try scanner.stop() {
        case .end:
          break
        case .incomplete(let offset, let bytes):
          try truncate(fd: fd, path: last.path, to: offset)
          cuts.append(.init(segment: last.name, offset: offset, bytes: bytes, reason: "incomplete record"))
        case .corrupt(let offset, let reason):
          try truncate(fd: fd, path: last.path, to: offset)
          cuts.append(.init(segment: last.name, offset: offset, bytes: size - offset, reason: reason))
        }
        tail = (header, scanner)
      }
      break
    }

    // Older segments: every record is checked once, so corruption inside one is reported
    // now, not found later by a reader (which skips it too, resyncing after it).
    var closed: [ClosedSegment] = []
    for segment in segments.dropLast(tail == nil ? 0 : 1) {
      let fd = try Sys.open(segment.path, .read)
      defer { _ = try? Sys.close(fd, path: segment.path) }
      let size = try Sys.fileSize(fd, path: segment.path)
      switch try readSegmentHeader(fd: fd, path: segment.path) {
      case .success(let header):
        maxGeneration = max(maxGeneration, header.generation)
        var scanner = SegmentScanner(fd: fd, path: segment.path, header: header)
        while try scanner.next() != nil {}
        skipped += scanner.skipped
        switch try scanner.stop() {
        case .end: break
        case .incomplete(let offset, let bytes):
          skipped.append(
            SkippedBytes(
              segment: segment.name, offset: offset, bytes: bytes, reason: "the segment ends inside a record"))
        case .corrupt(let offset, let reason):
          skipped.append(
            SkippedBytes(segment: segment.name, offset: offset, bytes: size - offset, reason: reason + ", to its end"))
        }
      case .failure: damaged.append(segment.name)
      }
      closed.append(ClosedSegment(baseSeq: segment.baseSeq, path: segment.path, size: size))
    }

    var lastSeq: UInt64?
    var seqUpperBound: UInt64 = 0
    var active: ActiveSegment?
    if let tail, let (fd, path) = tailFD {
      maxGeneration = max(maxGeneration, tail.header.generation)
      let size = tail.scanner.position
      lastSeq = tail.scanner.lastSeq
      seqUpperBound = lastSeq ?? (tail.header.baseSeq &- 1)
      if lastSeq == nil {
        // The tail is empty: the last record is in an older segment.
        let reader = LogReader(trustedDirectory: directory)
        lastSeq = try reader.lastRecordSeq(before: segments.count - 1, in: segments)
      }
      if size < options.segmentSize {
        active = ActiveSegment(
          fd: fd, path: path, baseSeq: tail.header.baseSeq, generation: tail.header.generation, size: size,
          unsynced: false, hasRecords: tail.scanner.recordCount > 0)
      } else {
        tailFD = nil
        try Sys.close(fd, path: path)
        closed.append(ClosedSegment(baseSeq: tail.header.baseSeq, path: path, size: size))
      }
    }

    let nextSeq = max(seqUpperBound &+ 1, meta.reservedSeq, 1)
    let recovery = RecoveryReport(
      segmentsFound: segmentsFound, cuts: cuts, lastSeq: lastSeq, nextSeq: nextSeq, damagedSegments: damaged,
      metaProblem: meta.problem, skipped: skipped)
    meta.problem = nil
    let log = EventLog(
      directory: directory, options: options, lockFD: lockFD, meta: meta, closedSegments: closed, active: active,
      nextGeneration: maxGeneration &+ 1, recovery: recovery)
    tailFD = nil  // owned by the log now
    log.applyRetention(roomFor: 0)
    return log
  }

  private static func truncate(fd: Int32, path: String, to size: Int64) throws(LogError) {
    try Sys.ftruncate(fd, size: size, path: path)
    try Sys.fsync(fd, path: path)
  }

  struct SegmentFile {
    var baseSeq: UInt64
    var name: String
    var path: String
  }

  /// Segment files in `directory`, oldest (lowest base seq) first.
  static func listSegments(directory: String) throws(LogError) -> [SegmentFile] {
    try Sys.listDirectory(directory).compactMap { name in
      SegmentFormat.baseSeq(fileName: name).map { SegmentFile(baseSeq: $0, name: name, path: directory + "/" + name) }
    }.sorted { $0.baseSeq < $1.baseSeq }
  }

  // MARK: appending and syncing

  /// Assigns `event.seq = nextSeq` and buffers the event's record. Writes the buffer when it
  /// passes 64 KiB or the segment is full; never fdatasyncs except when starting a segment.
  /// While writing is failing (see `writeFailure`), the record is dropped and counted, and
  /// so is an event larger than 16 MiB encoded (`oversizedRecords`).
  /// - Throws: only if the log is unusable: closed, or a sync failed.
  public func append(_ event: inout Event) throws(LogError) {
    if let unusable { throw unusable }
    let seq = nextSeq
    if seq >= meta.reservedSeq { try reserveSeqs(from: seq) }
    nextSeq = seq + 1
    event.seq = seq
    if writeFailure != nil, Sys.monotonicMicroseconds() < retryAtMonotonic {
      droppedRecords += 1
      noteLost(seq...seq)
      return
    }
    payload.removeAll(keepingCapacity: true)
    EventCodec.encode(event, into: &payload)
    guard payload.count <= SegmentFormat.maximumPayload else {
      // Readers would take it for corruption: refuse it (it keeps its seq).
      droppedRecords += 1
      oversizedRecords += 1
      noteLost(seq...seq)
      payload = []
      return
    }
    let recordSize = Int64(SegmentFormat.recordHeaderSize + payload.count)

    let segmentBytes = (active?.size ?? Int64(SegmentFormat.headerSize)) + Int64(buffer.count)
    let segmentHasRecords = (active?.hasRecords ?? false) || bufferRecords > 0
    if active != nil || planned != nil, segmentHasRecords, segmentBytes + recordSize > options.segmentSize {
      try writeBuffer()
      try closeActive()
      planned = nil
    }
    if active == nil, planned == nil {
      planned = (seq, nextGeneration)
      nextGeneration &+= 1
    }
    let generation = active?.generation ?? planned!.generation
    SegmentFormat.appendRecord(seq: seq, generation: generation, payload: payload, into: &buffer)
    bufferRecords += 1
    if bufferFirstSeq == nil { bufferFirstSeq = seq }
    bufferLastSeq = seq
    if buffer.count >= Self.flushThreshold { try writeBuffer() }
  }

  /// Writes the buffered records to the segment file without fdatasync, so a `LogReader`
  /// sees them (they are not made durable: that is `sync`'s job). Failures are handled as in
  /// `append` (records dropped and counted, `writeFailure` set).
  /// - Throws: only if the log is unusable.
  public func writeBuffered() throws(LogError) {
    if let unusable { throw unusable }
    try writeBuffer()
  }

  /// Every seq up to this one is settled: its record was written to its segment file (it can
  /// be read back), or it was lost (`takeLostSeqs` reports it). Later records wait in the
  /// buffer.
  public var settledSeq: UInt64 { (bufferFirstSeq ?? nextSeq) - 1 }

  /// The seqs given out since the last call whose records were never written (disk full, a
  /// write error, an event too large), as ranges in seq order; for those who must not count
  /// on reading them back (the MQTT outbox). Bounded: see `maximumLostRanges`.
  public func takeLostSeqs() -> [ClosedRange<UInt64>] {
    defer { lostSeqs.removeAll(keepingCapacity: true) }
    return lostSeqs
  }

  /// True when one of the next `events` appends (of `bytes` in all) may have to wait for
  /// the disk: reserve a new block of seqs, roll to a new segment or start one (each
  /// fdatasyncs). For a caller on a thread that must not wait long (the MQTT network thread),
  /// to hand its work to the pipeline's thread instead. An estimate: more appends than
  /// `events` may still reach such a point.
  public func syncIsNear(events: Int, bytes: Int) -> Bool {
    if nextSeq + UInt64(events) >= meta.reservedSeq { return true }
    let pending = Int64(buffer.count + bytes)
    if (active?.size ?? Int64(SegmentFormat.headerSize)) + pending > options.segmentSize { return true }  // a roll
    // Without an open segment, the next one starts when the buffer is written.
    return active == nil && pending >= Int64(Self.flushThreshold)
  }

  /// Writes the buffered records and, unless the mode is `.never`, fdatasyncs them. When
  /// writing is failing, the buffered records are dropped (see `writeFailure`) and no error
  /// is thrown.
  /// - Throws: the fdatasync error (the log is unusable afterwards), or `.unusable`.
  public func sync() throws(LogError) {
    if let unusable { throw unusable }
    try writeBuffer()
    guard let segment = active, segment.unsynced else { return }
    if options.sync != .never {
      do {
        try Sys.fdatasync(segment.fd, path: segment.path)
      } catch {
        unusable = error
        throw error
      }
      syncCount += 1
    }
    active?.unsynced = false
  }

  /// For the pipeline's loop: syncs when due, given the monotonic time in microseconds.
  /// `.always`: whenever records are pending. `.interval(d)`: when records are pending and
  /// the last sync by this method is `d` ago. `.never`: like `.interval(1 s)`, writing
  /// without fdatasync.
  /// - Returns: when to call again (monotonic µs) for records still pending, nil if none are.
  /// - Throws: like `sync()`.
  @discardableResult
  public func syncIfDue(nowMicroseconds: Int64) throws(LogError) -> Int64? {
    if let unusable { throw unusable }
    let pending = !buffer.isEmpty || active?.unsynced == true
    guard pending else { return nil }
    let interval: Duration
    switch options.sync {
    case .always:
      try sync()
      return nil
    case .interval(let d): interval = d
    case .never: interval = .seconds(1)
    }
    let due = (lastIntervalSync ?? .min / 2) + interval.microseconds
    if nowMicroseconds < due { return due }
    try sync()
    lastIntervalSync = nowMicroseconds
    return nil
  }

  /// Writes and syncs what is buffered, records the exact next seq (so a clean restart has
  /// no seq gap), and releases the files and the lock. Calling it again does nothing.
  /// - Throws: the first error; the files and the lock are released anyway.
  public func close() throws(LogError) {
    if released { return }
    if let unusable {
      releaseFiles()
      throw unusable
    }
    var firstError: LogError?
    do {
      try sync()
      try meta.store(reservedSeq: nextSeq, generation: nextGeneration &- 1)
    } catch {
      firstError = error
    }
    releaseFiles()
    if let firstError { throw firstError }
  }

  private func releaseFiles() {
    if let active { _ = try? Sys.close(active.fd, path: active.path) }
    active = nil
    _ = try? meta.close()
    let lockPath = directory + "/" + SegmentFormat.lockFileName
    _ = try? Sys.unlock(lockFD, path: lockPath)
    _ = try? Sys.close(lockFD, path: lockPath)
    released = true
    if unusable == nil { unusable = LogError(code: .unusable, operation: "append", path: directory, detail: "closed") }
  }

  /// The last value and time of each signal in the log (`signal` events), or of `signals`
  /// only, for restoring `persist: true` signals. Writes buffered records first. Reads the
  /// log from the newest segment back (all of it without `signals`).
  public func lastSignalValues(
    of signals: Set<String>? = nil
  ) throws(LogError) -> [String: (value: Value, time: Timestamp)] {
    if let unusable { throw unusable }
    try writeBuffer()
    return try LogReader(trustedDirectory: directory).lastSignalValues(of: signals)
  }

  // MARK: internals

  private func reserveSeqs(from seq: UInt64) throws(LogError) {
    let target = seq + Self.reservationBlock
    do {
      try meta.store(reservedSeq: target, generation: nextGeneration &- 1)
    } catch {
      if error.isSyncFailure {
        unusable = error
        throw error
      }
      // Could not record it: go on (seqs must not stop); the next block tries again.
      meta.reservedSeq = target
      noteWriteFailure(error)
    }
  }

  private func noteWriteFailure(_ error: LogError) {
    writeFailure = error
    retryAtMonotonic = Sys.monotonicMicroseconds() + options.retryInterval.microseconds
  }

  private func dropBuffer() {
    droppedRecords += UInt64(bufferRecords)
    if let first = bufferFirstSeq { noteLost(first...bufferLastSeq) }
    bufferFirstSeq = nil
    buffer.removeAll(keepingCapacity: true)
    bufferRecords = 0
  }

  /// Writes the buffer to the active segment (starting the planned one if needed).
  /// Write failures drop the buffer and set `writeFailure`; only sync failures throw.
  private func writeBuffer() throws(LogError) {
    guard !buffer.isEmpty else { return }
    if writeFailure != nil, Sys.monotonicMicroseconds() < retryAtMonotonic {
      dropBuffer()
      if active == nil { planned = nil }
      return
    }
    if active == nil {
      guard let planned else {
        dropBuffer()
        return
      }
      do {
        try startSegment(baseSeq: planned.baseSeq, generation: planned.generation)
      } catch {
        self.planned = nil
        dropBuffer()
        if error.isSyncFailure {
          unusable = error
          throw error
        }
        noteWriteFailure(error)
        return
      }
      self.planned = nil
    }
    guard var segment = active else { return }
    do {
      try buffer.withBytes { (raw) throws(LogError) in
        try Sys.pwriteAll(segment.fd, raw, offset: segment.size, path: segment.path)
      }
    } catch {
      dropBuffer()
      noteWriteFailure(error)
      // Remove a partly written record so the segment stays valid for later appends.
      do {
        try Sys.ftruncate(segment.fd, size: segment.size, path: segment.path)
      } catch {
        // The segment may end in a partial record: finish it, later records go to a new one.
        try closeActive()
      }
      return
    }
    segment.size += Int64(buffer.count)
    writtenBytes += Int64(buffer.count)
    segment.unsynced = true
    segment.hasRecords = true
    active = segment
    buffer.removeAll(keepingCapacity: true)
    bufferRecords = 0
    bufferFirstSeq = nil
    writeFailure = nil
  }

  private func noteLost(_ range: ClosedRange<UInt64>) {
    if let last = lostSeqs.last, last.upperBound &+ 1 >= range.lowerBound {
      lostSeqs[lostSeqs.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
    } else if lostSeqs.count >= Self.maximumLostRanges {
      lostSeqs[lostSeqs.count - 1] = lostSeqs[lostSeqs.count - 1].lowerBound...range.upperBound
    } else {
      lostSeqs.append(range)
    }
  }

  /// Creates a segment file with its header: written to `<name>.tmp`, made durable (unless
  /// `.never`), then renamed, so a `.seg` file always starts with a whole header.
  private func startSegment(baseSeq: UInt64, generation: UInt32) throws(LogError) {
    applyRetention(roomFor: options.segmentSize)
    let name = SegmentFormat.fileName(baseSeq: baseSeq)
    let path = directory + "/" + name
    let tmpPath = path + ".tmp"
    try Sys.unlink(tmpPath)
    let fd = try Sys.open(tmpPath, .createExclusive)
    do throws(LogError) {
      try SegmentFormat.encodeHeader(baseSeq: baseSeq, generation: generation).withBytes {
        (raw) throws(LogError) in try Sys.pwriteAll(fd, raw, offset: 0, path: tmpPath)
      }
      if options.sync != .never { try Sys.fdatasync(fd, path: tmpPath) }
      if try Sys.fileSize(path: path) != nil {
        throw LogError(code: .corrupt, operation: "create", path: path, detail: "segment file exists already")
      }
      try Sys.rename(tmpPath, to: path)
      if options.sync != .never { try Sys.syncDirectory(directory) }
    } catch {
      _ = try? Sys.close(fd, path: path)
      try? Sys.unlink(tmpPath)
      throw error
    }
    active = ActiveSegment(
      fd: fd, path: path, baseSeq: baseSeq, generation: generation, size: Int64(SegmentFormat.headerSize),
      unsynced: false, hasRecords: false)
  }

  /// Syncs (unless `.never`) and closes the active segment.
  private func closeActive() throws(LogError) {
    guard let segment = active else { return }
    if segment.unsynced, options.sync != .never {
      do {
        try Sys.fdatasync(segment.fd, path: segment.path)
      } catch {
        unusable = error
        throw error
      }
      syncCount += 1
    }
    active = nil
    do {
      try Sys.close(segment.fd, path: segment.path)
    } catch {
      writeFailure = error  // reported, but nothing to drop or wait for
    }
    closedSegments.append(ClosedSegment(baseSeq: segment.baseSeq, path: segment.path, size: segment.size))
  }

  /// Deletes the oldest closed segments until they, the active one and `roomFor` more bytes
  /// fit in `maxSize`.
  private func applyRetention(roomFor extra: Int64) {
    var total = closedSegments.reduce(extra + (active?.size ?? 0)) { $0 + $1.size }
    while let oldest = closedSegments.first, total > options.maxSize {
      do {
        try Sys.unlink(oldest.path)
      } catch {
        retentionFailure = error
        return
      }
      total -= oldest.size
      closedSegments.removeFirst()
    }
    retentionFailure = nil
  }
}

extension LogError {
  /// fsync/fdatasync failures: after one, the kernel may have dropped the dirty pages, so the
  /// writer must not retry and go on as if the data were safe.
  var isSyncFailure: Bool { operation == "fdatasync" || operation == "fsync" }
}
