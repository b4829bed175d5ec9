/// Why bytes are not a usable time zone, naming the zone and what is wrong.
public struct ZoneInfoError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The zone name given to the parser (for a bare TZ string, the string).
  public var zone: String
  public var reason: String

  public init(zone: String, reason: String) {
    self.zone = zone
    self.reason = reason
  }

  public var description: String { "time zone \(zone): \(reason)" }
}

/// A time zone read from a compiled zoneinfo (TZif) file, RFC 8536 / RFC 9636, versions 1 to 4.
///
/// Version 2+ files are read from their 64-bit data block, with the footer's POSIX TZ string for instants after
/// the last transition; version 1 files keep their last type after it. Leap-second records (the `right/` zones)
/// are taken out of the transition times, so every instant here is POSIX time. Parsing never traps and every
/// count is checked against the input length before use, so hostile bytes only ever throw.
public struct ZoneInfo: TimeZoneRules, Hashable {
  public let identifier: String
  /// The TZif version, 1...4.
  public let version: Int
  /// The footer's rule for instants after the last transition; nil for version 1 or an empty footer.
  public let footer: PosixTimeZone?
  /// Transition instants, strictly ascending, and the index into `types` that each one starts.
  private let transitionTimes: [Int64]
  private let transitionTypes: [UInt8]
  private let types: [LocalTimeType]

  /// Parses the bytes of a TZif file; `name` is the zone's identifier (`Europe/Amsterdam`).
  /// - Throws: `ZoneInfoError` saying what is wrong for anything that is not a complete, consistent TZif file.
  public init(tzif bytes: [UInt8], name: String) throws(ZoneInfoError) {
    var reader = TZifReader(bytes: bytes, zone: name)
    let first = try reader.header()
    version = first.version
    let block: TZifReader.DataBlock
    if first.version >= 2 {
      // The version 1 block repeats the data in 32 bits; RFC 9636 readers skip it.
      try reader.skipDataBlock(first, timeSize: 4)
      let second = try reader.header()
      guard second.version == first.version else {
        throw reader.failure("the second header says version \(second.version), the first \(first.version)")
      }
      block = try reader.dataBlock(second, timeSize: 8)
      footer = try reader.footer()
    } else {
      block = try reader.dataBlock(first, timeSize: 4)
      footer = nil
    }
    guard reader.offset == bytes.count else {
      throw reader.failure("\(bytes.count - reader.offset) unexpected bytes after the data")
    }
    identifier = name
    (transitionTimes, transitionTypes, types) = (block.times, block.typeIndices, block.types)
  }

  public func localTimeType(atUTC seconds: Int64) -> LocalTimeType {
    if let footer, transitionTimes.last.map({ seconds >= $0 }) ?? true {
      return footer.localTimeType(atUTC: seconds)
    }
    let following = firstTransitionIndex(after: seconds)
    return following == 0 ? types[0] : types[Int(transitionTypes[following - 1])]
  }

  public func nextTransition(afterUTC seconds: Int64) -> Int64? {
    let offset = utcOffset(atUTC: seconds)
    for index in firstTransitionIndex(after: seconds)..<transitionTimes.count
    where utcOffset(atUTC: transitionTimes[index]) != offset {
      return transitionTimes[index]
    }
    // No change left in the table: the footer (which holds from the last transition on) decides.
    return footer?.nextTransition(afterUTC: max(seconds, transitionTimes.last ?? seconds))
  }

  /// The index of the first transition after `seconds` (`transitionTimes.count` if none).
  private func firstTransitionIndex(after seconds: Int64) -> Int {
    var low = 0
    var high = transitionTimes.count
    while low < high {
      let middle = (low + high) / 2
      if transitionTimes[middle] <= seconds { low = middle + 1 } else { high = middle }
    }
    return low
  }
}

/// Reads a TZif file front to back, throwing at the first inconsistency.
private struct TZifReader {
  struct Header {
    var version: Int
    var isUTCCount, isStandardCount, leapCount, timeCount, typeCount, characterCount: Int
  }

  struct DataBlock {
    var times: [Int64] = []
    var typeIndices: [UInt8] = []
    var types: [LocalTimeType] = []
  }

  let bytes: [UInt8]
  let zone: String
  var offset = 0

  init(bytes: [UInt8], zone: String) {
    self.bytes = bytes
    self.zone = zone
  }

  mutating func header() throws(ZoneInfoError) -> Header {
    let start = offset
    let raw = try take(44, "a 44-byte header")
    guard raw.prefix(4).elementsEqual("TZif".utf8) else { throw failure("no TZif magic at byte \(start)") }
    let version: Int
    switch raw[raw.startIndex + 4] {
    case 0: version = 1
    case UInt8(ascii: "2")...UInt8(ascii: "4"): version = Int(raw[raw.startIndex + 4] - UInt8(ascii: "0"))
    case let byte: throw failure("unsupported TZif version byte \(byte)")
    }
    let counts = (0..<6).map { Int(Self.bigEndian(raw.dropFirst(20 + 4 * $0).prefix(4))) }
    let header = Header(
      version: version, isUTCCount: counts[0], isStandardCount: counts[1], leapCount: counts[2],
      timeCount: counts[3], typeCount: counts[4], characterCount: counts[5])
    guard header.typeCount > 0 else { throw failure("typecnt is zero") }
    guard header.characterCount > 0 else { throw failure("charcnt is zero") }
    guard [0, header.typeCount].contains(header.isUTCCount), [0, header.typeCount].contains(header.isStandardCount)
    else { throw failure("isutcnt and isstdcnt must be 0 or typecnt (\(header.typeCount))") }
    return header
  }

  /// The byte length of the data block `header` describes; throws if the input is shorter. Counts are at most
  /// 2^32 - 1 each, so the sum cannot overflow, and checking it first bounds every loop that reads the block.
  func dataBlockLength(_ header: Header, timeSize: Int) throws(ZoneInfoError) -> Int {
    let length =
      header.timeCount * (timeSize + 1) + header.typeCount * 6 + header.characterCount
      + header.leapCount * (timeSize + 4) + header.isStandardCount + header.isUTCCount
    guard length <= bytes.count - offset else {
      throw failure("truncated: the data block needs \(length) bytes, \(bytes.count - offset) remain")
    }
    return length
  }

  mutating func skipDataBlock(_ header: Header, timeSize: Int) throws(ZoneInfoError) {
    offset += try dataBlockLength(header, timeSize: timeSize)
  }

  /// One data block; `timeSize` is 4 for version 1 data and 8 for version 2+.
  mutating func dataBlock(_ header: Header, timeSize: Int) throws(ZoneInfoError) -> DataBlock {
    _ = try dataBlockLength(header, timeSize: timeSize)
    var block = DataBlock()
    block.times = try (0..<header.timeCount).map { _ throws(ZoneInfoError) in try signed(timeSize) }
    guard zip(block.times, block.times.dropFirst()).allSatisfy({ $0 < $1 }) else {
      throw failure("transition times are not strictly ascending")
    }
    block.typeIndices = Array(try take(header.timeCount, "transition types"))
    guard block.typeIndices.allSatisfy({ Int($0) < header.typeCount }) else {
      throw failure("a transition names a local time type beyond typecnt \(header.typeCount)")
    }
    let records = try (0..<header.typeCount).map { _ throws(ZoneInfoError) in
      (utcOffset: try signed(4), isDaylightSaving: try byte("isdst"), designation: try byte("desigidx"))
    }
    let characters = try take(header.characterCount, "designations")
    for record in records {
      guard abs(record.utcOffset) <= Int64(TimeZoneLimits.maximumUTCOffset) else {
        throw failure("UTC offset \(record.utcOffset) s is beyond 26 hours")
      }
      guard record.isDaylightSaving <= 1 else { throw failure("isdst byte \(record.isDaylightSaving) is not 0 or 1") }
      let start = characters.startIndex + Int(record.designation)
      guard start < characters.endIndex, let end = characters[start...].firstIndex(of: 0) else {
        throw failure("designation index \(record.designation) has no NUL-terminated text within charcnt")
      }
      block.types.append(
        LocalTimeType(
          utcOffset: Int(record.utcOffset), isDaylightSaving: record.isDaylightSaving == 1,
          abbreviation: String(decoding: characters[start..<end], as: UTF8.self)))
    }
    block.times = try withoutLeapSeconds(block.times, leapCount: header.leapCount, timeSize: timeSize)
    let indicators = try take(header.isStandardCount + header.isUTCCount, "standard/UT indicators")
    guard indicators.allSatisfy({ $0 <= 1 }) else { throw failure("a standard/UT indicator is not 0 or 1") }
    return block
  }

  /// Reads the leap-second records and moves `times` from the file's leap-second-counting scale to POSIX time.
  private mutating func withoutLeapSeconds(_ times: [Int64], leapCount: Int, timeSize: Int)
    throws(ZoneInfoError) -> [Int64]
  {
    let leaps = try (0..<leapCount).map { _ throws(ZoneInfoError) in
      (occurrence: try signed(timeSize), correction: try signed(4))
    }
    guard !leaps.isEmpty else { return times }
    guard zip(leaps, leaps.dropFirst()).allSatisfy({ $0.occurrence < $1.occurrence }) else {
      throw failure("leap-second occurrences are not strictly ascending")
    }
    var leapIndex = 0
    var posixTimes: [Int64] = []
    for time in times {
      while leapIndex < leaps.count, leaps[leapIndex].occurrence <= time { leapIndex += 1 }
      let correction = leapIndex == 0 ? 0 : leaps[leapIndex - 1].correction
      let (posix, overflow) = time.subtractingReportingOverflow(correction)
      guard !overflow, posixTimes.last.map({ $0 < posix }) ?? true else {
        throw failure("transition times are not ascending once leap seconds are removed")
      }
      posixTimes.append(posix)
    }
    return posixTimes
  }

  /// The footer: a newline, a POSIX TZ string (possibly empty), a newline.
  mutating func footer() throws(ZoneInfoError) -> PosixTimeZone? {
    guard try byte("the footer's opening newline") == UInt8(ascii: "\n") else {
      throw failure("the footer does not start with a newline")
    }
    guard let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) else {
      throw failure("the footer has no closing newline")
    }
    let text = String(decoding: bytes[offset..<end], as: UTF8.self)
    offset = end + 1
    guard !text.isEmpty else { return nil }
    do {
      return try PosixTimeZone(text)
    } catch {
      throw ZoneInfoError(zone: zone, reason: "footer \"\(text)\": \(error.reason)")
    }
  }

  /// The next `count` bytes, or a throw naming `what` was cut off.
  mutating func take(_ count: Int, _ what: String) throws(ZoneInfoError) -> ArraySlice<UInt8> {
    guard count <= bytes.count - offset else {
      throw failure("truncated at byte \(offset): expected \(what)")
    }
    defer { offset += count }
    return bytes[offset..<offset + count]
  }

  mutating func byte(_ what: String) throws(ZoneInfoError) -> UInt8 {
    let slice = try take(1, what)
    return slice[slice.startIndex]
  }

  /// A big-endian two's-complement integer of `size` (4 or 8) bytes.
  mutating func signed(_ size: Int) throws(ZoneInfoError) -> Int64 {
    let raw = Self.bigEndian(try take(size, "a \(size)-byte integer"))
    return size == 4 ? Int64(Int32(truncatingIfNeeded: raw)) : Int64(bitPattern: raw)
  }

  static func bigEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    bytes.reduce(0) { $0 << 8 | UInt64($1) }
  }

  func failure(_ reason: String) -> ZoneInfoError { ZoneInfoError(zone: zone, reason: reason) }
}
