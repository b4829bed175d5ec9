import GanglionCore
import Testing

/// Writes TZif bytes field by field (RFC 9636 section 3), so tests can make versions 1-4 and broken files.
struct TZifBuilder {
  var version: UInt8 = UInt8(ascii: "2")  // 0 for version 1
  var times: [Int64] = []
  var typeIndices: [UInt8] = []
  var types: [(offset: Int32, isDaylightSaving: UInt8, designationIndex: UInt8)] = [(0, 0, 0)]
  var designations = Array("UTC\0".utf8)
  var leaps: [(occurrence: Int64, correction: Int32)] = []
  var indicators = false
  var footer = ""
  /// Overrides of the counts written in the headers: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
  var counts: [UInt32]? = nil

  func bytes() -> [UInt8] {
    var out = block(timeSize: 4)
    guard version != 0 else { return out }
    out += block(timeSize: 8)
    out += Array("\n\(footer)\n".utf8)
    return out
  }

  private func block(timeSize: Int) -> [UInt8] {
    var out = Array("TZif".utf8) + [version] + [UInt8](repeating: 0, count: 15)
    let indicatorCount = UInt32(indicators ? types.count : 0)
    let headerCounts =
      counts ?? [
        indicatorCount, indicatorCount, UInt32(leaps.count), UInt32(times.count), UInt32(types.count),
        UInt32(designations.count),
      ]
    for count in headerCounts { out += bigEndian(Int64(count), size: 4) }
    for time in times { out += bigEndian(time, size: timeSize) }
    out += typeIndices
    for type in types {
      out += bigEndian(Int64(type.offset), size: 4) + [type.isDaylightSaving, type.designationIndex]
    }
    out += designations
    for leap in leaps { out += bigEndian(leap.occurrence, size: timeSize) + bigEndian(Int64(leap.correction), size: 4) }
    if indicators { out += [UInt8](repeating: 0, count: 2 * types.count) }
    return out
  }

  private func bigEndian(_ value: Int64, size: Int) -> [UInt8] {
    (0..<size).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
  }
}

/// Amsterdam-like data: LMT until 1940, then CET, then CEST from 2000 on (within 32-bit time for version 1).
func sampleBuilder(version: UInt8) -> TZifBuilder {
  var builder = TZifBuilder(version: version)
  builder.designations = Array("LMT\0CET\0CEST\0".utf8)
  builder.types = [(1172, 0, 0), (3600, 0, 4), (7200, 1, 8)]
  builder.times = [utc(1940, 1, 1), utc(2000, 3, 26, 1)]
  builder.typeIndices = [1, 2]
  return builder
}

@Suite struct TZifInputTests {
  @Test func versionOneKeepsItsLastTypeAfterTheTable() throws {
    let zone = try ZoneInfo(tzif: sampleBuilder(version: 0).bytes(), name: "Test/V1")
    #expect(zone.version == 1 && zone.footer == nil)
    #expect(zone.utcOffset(atUTC: utc(1800, 1, 1)) == 1172)
    #expect(zone.abbreviation(atUTC: utc(1950, 1, 1)) == "CET")
    #expect(zone.utcOffset(atUTC: utc(2100, 1, 1)) == 7200)
    #expect(zone.nextTransition(afterUTC: utc(1950, 1, 1)) == utc(2000, 3, 26, 1))
    #expect(zone.nextTransition(afterUTC: utc(2000, 3, 26, 1)) == nil)
  }

  /// Version 3 is the footer extension: Nuuk's footer, with its 2030 changes from `zdump -v -c 2030,2031
  /// America/Nuuk` (01:00 UTC both times: -1:00 local standard time, 00:00 local daylight time).
  @Test func versionThreeFooter() throws {
    var builder = TZifBuilder(version: UInt8(ascii: "3"))
    builder.footer = "<-02>2<-01>,M3.5.0/-1,M10.5.0/0"
    let zone = try ZoneInfo(tzif: builder.bytes(), name: "Test/V3")
    #expect(zone.version == 3)
    #expect(zone.nextTransition(afterUTC: utc(2030, 1, 1)) == utc(2030, 3, 31, 1))
    #expect(zone.nextTransition(afterUTC: utc(2030, 3, 31, 1)) == utc(2030, 10, 27, 1))
    #expect(zone.abbreviation(atUTC: utc(2030, 7, 1)) == "-01")
  }

  /// Version 4 allows a leap-second table that starts with a correction other than 1 and ends with an expiry
  /// record repeating the last correction. Transitions come out in POSIX time.
  @Test func versionFourLeapSecondTable() throws {
    var builder = sampleBuilder(version: UInt8(ascii: "4"))
    builder.leaps = [(utc(1999, 1, 1) + 21, 22), (utc(2017, 1, 1) + 26, 27), (utc(2026, 1, 1) + 27, 27)]
    builder.times = [utc(1940, 1, 1), utc(2000, 3, 26, 1) + 22]  // 22 leap seconds by 2000
    builder.footer = "CET-1CEST,M3.5.0,M10.5.0/3"
    let zone = try ZoneInfo(tzif: builder.bytes(), name: "Test/V4")
    #expect(zone.version == 4)
    #expect(zone.nextTransition(afterUTC: utc(1999, 1, 1)) == utc(2000, 3, 26, 1))
    #expect(zone.nextTransition(afterUTC: utc(2026, 1, 1)) == utc(2026, 3, 29, 1))
  }

  @Test func standardAndUTIndicatorsAreRead() throws {
    var builder = sampleBuilder(version: UInt8(ascii: "2"))
    builder.indicators = true
    builder.footer = "CET-1CEST,M3.5.0,M10.5.0/3"
    #expect(try ZoneInfo(tzif: builder.bytes(), name: "Test").utcOffset(atUTC: utc(2026, 7, 1)) == 7200)
  }

  static let corruptions: [(String, [UInt8])] = {
    var cases: [(String, [UInt8])] = [
      ("empty", []), ("magic only", Array("TZif".utf8)), ("not TZif", Array(repeating: 0x41, count: 200)),
    ]
    func add(_ name: String, _ change: (inout TZifBuilder) -> Void) {
      var builder = sampleBuilder(version: UInt8(ascii: "2"))
      builder.footer = "CET-1CEST,M3.5.0,M10.5.0/3"
      change(&builder)
      cases.append((name, builder.bytes()))
    }
    add("version 5") { $0.version = UInt8(ascii: "5") }
    add("huge timecnt") { $0.counts = [0, 0, 0, 0xFFFF_FFFF, 3, 13] }
    add("huge charcnt") { $0.counts = [0, 0, 0, 2, 3, 0xFFFF_FFFF] }
    add("zero typecnt") { $0.counts = [0, 0, 0, 0, 0, 13] }
    add("zero charcnt") { $0.counts = [0, 0, 0, 2, 3, 0] }
    add("isutcnt not typecnt") { $0.counts = [2, 0, 0, 2, 3, 13] }
    add("type index out of range") { $0.typeIndices = [1, 3] }
    add("times not ascending") { $0.times = [utc(2000, 1, 1), utc(1940, 1, 1)] }
    add("equal times") { $0.times = [utc(2000, 1, 1), utc(2000, 1, 1)] }
    add("designation index past charcnt") { $0.types[1].designationIndex = 13 }
    add("designation without NUL") { $0.designations = Array("LMT\0CET\0CEST".utf8) }
    add("isdst 2") { $0.types[2].isDaylightSaving = 2 }
    add("offset beyond 26 hours") { $0.types[1].offset = 100_000 }
    add("offset -2^31") { $0.types[1].offset = Int32.min }
    add("leap occurrences not ascending") { $0.leaps = [(100, 1), (50, 2)] }
    add("bad footer") { $0.footer = "not a TZ string" }
    add("footer with newline inside") { $0.footer = "CET-1\nCEST" }
    var noClosingNewline = sampleBuilder(version: UInt8(ascii: "2")).bytes()
    noClosingNewline.removeLast()
    cases.append(("footer without closing newline", noClosingNewline))
    cases.append(("trailing bytes", sampleBuilder(version: UInt8(ascii: "2")).bytes() + [0]))
    cases.append(("version 1 with trailing bytes", sampleBuilder(version: 0).bytes() + [0, 0]))
    return cases
  }()

  @Test(arguments: corruptions)
  func corruptInputThrows(_ name: String, _ bytes: [UInt8]) {
    #expect(throws: ZoneInfoError.self, "\(name)") { try ZoneInfo(tzif: bytes, name: "Test/Corrupt") }
  }

  @Test func errorMessagesSayWhatIsWrong() {
    var builder = sampleBuilder(version: UInt8(ascii: "2"))
    builder.counts = [0, 0, 0, 0xFFFF_FFFF, 3, 13]
    #expect {
      try ZoneInfo(tzif: builder.bytes(), name: "Europe/Broken")
    } throws: { error in
      "\(error)".hasPrefix("time zone Europe/Broken: truncated: the data block needs")
    }
  }

  @Test func everyTruncationOfARealFileThrows() throws {
    let bytes = try #require(readFile("\(zoneinfoDirectory)/Europe/Amsterdam"))
    for length in 0..<bytes.count {
      #expect(throws: ZoneInfoError.self, "length \(length)") {
        try ZoneInfo(tzif: Array(bytes[0..<length]), name: "Europe/Amsterdam")
      }
    }
    _ = try ZoneInfo(tzif: bytes, name: "Europe/Amsterdam")
  }

  /// Random byte changes to real files: each either throws or gives a zone whose queries return (no trap, no
  /// endless loop). A fixed seed keeps runs repeatable.
  @Test(arguments: ["Europe/Amsterdam", "Australia/Lord_Howe", "America/Nuuk", "right/Europe/London"])
  func mutatedFilesNeverTrapOrHang(_ name: String) throws {
    let original = try #require(readFile("\(zoneinfoDirectory)/\(name)"))
    var random = SplitMix64(seed: 2026)
    var parsed = 0
    for _ in 0..<1500 {
      var bytes = original
      for _ in 0..<Int(random.next() % 4 + 1) {
        let position = Int(random.next() % UInt64(bytes.count))
        bytes[position] = random.next() % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: random.next())
      }
      guard let zone = try? ZoneInfo(tzif: bytes, name: name) else { continue }
      parsed += 1
      for instant in [Int64.min, -1 << 40, 0, utc(2026, 3, 29, 1), utc(2100, 1, 1), Int64.max] {
        _ = zone.localTimeType(atUTC: instant)
        _ = zone.nextTransition(afterUTC: instant)
      }
      _ = zone.instant(localDay: day(2026, 3, 29), secondOfDay: 9000)
      _ = zone.occurrences(localDay: day(2026, 10, 25), secondOfDay: 9000)
    }
    #expect(parsed > 0)
  }

  @Test func extremeQueriesOnRealZones() throws {
    let zone = try systemZone("Europe/Amsterdam")
    for instant in [Int64.min, Int64.max, -1 << 62, 1 << 62] {
      _ = zone.utcOffset(atUTC: instant)
      _ = zone.nextTransition(afterUTC: instant)
      _ = zone.localTime(atUTC: instant)
    }
    for localDay in [Int64.min, Int64.max, 0] {
      _ = zone.instant(localDay: localDay, secondOfDay: Int.max)
      _ = zone.occurrences(localDay: localDay, secondOfDay: Int.min)
    }
  }
}

/// A small deterministic random number generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
