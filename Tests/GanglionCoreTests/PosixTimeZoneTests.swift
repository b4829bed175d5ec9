import GanglionCore
import Testing

@Suite struct PosixTimeZoneTests {
  /// Version 3 footers of tzdata 2025b (`tail -1 /usr/share/zoneinfo/ZONE`) with rule times beyond 0-24 h, and the
  /// changes of 2100 as `zdump -v -c 2100,2101 ZONE` prints them (after the tables end in 2037).
  @Test(
    arguments: [
      ("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", utc(2100, 3, 28, 1), -7200, -3600, utc(2100, 10, 31, 1)),  // America/Nuuk
      ("<-04>4<-03>,M9.1.6/24,M4.1.6/24", utc(2100, 4, 4, 3), -10800, -14400, utc(2100, 9, 5, 4)),  // Santiago
      ("EET-2EEST,M3.4.4/50,M10.4.4/50", utc(2100, 3, 27, 0), 7200, 10800, utc(2100, 10, 29, 23)),  // Asia/Gaza
      ("IST-2IDT,M3.4.4/26,M10.5.0", utc(2100, 3, 26, 0), 7200, 10800, utc(2100, 10, 30, 23)),  // Asia/Jerusalem
      ("<-06>6<-05>,M9.1.6/22,M4.1.6/22", utc(2100, 4, 4, 3), -18000, -21600, utc(2100, 9, 5, 4)),  // Pacific/Easter
    ] as [(String, Int64, Int, Int, Int64)])
  func extendedRuleTimesMatchZdump(tz: String, first: Int64, before: Int, after: Int, second: Int64) throws {
    let zone = try PosixTimeZone(tz)
    #expect(zone.nextTransition(afterUTC: utc(2100, 1, 1)) == first)
    #expect(zone.nextTransition(afterUTC: first) == second)
    #expect(zone.utcOffset(atUTC: first - 1) == before)
    #expect(zone.utcOffset(atUTC: first) == after)
    #expect(zone.utcOffset(atUTC: second) == before)
  }

  @Test func quotedNamesAndHalfHourOffsets() throws {
    let lordHowe = try PosixTimeZone("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
    #expect(lordHowe.standard == LocalTimeType(utcOffset: 37800, isDaylightSaving: false, abbreviation: "+1030"))
    #expect(lordHowe.abbreviation(atUTC: utc(2026, 1, 1)) == "+11")
    #expect(try PosixTimeZone("IST-5:30").utcOffset(atUTC: 0) == 19800)
    #expect(try PosixTimeZone("<-03>3").utcOffset(atUTC: 0) == -10800)
    #expect(try PosixTimeZone("XXX-1:02:03").utcOffset(atUTC: 0) == 3723)
    #expect(try PosixTimeZone("XXX+3").utcOffset(atUTC: 0) == -10800)
  }

  /// A daylight name without a rule gets the US rule; these are New York's 2026 changes (`zdump -v`).
  @Test func defaultRuleIsTheUSRule() throws {
    let zone = try PosixTimeZone("EST5EDT")
    #expect(zone.nextTransition(afterUTC: utc(2026, 1, 1)) == utc(2026, 3, 8, 7))
    #expect(zone.nextTransition(afterUTC: utc(2026, 3, 8, 7)) == utc(2026, 11, 1, 6))
    #expect(try PosixTimeZone("AAA3BBB2").utcOffset(atUTC: utc(2026, 7, 1)) == -7200)
  }

  /// `Jn` never counts February 29, `n` does (POSIX); expected dates worked out by hand from that definition.
  @Test func julianAndZeroBasedDates() throws {
    let julian = try PosixTimeZone("<-03>3<-02>,J60/2,J300/2")
    let zeroBased = try PosixTimeZone("<-03>3<-02>,59/2,299/2")
    // 2026: J60 = 59 = March 1; J300 = 299 = October 27. 02:00 at -03 is 05:00 UTC, at -02 04:00 UTC.
    for zone in [julian, zeroBased] {
      #expect(zone.nextTransition(afterUTC: utc(2026, 1, 1)) == utc(2026, 3, 1, 5))
      #expect(zone.nextTransition(afterUTC: utc(2026, 3, 1, 5)) == utc(2026, 10, 27, 4))
    }
    // 2028 is a leap year: J60 is still March 1 and J300 October 27, but 59 is February 29 and 299 October 26.
    #expect(julian.nextTransition(afterUTC: utc(2028, 1, 1)) == utc(2028, 3, 1, 5))
    #expect(julian.nextTransition(afterUTC: utc(2028, 3, 1, 5)) == utc(2028, 10, 27, 4))
    #expect(zeroBased.nextTransition(afterUTC: utc(2028, 1, 1)) == utc(2028, 2, 29, 5))
    #expect(zeroBased.nextTransition(afterUTC: utc(2028, 2, 29, 5)) == utc(2028, 10, 26, 4))
  }

  /// zic writes all-year daylight saving time as a rule that ends each year where the next one starts.
  @Test func allYearDaylightSavingTime() throws {
    let zone = try PosixTimeZone("EST5EDT,0/0,J365/25")
    for instant in [utc(2026, 1, 1, 5), utc(2026, 1, 1, 4, 59, 59), utc(2026, 7, 1), utc(2026, 12, 31, 23)] {
      #expect(zone.utcOffset(atUTC: instant) == -14400)
    }
    #expect(zone.nextTransition(afterUTC: utc(2026, 1, 1)) == nil)
  }

  @Test func southernHemisphereLocalTimes() throws {
    // Lord Howe's rule: the 02:00..02:30 gap of 2026-10-04 and the 01:30..02:00 overlap of 2026-04-05.
    let zone = try PosixTimeZone("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
    #expect(zone.instant(localDay: day(2026, 10, 4), secondOfDay: 2 * 3600 + 600) == utc(2026, 10, 3, 15, 30))
    #expect(zone.occurrences(localDay: day(2026, 4, 5), secondOfDay: 3600 + 2400).count == 2)
  }

  @Test(arguments: [
    "", "CE", "CET", "CET-", "CET-25", "CET-1:60", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
    "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/168", "CET-1CEST,J0,J365",
    "CET-1CEST,366,1", "<+03", "<+03>", "<+3>-3", "CET-1CEST,M3.5.0,M10.5.0 ", "CET-1CEST;M3.5.0,M10.5.0",
    "CET-1CEST,M3.5.0,M10.5.0,M1.1.0", "1CET", "CET-1CEST-30", "CET-1CEST,M3.5.0/1:2:3:4,M10.5.0",
    "CET-0001", "CET-1CEST,M3.5.0,M10.5.0/-0168",
  ])
  func malformedStringsThrow(_ text: String) {
    #expect(throws: ZoneInfoError.self) { try PosixTimeZone(text) }
  }

  @Test func errorsSayWhereAndWhat() {
    let error = ZoneInfoError(zone: "CET-1CEST,M13.5.0,M10.5.0", reason: "TZ string at byte 11: expected month 1-12")
    #expect(throws: error) { try PosixTimeZone("CET-1CEST,M13.5.0,M10.5.0") }
  }
}
