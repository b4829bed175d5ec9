/// A zone given by a POSIX TZ string, as in the footer of a TZif file: `CET-1CEST,M3.5.0,M10.5.0/3`.
///
/// Grammar: `std offset [dst [offset] [,start[/time],end[/time]]]`. Names are 3 or more letters, or `<...>` quoted
/// letters, digits, `+` and `-`. Offsets are `[+|-]hh[:mm[:ss]]` WEST of UTC (so `CET-1` is UTC+1), hours 0-24;
/// the daylight-saving offset defaults to one hour ahead of standard time. Dates are `Jn` (1-365, February 29 never
/// counted), `n` (0-365, counted) or `Mm.w.d` (month 1-12, week 1-5 where 5 means the last, weekday 0-6 from
/// Sunday); times default to 02:00 and may have hours from -167 to 167 (RFC 9636 section 3.3.1). A daylight name
/// without a rule gets the US rule `M3.2.0,M11.1.0`, as glibc does.
public struct PosixTimeZone: TimeZoneRules, Hashable {
  /// The day of the year a change happens, in one of the three POSIX forms.
  public enum DateRule: Hashable, Sendable {
    /// `Jn`: day 1...365 of the year, February 29 never counted (J60 is always March 1).
    case julianIgnoringLeapDay(Int)
    /// `n`: day 0...365 of the year, February 29 counted.
    case zeroBasedDay(Int)
    /// `Mm.w.d`: weekday `weekday` (0 = Sunday) of week `week` (1...5, 5 = last) of month `month` (1...12).
    case monthWeekDay(month: Int, week: Int, weekday: Int)
  }

  /// When a change happens each year: a date, and a local time of day in seconds (-167 h...167 h) in the time
  /// that is in effect just before the change.
  public struct TransitionRule: Hashable, Sendable {
    public var date: DateRule
    public var time: Int
  }

  /// Daylight saving time: its local time type and the yearly rules that start and end it.
  public struct DaylightSaving: Hashable, Sendable {
    public var type: LocalTimeType
    public var start: TransitionRule
    public var end: TransitionRule
  }

  /// The TZ string as given.
  public let identifier: String
  public let standard: LocalTimeType
  /// Nil for a zone without daylight saving time (`IST-5:30`).
  public let daylightSaving: DaylightSaving?

  /// Parses a POSIX TZ string.
  /// - Throws: `ZoneInfoError` naming what is wrong and where, for anything that is not exactly one TZ string.
  public init(_ text: String) throws(ZoneInfoError) {
    var parser = PosixTZParser(bytes: Array(text.utf8), text: text)
    (standard, daylightSaving) = try parser.parse()
    identifier = text
  }

  public func localTimeType(atUTC seconds: Int64) -> LocalTimeType {
    guard let daylightSaving else { return standard }
    let instant = seconds.clamped(to: TimeZoneLimits.supportedSeconds)
    let year = Self.year(of: instant)
    // The latest change at or before `instant`; on equal instants the later one in the year's order (start, end,
    // next year's start) wins, which keeps zic's all-year daylight saving (`EST5EDT,0/0,J365/25`, where each
    // year's end meets the next year's start) in daylight saving time.
    var latest = Int64.min
    var inDaylightSaving = false
    for candidateYear in year - 2...year + 1 {
      let (start, end) = changes(inYear: candidateYear, daylightSaving)
      if start <= instant, start >= latest { (latest, inDaylightSaving) = (start, true) }
      if end <= instant, end >= latest { (latest, inDaylightSaving) = (end, false) }
    }
    return inDaylightSaving ? daylightSaving.type : standard
  }

  public func nextTransition(afterUTC seconds: Int64) -> Int64? {
    guard let daylightSaving, seconds < TimeZoneLimits.supportedSeconds.upperBound else { return nil }
    let instant = seconds.clamped(to: TimeZoneLimits.supportedSeconds)
    let year = Self.year(of: instant)
    let offset = utcOffset(atUTC: instant)
    // Rules repeat yearly, so if the offset does not change within the next two years it never does.
    let candidates = (year - 1...year + 2).flatMap { candidateYear in
      let (start, end) = changes(inYear: candidateYear, daylightSaving)
      return [start, end]
    }
    return candidates.filter { $0 > instant }.sorted().first { utcOffset(atUTC: $0) != offset }
  }

  /// The UTC instants at which daylight saving time starts and ends in `year`.
  private func changes(inYear year: Int64, _ daylightSaving: DaylightSaving) -> (start: Int64, end: Int64) {
    (
      daylightSaving.start.instant(inYear: year, utcOffsetBefore: standard.utcOffset),
      daylightSaving.end.instant(inYear: year, utcOffsetBefore: daylightSaving.type.utcOffset)
    )
  }

  private static func year(of instant: Int64) -> Int64 {
    CivilDate.fromDays(instant.floorDivided(by: 86_400).quotient).year
  }
}

extension PosixTimeZone.TransitionRule {
  /// The UTC instant of this rule in `year`, given the UTC offset in effect before the change.
  func instant(inYear year: Int64, utcOffsetBefore offset: Int) -> Int64 {
    let newYear = CivilDate.toDays(year: year, month: 1, day: 1)
    let isLeapYear = CivilDate.toDays(year: year, month: 3, day: 1) - newYear == 31 + 29
    let day: Int64
    switch date {
    case .julianIgnoringLeapDay(let n):
      day = newYear + Int64(n - 1) + (isLeapYear && n >= 60 ? 1 : 0)
    case .zeroBasedDay(let n):
      day = newYear + Int64(n)
    case .monthWeekDay(let month, let week, let weekday):
      let first = CivilDate.toDays(year: year, month: Int64(month), day: 1)
      let next =
        month == 12
        ? CivilDate.toDays(year: year + 1, month: 1, day: 1)
        : CivilDate.toDays(year: year, month: Int64(month + 1), day: 1)
      let firstWeekday = (CivilDate.weekday(days: first) + 1) % 7  // 0 = Sunday, as POSIX counts
      var candidate = first + Int64((weekday - firstWeekday + 7) % 7 + 7 * (week - 1))
      while candidate >= next { candidate -= 7 }  // week 5 means the last such weekday
      day = candidate
    }
    return day * 86_400 + Int64(time) - Int64(offset)
  }
}

/// Reads one POSIX TZ string; every count and number is bounded, so hostile text cannot overflow or loop.
private struct PosixTZParser {
  let bytes: [UInt8]
  let text: String
  var index = 0

  init(bytes: [UInt8], text: String) {
    self.bytes = bytes
    self.text = text
  }

  mutating func parse() throws(ZoneInfoError) -> (LocalTimeType, PosixTimeZone.DaylightSaving?) {
    let standardName = try name()
    let standard = LocalTimeType(
      utcOffset: -(try duration(maximumHours: 24, what: "the standard time offset")), isDaylightSaving: false,
      abbreviation: standardName)
    guard index < bytes.count else { return (standard, nil) }
    let daylightName = try name()
    var daylightOffset = standard.utcOffset + 3600
    if index < bytes.count, bytes[index] != UInt8(ascii: ",") {
      daylightOffset = -(try duration(maximumHours: 24, what: "the daylight saving time offset"))
    }
    guard abs(daylightOffset) <= TimeZoneLimits.maximumUTCOffset else {
      throw failure("the daylight saving time offset is beyond 26 hours")
    }
    let daylight = LocalTimeType(utcOffset: daylightOffset, isDaylightSaving: true, abbreviation: daylightName)
    guard index < bytes.count else {
      let usRule = (
        start: PosixTimeZone.TransitionRule(date: .monthWeekDay(month: 3, week: 2, weekday: 0), time: 7200),
        end: PosixTimeZone.TransitionRule(date: .monthWeekDay(month: 11, week: 1, weekday: 0), time: 7200)
      )
      return (standard, .init(type: daylight, start: usRule.start, end: usRule.end))
    }
    try expect(",", "a ',' before the daylight saving start rule")
    let start = try transitionRule()
    try expect(",", "a ',' before the daylight saving end rule")
    let end = try transitionRule()
    guard index == bytes.count else { throw failure("unexpected text after the end rule") }
    return (standard, .init(type: daylight, start: start, end: end))
  }

  /// `CET` (3+ letters) or `<+0530>` (3+ letters, digits, `+`, `-` between angle brackets).
  mutating func name() throws(ZoneInfoError) -> String {
    let quoted = index < bytes.count && bytes[index] == UInt8(ascii: "<")
    if quoted { index += 1 }
    let start = index
    while index < bytes.count, isNameByte(bytes[index], quoted: quoted) { index += 1 }
    guard index - start >= 3 else { throw failure("expected a zone abbreviation of at least 3 characters") }
    let name = String(decoding: bytes[start..<index], as: UTF8.self)
    if quoted { try expect(">", "'>' closing the quoted abbreviation") }
    return name
  }

  private func isNameByte(_ byte: UInt8, quoted: Bool) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return true
    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"): return quoted
    default: return false
    }
  }

  /// `[+|-]hh[:mm[:ss]]` in seconds, hours at most `maximumHours`.
  mutating func duration(maximumHours: Int, what: String) throws(ZoneInfoError) -> Int {
    var sign = 1
    if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
      sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
      index += 1
    }
    var seconds =
      try number(0...maximumHours, maxDigits: 3, "\(what) as [+|-]hh[:mm[:ss]], hours 0-\(maximumHours)")
      * 3600
    for (unit, name) in [(60, "minutes"), (1, "seconds")] {
      guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { break }
      index += 1
      seconds += try number(0...59, maxDigits: 2, "\(name) 00-59") * unit
    }
    return sign * seconds
  }

  /// `Jn`, `n` or `Mm.w.d`, then an optional `/time`.
  mutating func transitionRule() throws(ZoneInfoError) -> PosixTimeZone.TransitionRule {
    let date: PosixTimeZone.DateRule
    if index < bytes.count, bytes[index] == UInt8(ascii: "J") {
      index += 1
      date = .julianIgnoringLeapDay(try number(1...365, maxDigits: 3, "a day J1-J365"))
    } else if index < bytes.count, bytes[index] == UInt8(ascii: "M") {
      index += 1
      let month = try number(1...12, maxDigits: 2, "month 1-12")
      try expect(".", "'.' after the month")
      let week = try number(1...5, maxDigits: 1, "week 1-5")
      try expect(".", "'.' after the week")
      date = .monthWeekDay(month: month, week: week, weekday: try number(0...6, maxDigits: 1, "weekday 0-6"))
    } else {
      date = .zeroBasedDay(try number(0...365, maxDigits: 3, "a date: Jn, n (0-365) or Mm.w.d"))
    }
    var time = 7200
    if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
      index += 1
      time = try duration(maximumHours: 167, what: "the rule's time")
    }
    return .init(date: date, time: time)
  }

  /// One to `maxDigits` decimal digits whose value is in `range`; a throw naming `what` at their start otherwise.
  mutating func number(_ range: ClosedRange<Int>, maxDigits: Int, _ what: String) throws(ZoneInfoError) -> Int {
    let start = index
    var value = 0
    while index - start < maxDigits, index < bytes.count,
      (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
    {
      value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
      index += 1
    }
    guard index > start, range.contains(value) else {
      index = start
      throw failure("expected \(what)")
    }
    return value
  }

  mutating func expect(_ character: Unicode.Scalar, _ what: String) throws(ZoneInfoError) {
    guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { throw failure("expected \(what)") }
    index += 1
  }

  func failure(_ reason: String) -> ZoneInfoError {
    ZoneInfoError(zone: text, reason: "TZ string at byte \(index): \(reason)")
  }
}
