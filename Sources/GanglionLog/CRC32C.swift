/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI, ext4 and
/// LevelDB, computed slicing-by-8: eight bytes per step through eight 256-entry tables.
///
/// `CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283`.
public enum CRC32C {
  /// 8 × 256 entries: table k maps a byte to its CRC contribution k bytes further on.
  private static let tables: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for i in 0..<256 {
      var c = UInt32(i)
      for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
      t[i] = c
    }
    for i in 0..<256 {
      for k in 1..<8 {
        let previous = t[(k - 1) * 256 + i]
        t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
      }
    }
    return t
  }()

  /// The CRC of `bytes`, continuing from `crc` (the CRC of the bytes before them; 0 to start).
  public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    tables.withUnsafeBufferPointer { table in
      var c = ~crc
      guard let start = bytes.baseAddress else { return crc }
      var q = start
      var count = bytes.count
      // Byte-wise until 8-aligned, so the word loads below are aligned.
      while count > 0, UInt(bitPattern: q) & 7 != 0 {
        c = table[Int((c ^ UInt32(q.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
        q += 1
        count -= 1
      }
      while count >= 8 {
        let word = UInt64(littleEndian: q.load(as: UInt64.self))
        let low = UInt32(truncatingIfNeeded: word) ^ c
        let high = UInt32(truncatingIfNeeded: word >> 32)
        c =
          table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
          ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
          ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
          ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
        q += 8
        count -= 8
      }
      while count > 0 {
        c = table[Int((c ^ UInt32(q.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
        q += 1
        count -= 1
      }
      return ~c
    }
  }

  /// The CRC of `bytes`, continuing from `crc`.
  public static func checksum(_ bytes: some Sequence<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
    if let result = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
      return result
    }
    let copy = Array(bytes)
    return copy.withUnsafeBytes { checksum($0, continuing: crc) }
  }
}
