import GanglionCore
import GanglionSystem

/// The bytes on disk. A log folder holds segment files named by the seq of their first
/// record (`00000000000000001042.seg`), a `seq.meta` file and a `LOCK` file.
///
/// Segment header, 32 bytes, little-endian:
/// ```
/// 0  "GNLG"  4  u16 version (1)  6  u16 header size (32)  8  u64 base seq
/// 16 u32 generation  20 u64 reserved (0)  28 u32 CRC32C of bytes 0..<28
/// ```
/// Then records, back to back, each:
/// ```
/// 0 u32 payload length  4 u32 generation  8 u64 seq  16 u32 CRC32C(bytes 0..<16 + payload)
/// 20 payload (EventCodec)
/// ```
/// The generation is a counter that grows with every segment file created; a record is valid
/// only with its segment's generation, so bytes left from an earlier file or lap never pass
/// as new records. Within a segment, seqs strictly increase and are >= the base seq.
enum SegmentFormat {
  static let magic: [UInt8] = Array("GNLG".utf8)
  static let version: UInt16 = 1
  static let headerSize = 32
  static let recordHeaderSize = 20
  /// Larger lengths are corruption (MQTT payloads are capped at 256 KiB).
  static let maximumPayload = 16 << 20
  static let fileSuffix = ".seg"
  static let lockFileName = "LOCK"

  static func fileName(baseSeq: UInt64) -> String {
    let digits = String(baseSeq)
    return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + fileSuffix
  }

  /// The base seq of a segment file name, nil for other files.
  static func baseSeq(fileName name: String) -> UInt64? {
    guard name.hasSuffix(fileSuffix) else { return nil }
    let digits = name.dropLast(fileSuffix.count)
    guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return UInt64(digits)
  }

  static func encodeHeader(baseSeq: UInt64, generation: UInt32) -> [UInt8] {
    var out = magic
    out.append(contentsOf: [UInt8(truncatingIfNeeded: version), UInt8(truncatingIfNeeded: version >> 8)])
    out.append(contentsOf: [UInt8(headerSize), 0])
    EventCodec.appendFixed(baseSeq, into: &out)
    appendU32(generation, into: &out)
    EventCodec.appendFixed(0, into: &out)
    appendU32(CRC32C.checksum(out), into: &out)
    return out
  }

  struct Header: Equatable {
    var baseSeq: UInt64
    var generation: UInt32
  }

  /// Reads a header; the error text says what is wrong.
  static func decodeHeader(_ bytes: UnsafeRawBufferPointer) -> Result<Header, HeaderProblem> {
    guard bytes.count >= headerSize else { return .failure(.init(reason: "short header", unsupported: false)) }
    guard Array(bytes[0..<4]) == magic else { return .failure(.init(reason: "bad magic", unsupported: false)) }
    guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<28])) == loadU32(bytes, 28) else {
      return .failure(.init(reason: "header checksum mismatch", unsupported: false))
    }
    let version = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
    guard version == Self.version else {
      return .failure(.init(reason: "segment version \(version)", unsupported: true))
    }
    return .success(Header(baseSeq: loadU64(bytes, 8), generation: loadU32(bytes, 16)))
  }

  struct HeaderProblem: Error {
    var reason: String
    var unsupported: Bool
  }

  /// Appends one framed record: header with CRC, then `payload` (an EventCodec encoding).
  static func appendRecord(seq: UInt64, generation: UInt32, payload: [UInt8], into out: inout [UInt8]) {
    let start = out.count
    appendU32(UInt32(payload.count), into: &out)
    appendU32(generation, into: &out)
    EventCodec.appendFixed(seq, into: &out)
    let crc = out.withUnsafeBytes { raw in
      CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<start + 16]))
    }
    appendU32(CRC32C.checksum(payload, continuing: crc), into: &out)
    out.append(contentsOf: payload)
  }

  static func appendU32(_ v: UInt32, into out: inout [UInt8]) {
    for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
  }

  static func loadU32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }

  static func loadU64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }
}

/// Where and why a scan of a segment stopped.
enum ScanStop: Equatable {
  /// The file ends exactly after the last record.
  case end
  /// The file ends inside a record (torn write, or a write in progress): `bytes` left over.
  case incomplete(offset: Int64, bytes: Int64)
  /// Bytes at `offset` are not a valid record.
  case corrupt(offset: Int64, reason: String)
}

/// Bytes inside a segment that are not valid records, with valid records after them: skipped
/// by readers and recovery, which resync at the next valid record (`SegmentScanner`).
public struct SkippedBytes: Sendable, Equatable, CustomStringConvertible {
  /// The segment file name.
  public var segment: String
  /// Where the bad bytes start, and how many there are up to the next valid record.
  public var offset: Int64
  public var bytes: Int64
  /// What was wrong with the record at `offset`.
  public var reason: String
  /// The seqs between the last record before and the first after, which cannot be read
  /// (nil when none is missing: the bad bytes held no whole record).
  public var unreadableSeqs: ClosedRange<UInt64>?

  public var description: String {
    let seqs =
      unreadableSeqs.map {
        $0.count == 1 ? "; #\($0.lowerBound) cannot be read" : "; #\($0.lowerBound) to #\($0.upperBound) cannot be read"
      } ?? ""
    return "\(segment): \(bytes) bytes at offset \(offset) skipped (\(reason))\(seqs); the records after them are kept"
  }
}

/// Reads the records of one segment file in order, checking each. At a record that fails a
/// check it resyncs: the next valid record after it (its segment's generation, a checksum
/// that matches, a higher seq) is where reading goes on, and the bad stretch is noted in
/// `skipped`. With no valid record after it, the scan stops there (`corruption`): a torn or
/// corrupt tail. Reads in chunks; not thread-safe.
struct SegmentScanner {
  let fd: Int32
  let path: String
  let header: SegmentFormat.Header
  private var buffer: [UInt8]
  /// File offset of `buffer[0]`, and how many bytes of the buffer hold file data.
  private var bufferStart: Int64
  private var bufferCount = 0
  /// Offset of the next record.
  private(set) var position: Int64
  private(set) var lastSeq: UInt64?
  private(set) var recordCount = 0
  /// Set once the scan reached corruption with no valid record after it: it never goes on.
  private(set) var corruption: ScanStop?
  /// Bad stretches skipped so far (each with valid records after it), in file order.
  private(set) var skipped: [SkippedBytes] = []
  /// At most this much of the file after a bad record is searched for the next valid one.
  static let resyncWindow = SegmentFormat.maximumPayload + (4 << 20)
  /// The current record's payload, as a range of `buffer`.
  private var payloadRange: Range<Int> = 0..<0

  struct Record {
    var seq: UInt64
    var offset: Int64
    var length: Int
  }

  init(fd: Int32, path: String, header: SegmentFormat.Header, chunkSize: Int = 64 << 10) {
    self.fd = fd
    self.path = path
    self.header = header
    self.buffer = [UInt8](repeating: 0, count: chunkSize)
    self.bufferStart = Int64(SegmentFormat.headerSize)
    self.position = Int64(SegmentFormat.headerSize)
  }

  /// Makes `count` bytes at `position` available in the buffer; returns how many are (fewer at EOF).
  private mutating func fill(_ count: Int) throws(LogError) -> Int {
    let offsetInBuffer = Int(position - bufferStart)
    let have = bufferCount - offsetInBuffer
    if have >= count { return count }
    if offsetInBuffer > 0 {
      // Move what is left to the front.
      buffer.withUnsafeMutableBytes { raw in
        raw.baseAddress!.copyMemory(from: raw.baseAddress! + offsetInBuffer, byteCount: have)
      }
      bufferStart = position
      bufferCount = have
    }
    if buffer.count < count { buffer.append(contentsOf: repeatElement(0, count: count - buffer.count)) }
    let fileOffset = bufferStart + Int64(bufferCount)
    let filled = bufferCount
    let got = try buffer.withMutableBytes { (raw) throws(LogError) -> Int in
      try Sys.preadFull(
        fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), offset: fileOffset, path: path)
    }
    bufferCount += got
    return min(count, bufferCount)
  }

  /// The next valid record, or nil at the end of the valid records (see `stop`).
  /// After nil for `.end` or `.incomplete`, calling again reads what was appended since.
  mutating func next() throws(LogError) -> Record? {
    while corruption == nil {
      switch try recordAtPosition() {
      case .record(let record): return record
      case .incomplete:
        // The file ends inside it: a write in progress or a torn tail, unless its length is
        // what is damaged and valid records follow.
        if try !resync(reason: "record length runs past the end of the file", onlyIfFound: true) { return nil }
      case .bad(let reason):
        if try !resync(reason: reason, onlyIfFound: false) { return nil }
      }
    }
    return nil
  }

  private enum Attempt {
    case record(Record)
    case incomplete
    case bad(String)
  }

  /// Reads and checks the record at `position`, and moves past it if it is valid.
  private mutating func recordAtPosition() throws(LogError) -> Attempt {
    let headerBytes = try fill(SegmentFormat.recordHeaderSize)
    if headerBytes < SegmentFormat.recordHeaderSize { return .incomplete }
    let at = Int(position - bufferStart)
    let (length, generation, seq, storedCRC) = buffer.withUnsafeBytes { raw in
      (
        Int(SegmentFormat.loadU32(raw, at)), SegmentFormat.loadU32(raw, at + 4), SegmentFormat.loadU64(raw, at + 8),
        SegmentFormat.loadU32(raw, at + 16)
      )
    }
    guard length <= SegmentFormat.maximumPayload else { return .bad("record length \(length) too large") }
    guard generation == header.generation else {
      return .bad("generation \(generation) is not the segment's \(header.generation) (stale or garbage bytes)")
    }
    let total = SegmentFormat.recordHeaderSize + length
    if try fill(total) < total { return .incomplete }
    let start = Int(position - bufferStart)
    let crc = buffer.withUnsafeBytes { raw in
      let c = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<start + 16]))
      return CRC32C.checksum(
        UnsafeRawBufferPointer(rebasing: raw[start + SegmentFormat.recordHeaderSize..<start + total]), continuing: c)
    }
    guard crc == storedCRC else { return .bad("checksum mismatch") }
    guard seq >= header.baseSeq, lastSeq.map({ seq > $0 }) ?? true else { return .bad("seq \(seq) out of order") }
    let record = Record(seq: seq, offset: position, length: length)
    payloadRange = start + SegmentFormat.recordHeaderSize..<start + total
    position += Int64(total)
    lastSeq = seq
    recordCount += 1
    return .record(record)
  }

  /// Looks for the next valid record after the bad one at `position`; if there is one, notes
  /// the stretch in `skipped`, moves there and returns true. If there is none: with
  /// `onlyIfFound`, leaves things as they are (an incomplete record at the end); otherwise
  /// notes `corruption` (a corrupt tail). Returns false then.
  private mutating func resync(reason: String, onlyIfFound: Bool) throws(LogError) -> Bool {
    let size = try Sys.fileSize(fd, path: path)
    let from = position + 1
    let count = Int(min(size - from, Int64(Self.resyncWindow)))
    if count >= SegmentFormat.recordHeaderSize {
      var rest = [UInt8](repeating: 0, count: count)
      let got = try rest.withMutableBytes { (raw) throws(LogError) -> Int in
        try Sys.preadFull(fd, into: raw, offset: from, path: path)
      }
      if let found = Self.firstValidRecord(
        in: rest[0..<got], generation: header.generation, after: lastSeq, minimumSeq: header.baseSeq)
      {
        let offset = from + Int64(found.offset)
        let firstMissing = lastSeq.map { $0 + 1 } ?? header.baseSeq
        skipped.append(
          SkippedBytes(
            segment: String(path.split(separator: "/").last ?? ""), offset: position, bytes: offset - position,
            reason: reason, unreadableSeqs: found.seq > firstMissing ? firstMissing...(found.seq - 1) : nil))
        position = offset
        bufferStart = offset
        bufferCount = 0
        return true
      }
    }
    if !onlyIfFound { corruption = .corrupt(offset: position, reason: reason) }
    return false
  }

  /// The first offset in `bytes` where a whole valid record of `generation` starts, with a seq
  /// above `after` (if given) and at least `minimumSeq`.
  static func firstValidRecord(
    in bytes: ArraySlice<UInt8>, generation: UInt32, after: UInt64?, minimumSeq: UInt64
  ) -> (offset: Int, seq: UInt64)? {
    let wanted = withUnsafeBytes(of: generation.littleEndian) { Array($0) }
    return bytes.withUnsafeBytes { raw -> (offset: Int, seq: UInt64)? in
      var index = 0
      while index + SegmentFormat.recordHeaderSize <= raw.count {
        defer { index += 1 }
        guard raw[index + 4] == wanted[0], raw[index + 5] == wanted[1], raw[index + 6] == wanted[2],
          raw[index + 7] == wanted[3]
        else { continue }
        let length = Int(SegmentFormat.loadU32(raw, index))
        let seq = SegmentFormat.loadU64(raw, index + 8)
        let total = SegmentFormat.recordHeaderSize + length
        guard length <= SegmentFormat.maximumPayload, index + total <= raw.count, after.map({ seq > $0 }) ?? true,
          seq >= minimumSeq
        else { continue }
        let crc = CRC32C.checksum(
          UnsafeRawBufferPointer(rebasing: raw[index + SegmentFormat.recordHeaderSize..<index + total]),
          continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[index..<index + 16])))
        if crc == SegmentFormat.loadU32(raw, index + 16) { return (index, seq) }
      }
      return nil
    }
  }

  /// Why the last `next()` returned nil. Reads the file size for `.incomplete`.
  func stop() throws(LogError) -> ScanStop {
    if let corruption { return corruption }
    let size = try Sys.fileSize(fd, path: path)
    return size > position ? .incomplete(offset: position, bytes: size - position) : .end
  }

  /// Decodes the record `next()` returned last.
  func decodeEvent(seq: UInt64) throws(EventCodecError) -> Event {
    let result: Result<Event, EventCodecError> = buffer.withUnsafeBytes { raw in
      Result { () throws(EventCodecError) -> Event in
        try EventCodec.decode(UnsafeRawBufferPointer(rebasing: raw[payloadRange]), seq: seq)
      }
    }
    return try result.get()
  }

  /// The time and kind of the record `next()` returned last, without decoding the rest.
  func peekEvent() throws(EventCodecError) -> (time: Timestamp, kind: EventKind) {
    let result: Result<(time: Timestamp, kind: EventKind), EventCodecError> = buffer.withUnsafeBytes { raw in
      Result { () throws(EventCodecError) in try EventCodec.peek(UnsafeRawBufferPointer(rebasing: raw[payloadRange])) }
    }
    return try result.get()
  }

  /// The signal name of the record `next()` returned last if it is a `signal` event, else nil.
  func peekSignal() throws(EventCodecError) -> String? {
    let result: Result<String?, EventCodecError> = buffer.withUnsafeBytes { raw in
      Result { () throws(EventCodecError) in
        try EventCodec.peekSignal(UnsafeRawBufferPointer(rebasing: raw[payloadRange]))
      }
    }
    return try result.get()
  }

  /// A copy of the payload of the record `next()` returned last.
  func payloadBytes() -> [UInt8] { Array(buffer[payloadRange]) }
}

/// Reads and checks the header of an open segment file.
func readSegmentHeader(fd: Int32, path: String) throws(LogError) -> Result<
  SegmentFormat.Header, SegmentFormat.HeaderProblem
> {
  var bytes = [UInt8](repeating: 0, count: SegmentFormat.headerSize)
  let got = try bytes.withMutableBytes { (raw) throws(LogError) -> Int in
    try Sys.preadFull(fd, into: raw, offset: 0, path: path)
  }
  return bytes.withUnsafeBytes { raw in
    SegmentFormat.decodeHeader(UnsafeRawBufferPointer(rebasing: raw[0..<got]))
  }
}
