import GanglionSystem

/// `seq.meta`: the seq high-water mark and the highest segment generation, so seqs are never
/// reused even when a torn tail was cut or every segment was dropped.
///
/// The file holds two 32-byte slots, each complete with its own CRC; updates overwrite the
/// older slot in place and fdatasync; the slot with the higher write counter wins, so a torn
/// update leaves the previous values in the other slot. An
/// update needs no new disk blocks (it works on a full disk, unlike tmp + rename). The file is
/// created once with tmp + fsync + rename + directory fsync.
///
/// Slot: `0 "GNLM"  4 u32 version (1)  8 u64 write counter  16 u64 reserved seq
/// 24 u32 generation  28 u32 CRC32C(0..<28)`. Every seq below `reservedSeq` may have been
/// handed out, so the next writer starts at or above it.
struct SeqMeta {
  static let fileName = "seq.meta"
  static let slotSize = 32
  static let magic: [UInt8] = Array("GNLM".utf8)

  var reservedSeq: UInt64
  var generation: UInt32
  var counter: UInt64

  let fd: Int32
  let path: String

  /// What opening found, for the recovery report: nil when the file was fine.
  var problem: String?

  /// Opens or creates the file in `directory`.
  static func open(directory: String) throws(LogError) -> SeqMeta {
    let path = directory + "/" + fileName
    if try Sys.fileSize(path: path) == nil {
      let fresh = encodeSlot(counter: 0, reservedSeq: 1, generation: 0)
      try LogStateFile(directory: directory, name: fileName).write(bytes: fresh + fresh)
    }
    let fd = try Sys.open(path, .readWrite)
    var bytes = [UInt8](repeating: 0, count: 2 * slotSize)
    let got: Int
    do {
      got = try bytes.withMutableBytes { (raw) throws(LogError) -> Int in
        try Sys.preadFull(fd, into: raw, offset: 0, path: path)
      }
    } catch {
      _ = try? Sys.close(fd, path: path)
      throw error
    }
    var meta = SeqMeta(reservedSeq: 1, generation: 0, counter: 0, fd: fd, path: path)
    var valid = 0
    for slot in 0..<2 where got >= (slot + 1) * slotSize {
      guard let decoded = decodeSlot(Array(bytes[slot * slotSize..<(slot + 1) * slotSize])) else { continue }
      // The slot written last wins: a clean close lowers the reservation to the exact next seq.
      if valid == 0 || decoded.counter > meta.counter {
        meta.reservedSeq = decoded.reservedSeq
        meta.generation = decoded.generation
        meta.counter = decoded.counter
      }
      valid += 1
    }
    if valid == 0 {
      meta.problem = "\(path) has no valid slot: seqs continue from the segments alone"
    }
    return meta
  }

  /// Durably records a new reservation (and generation). Overwrites the older slot.
  /// - Throws: the pwrite or fdatasync error; after a pwrite error the other slot still holds
  ///   the previous values.
  mutating func store(reservedSeq: UInt64, generation: UInt32) throws(LogError) {
    let next = counter + 1
    let slot = Self.encodeSlot(counter: next, reservedSeq: reservedSeq, generation: generation)
    try slot.withBytes { (raw) throws(LogError) in
      try Sys.pwriteAll(fd, raw, offset: Int64(Int(next % 2) * Self.slotSize), path: path)
    }
    counter = next
    self.reservedSeq = reservedSeq
    self.generation = generation
    try Sys.fdatasync(fd, path: path)
  }

  func close() throws(LogError) { try Sys.close(fd, path: path) }

  static func encodeSlot(counter: UInt64, reservedSeq: UInt64, generation: UInt32) -> [UInt8] {
    var out = magic
    SegmentFormat.appendU32(1, into: &out)
    EventCodec.appendFixed(counter, into: &out)
    EventCodec.appendFixed(reservedSeq, into: &out)
    SegmentFormat.appendU32(generation, into: &out)
    SegmentFormat.appendU32(CRC32C.checksum(out), into: &out)
    return out
  }

  static func decodeSlot(_ bytes: [UInt8]) -> (counter: UInt64, reservedSeq: UInt64, generation: UInt32)? {
    bytes.withUnsafeBytes { raw in
      guard raw.count == slotSize, Array(raw[0..<4]) == magic, SegmentFormat.loadU32(raw, 4) == 1,
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<28])) == SegmentFormat.loadU32(raw, 28)
      else { return nil }
      return (SegmentFormat.loadU64(raw, 8), SegmentFormat.loadU64(raw, 16), SegmentFormat.loadU32(raw, 24))
    }
  }
}
