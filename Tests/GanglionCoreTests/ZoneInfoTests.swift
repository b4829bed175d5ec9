import GanglionCore
import Testing

/// One clock change as `zdump -v` prints it: the UTC instant, and the offset and abbreviation before and after.
struct ClockChange: Sendable, CustomStringConvertible {
  var zone: String
  var instant: Int64
  var offsetBefore: Int
  var offsetAfter: Int
  var abbreviationAfter: String
  var description: String { "\(zone) at \(instant)" }
}

@Suite struct ZoneInfoTests {
  /// Hard-coded from `zdump -v -c 2026,2027 ZONE` (tzdata 2025b on Debian 12): both changes of 2026.
  static let changesIn2026: [ClockChange] = [
    .init(
      zone: "Europe/Amsterdam", instant: utc(2026, 3, 29, 1), offsetBefore: 3600, offsetAfter: 7200,
      abbreviationAfter: "CEST"),
    .init(
      zone: "Europe/Amsterdam", instant: utc(2026, 10, 25, 1), offsetBefore: 7200, offsetAfter: 3600,
      abbreviationAfter: "CET"),
    .init(
      zone: "America/New_York", instant: utc(2026, 3, 8, 7), offsetBefore: -18000, offsetAfter: -14400,
      abbreviationAfter: "EDT"),
    .init(
      zone: "America/New_York", instant: utc(2026, 11, 1, 6), offsetBefore: -14400, offsetAfter: -18000,
      abbreviationAfter: "EST"),
    .init(
      zone: "Australia/Lord_Howe", instant: utc(2026, 4, 4, 15), offsetBefore: 39600, offsetAfter: 37800,
      abbreviationAfter: "+1030"),
    .init(
      zone: "Australia/Lord_Howe", instant: utc(2026, 10, 3, 15, 30), offsetBefore: 37800, offsetAfter: 39600,
      abbreviationAfter: "+11"),
  ]

  /// Hard-coded from `zdump -v -c 2100,2101 ZONE`: past the files' last transition (2037), so from the footer.
  static let changesIn2100: [ClockChange] = [
    .init(
      zone: "Europe/Amsterdam", instant: utc(2100, 3, 28, 1), offsetBefore: 3600, offsetAfter: 7200,
      abbreviationAfter: "CEST"),
    .init(
      zone: "Europe/Amsterdam", instant: utc(2100, 10, 31, 1), offsetBefore: 7200, offsetAfter: 3600,
      abbreviationAfter: "CET"),
    .init(
      zone: "America/New_York", instant: utc(2100, 3, 14, 7), offsetBefore: -18000, offsetAfter: -14400,
      abbreviationAfter: "EDT"),
    .init(
      zone: "America/New_York", instant: utc(2100, 11, 7, 6), offsetBefore: -14400, offsetAfter: -18000,
      abbreviationAfter: "EST"),
    .init(
      zone: "Australia/Lord_Howe", instant: utc(2100, 4, 3, 15), offsetBefore: 39600, offsetAfter: 37800,
      abbreviationAfter: "+1030"),
    .init(
      zone: "Australia/Lord_Howe", instant: utc(2100, 10, 2, 15, 30), offsetBefore: 37800, offsetAfter: 39600,
      abbreviationAfter: "+11"),
  ]

  @Test(arguments: changesIn2026 + changesIn2100)
  func clockChangesMatchZdump(_ change: ClockChange) throws {
    let zone = try systemZone(change.zone)
    #expect(zone.utcOffset(atUTC: change.instant - 1) == change.offsetBefore)
    #expect(zone.utcOffset(atUTC: change.instant) == change.offsetAfter)
    #expect(zone.abbreviation(atUTC: change.instant) == change.abbreviationAfter)
    #expect(zone.nextTransition(afterUTC: change.instant - 1) == change.instant)
    #expect(zone.nextTransition(afterUTC: change.instant - 86_400 * 30) == change.instant)
  }

  @Test(arguments: ["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe"])
  func nextTransitionWalksBothChangesOf2026(_ name: String) throws {
    let zone = try systemZone(name)
    let expected = Self.changesIn2026.filter { $0.zone == name }.map(\.instant)
    let first = zone.nextTransition(afterUTC: utc(2026, 1, 1))
    #expect([first, first.flatMap { zone.nextTransition(afterUTC: $0) }] == expected)
  }

  /// Zones without daylight saving time in 2026; offsets and last changes from `zdump -v -c 2015,2027 ZONE`.
  @Test(
    arguments: [
      ("Asia/Kolkata", 19800, "IST", nil, 0),
      ("Pacific/Apia", 46800, "+13", utc(2021, 4, 3, 14), 50400),
      ("America/Sao_Paulo", -10800, "-03", utc(2019, 2, 17, 2), -7200),
      ("Asia/Tehran", 12600, "+0330", utc(2022, 9, 21, 19, 30), 16200),
    ] as [(String, Int, String, Int64?, Int)])
  func zonesWithoutDaylightSavingTime(name: String, offset: Int, abbreviation: String, lastChange: Int64?, before: Int)
    throws
  {
    let zone = try systemZone(name)
    for instant in [utc(2026, 1, 15), utc(2026, 7, 15), utc(2100, 7, 1), utc(2400, 1, 1)] {
      #expect(zone.utcOffset(atUTC: instant) == offset)
      #expect(zone.abbreviation(atUTC: instant) == abbreviation)
    }
    #expect(zone.nextTransition(afterUTC: utc(2026, 1, 1)) == nil)
    if let lastChange {
      #expect(zone.utcOffset(atUTC: lastChange - 1) == before)
      #expect(zone.nextTransition(afterUTC: lastChange - 1) == lastChange)
    }
  }

  @Test func amsterdamSpringGapMapsToTheFirstInstantAfterIt() throws {
    let zone = try systemZone("Europe/Amsterdam")
    // 02:30 does not exist on 2026-03-29: the first valid instant after it is 03:00 CEST = 01:00 UTC.
    #expect(zone.instant(localDay: day(2026, 3, 29), secondOfDay: 2 * 3600 + 1800) == utc(2026, 3, 29, 1))
    #expect(zone.instant(localDay: day(2026, 3, 29), secondOfDay: 2 * 3600) == utc(2026, 3, 29, 1))
    #expect(zone.occurrences(localDay: day(2026, 3, 29), secondOfDay: 2 * 3600 + 1800).isEmpty)
    // Either side of the gap, local times exist once.
    #expect(zone.instant(localDay: day(2026, 3, 29), secondOfDay: 3 * 3600) == utc(2026, 3, 29, 1))
    #expect(zone.instant(localDay: day(2026, 3, 29), secondOfDay: 2 * 3600 - 1) == utc(2026, 3, 29, 0, 59, 59))
    #expect(zone.occurrences(localDay: day(2026, 3, 29), secondOfDay: 7 * 3600) == [utc(2026, 3, 29, 5)])
  }

  @Test func amsterdamAutumnOverlapMapsToTheFirstOccurrence() throws {
    let zone = try systemZone("Europe/Amsterdam")
    // 02:30 happens twice on 2026-10-25: 00:30 UTC (CEST), then 01:30 UTC (CET).
    #expect(zone.instant(localDay: day(2026, 10, 25), secondOfDay: 2 * 3600 + 1800) == utc(2026, 10, 25, 0, 30))
    #expect(
      zone.occurrences(localDay: day(2026, 10, 25), secondOfDay: 2 * 3600 + 1800)
        == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)])
    #expect(zone.instant(localDay: day(2026, 10, 25), secondOfDay: 3 * 3600) == utc(2026, 10, 25, 2))
  }

  @Test func lordHoweHalfHourChanges() throws {
    let zone = try systemZone("Australia/Lord_Howe")
    // 2026-10-04 02:00..02:30 local is skipped; 02:15 maps to 02:30 (+11), 15:30 UTC the day before.
    #expect(zone.instant(localDay: day(2026, 10, 4), secondOfDay: 2 * 3600 + 900) == utc(2026, 10, 3, 15, 30))
    // 2026-04-05 01:30..02:00 local happens twice; 01:45 first at +11 (14:45 UTC), then at +10:30 (15:15 UTC).
    #expect(
      zone.occurrences(localDay: day(2026, 4, 5), secondOfDay: 3600 + 2700)
        == [utc(2026, 4, 4, 14, 45), utc(2026, 4, 4, 15, 15)])
    #expect(zone.instant(localDay: day(2026, 4, 5), secondOfDay: 3600 + 2700) == utc(2026, 4, 4, 14, 45))
  }

  @Test func newYorkGapAndLocalTime() throws {
    let zone = try systemZone("America/New_York")
    #expect(zone.instant(localDay: day(2026, 3, 8), secondOfDay: 2 * 3600 + 1800) == utc(2026, 3, 8, 7))
    let (localDay, second) = zone.localTime(atUTC: utc(2026, 7, 4, 3, 15))
    #expect(localDay == day(2026, 7, 3) && second == 23 * 3600 + 15 * 60)
  }

  @Test func fixedOffsetZone() throws {
    let zone = FixedOffsetZone.utc
    #expect(zone.utcOffset(atUTC: utc(2026, 3, 29, 1)) == 0)
    #expect(zone.nextTransition(afterUTC: 0) == nil)
    #expect(zone.instant(localDay: day(2026, 3, 29), secondOfDay: 9000) == utc(2026, 3, 29, 2, 30))
    let plusFive = try #require(FixedOffsetZone(identifier: "UTC+5", utcOffset: 18_000, abbreviation: "+05"))
    #expect(plusFive.instant(localDay: day(2026, 1, 1), secondOfDay: 0) == utc(2025, 12, 31, 19))
    #expect(FixedOffsetZone(identifier: "bad", utcOffset: 100_000, abbreviation: "X") == nil)
  }

  /// `right/` zones count leap seconds in their transition times; read back as POSIX time they change at the same
  /// instants. (Their tables end where the leap-second list expires, 2026-03-29 in tzdata 2025b, with an empty
  /// footer; like zdump, they then keep their last type, so they must not be used for local time.)
  @Test func leapSecondZonesAgreeWithPosixZones() throws {
    let posix = try systemZone("Europe/Amsterdam")
    let right = try systemZone("right/Europe/Amsterdam")
    for instant in [utc(1977, 4, 3, 1), utc(1990, 3, 25, 1), utc(1990, 9, 30, 1), utc(2026, 3, 29, 1)] {
      #expect(right.utcOffset(atUTC: instant) == posix.utcOffset(atUTC: instant))
      #expect(right.utcOffset(atUTC: instant - 1) == posix.utcOffset(atUTC: instant - 1))
    }
  }

  @Test func everyZoneinfoFileParses() throws {
    var parsed = 0
    for path in regularFiles(under: zoneinfoDirectory) {
      guard let bytes = readFile("\(zoneinfoDirectory)/\(path)"), bytes.starts(with: Array("TZif".utf8)) else {
        continue  // zone.tab, tzdata.zi, leapseconds, iso3166.tab, ...
      }
      do {
        let zone = try ZoneInfo(tzif: bytes, name: path)
        _ = zone.utcOffset(atUTC: utc(2026, 6, 1))
        parsed += 1
      } catch {
        Issue.record("\(error)")
      }
    }
    #expect(parsed > 800)  // the zones, plus their right/ copies
  }

  /// Every clock change from 1900 to 2100 in a spread of zones, compared with `zdump -V` when it is installed:
  /// version 3 footers (Nuuk's -1 and Gaza's 50-hour rule times, Santiago's 24), 30-minute and 45-minute offsets,
  /// date-line jumps, abolished DST, southern hemisphere rules.
  @Test func transitionsMatchZdumpFrom1900To2100() async throws {
    let names = [
      "Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Apia",
      "America/Sao_Paulo", "Asia/Tehran", "America/Nuuk", "America/Santiago", "Asia/Gaza", "Asia/Jerusalem",
      "Pacific/Easter", "Pacific/Chatham", "Asia/Kathmandu", "Pacific/Kiritimati", "Antarctica/Troll",
      "Africa/Casablanca", "Europe/Dublin", "America/St_Johns", "Australia/Adelaide", "Pacific/Auckland",
      "Europe/London", "America/Los_Angeles", "Asia/Tokyo", "Africa/Cairo", "America/Havana", "Europe/Moscow",
      "America/Scoresbysund", "Australia/Sydney", "Asia/Dhaka",
    ]
    guard let output = await commandOutput("zdump", ["-V", "-c", "1900,2101"] + names) else {
      return  // zdump is not installed: the hard-coded cases above still run
    }
    let lines = output.split(separator: "\n").compactMap(ZdumpLine.init)
    #expect(lines.count > 1000 && lines.count % 2 == 0)
    var offsetChanges: [String: [Int64]] = [:]
    for index in stride(from: 0, to: lines.count - 1, by: 2) {
      let (before, after) = (lines[index], lines[index + 1])
      guard before.zone == after.zone, after.instant == before.instant + 1 else {
        Issue.record("zdump lines not in pairs at \(before.zone) \(before.instant)")
        return
      }
      let zone = try systemZone(after.zone)
      #expect(zone.utcOffset(atUTC: before.instant) == before.offset, "\(after.zone) \(after.instant)")
      #expect(zone.utcOffset(atUTC: after.instant) == after.offset, "\(after.zone) \(after.instant)")
      #expect(zone.abbreviation(atUTC: after.instant) == after.abbreviation, "\(after.zone) \(after.instant)")
      if before.offset != after.offset { offsetChanges[after.zone, default: []].append(after.instant) }
    }
    // Walking nextTransition finds exactly zdump's offset changes, none missing and none extra.
    for (name, expected) in offsetChanges {
      let zone = try systemZone(name)
      var walked: [Int64] = []
      var instant = utc(1900, 1, 1) - 1
      while let next = zone.nextTransition(afterUTC: instant), next < utc(2101, 1, 1) {
        walked.append(next)
        instant = next
      }
      #expect(walked == expected, "\(name)")
    }
    #expect(offsetChanges.count == names.count)
  }
}

/// One line of `zdump -V`: `ZONE  Wdy Mon DD HH:MM:SS YYYY UT = ... ABBR isdst=N gmtoff=N`. Lines come in pairs,
/// one second before a change and at it.
struct ZdumpLine {
  var zone: String
  var instant: Int64
  var abbreviation: String
  var offset: Int

  init?(_ line: Substring) {
    let fields = line.split(separator: " ")
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    guard fields.count == 16, fields[6] == "UT", let month = months.firstIndex(of: String(fields[2])),
      let dayOfMonth = Int64(fields[3]), let year = Int64(fields[5]), fields[15].hasPrefix("gmtoff="),
      let offset = Int(fields[15].dropFirst(7))
    else { return nil }
    let time = fields[4].split(separator: ":").compactMap { Int64($0) }
    guard time.count == 3 else { return nil }
    zone = String(fields[0])
    instant = utc(year, Int64(month + 1), dayOfMonth, time[0], time[1], time[2])
    abbreviation = String(fields[13])
    self.offset = offset
  }
}
