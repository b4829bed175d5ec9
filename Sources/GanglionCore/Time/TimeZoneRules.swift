/// What local clocks read during one stretch of a time zone's history.
public struct LocalTimeType: Hashable, Sendable {
  /// Seconds east of UTC, within `TimeZoneLimits.maximumUTCOffset` either way.
  public var utcOffset: Int
  public var isDaylightSaving: Bool
  /// `CET`, `CEST`, `+0530`: what the zone's data calls this time (not unique, not an identifier).
  public var abbreviation: String

  public init(utcOffset: Int, isDaylightSaving: Bool, abbreviation: String) {
    self.utcOffset = utcOffset
    self.isDaylightSaving = isDaylightSaving
    self.abbreviation = abbreviation
  }
}

/// Bounds shared by every zone.
public enum TimeZoneLimits {
  /// The largest UTC offset a zone may have, either way: 26 hours less a second (RFC 9636 asks writers to stay
  /// within -89_999...93_599). Zone data beyond it is rejected.
  public static let maximumUTCOffset = 93_599

  /// Instants and local times are clamped to this many seconds either side of 1970 (about 35 million years), so
  /// calendar arithmetic on them cannot overflow.
  public static let supportedSeconds: ClosedRange<Int64> = -(1 << 50)...(1 << 50)
}

/// A time zone: the local time type in effect at every instant, and when it changes.
///
/// Instants are seconds since 1970-01-01T00:00:00Z without leap seconds (POSIX time, like `Timestamp`).
/// Conforming types are immutable values, safe to share between threads.
public protocol TimeZoneRules: Sendable {
  /// The zone's name: `Europe/Amsterdam`, `UTC`, or a POSIX TZ string.
  var identifier: String { get }

  /// The local time type in effect at `seconds`. Never fails: instants outside the zone's data follow its first
  /// type (before) or its rule (after); instants beyond `TimeZoneLimits.supportedSeconds` are clamped to it.
  func localTimeType(atUTC seconds: Int64) -> LocalTimeType

  /// The first instant after `seconds` at which `utcOffset(atUTC:)` returns a different value, or nil if the offset
  /// never changes again. Changes of abbreviation or daylight-saving flag alone are not transitions.
  func nextTransition(afterUTC seconds: Int64) -> Int64?
}

extension TimeZoneRules {
  /// Seconds east of UTC at `seconds` (local time = UTC + offset).
  public func utcOffset(atUTC seconds: Int64) -> Int { localTimeType(atUTC: seconds).utcOffset }

  /// The abbreviation in effect at `seconds`, e.g. `CEST`.
  public func abbreviation(atUTC seconds: Int64) -> String { localTimeType(atUTC: seconds).abbreviation }

  /// Whether daylight saving time is in effect at `seconds`.
  public func isDaylightSavingTime(atUTC seconds: Int64) -> Bool { localTimeType(atUTC: seconds).isDaylightSaving }

  /// The local calendar day (days since 1970-01-01) and second of that day (0..<86_400) at `seconds`.
  public func localTime(atUTC seconds: Int64) -> (day: Int64, secondOfDay: Int) {
    let instant = seconds.clamped(to: TimeZoneLimits.supportedSeconds)
    let (day, second) = (instant + Int64(utcOffset(atUTC: instant))).floorDivided(by: 86_400)
    return (day, Int(second))
  }

  /// The UTC instant at which local clocks read `secondOfDay` on `localDay` (days since 1970-01-01), by the rules
  /// of rules.md: a local time skipped by a forward clock change maps to the first instant after the gap (02:30 on
  /// Amsterdam's spring-forward day gives 03:00 CEST, 01:00 UTC); a local time that occurs twice maps to the first
  /// occurrence. Formally: the earliest instant whose local reading is at or after the requested one.
  ///
  /// `secondOfDay` is normally 0..<86_400; other values count from that day's midnight (86_400 is the next one).
  public func instant(localDay: Int64, secondOfDay: Int) -> Int64 {
    let local = Self.localSeconds(day: localDay, secondOfDay: secondOfDay)
    var answer = local
    forEachStretch(readingAround: local) { start, end, offset in
      guard end + offset > local else { return true }
      answer = max(start, local - offset)
      return false
    }
    return answer
  }

  /// Every UTC instant at which local clocks read exactly `secondOfDay` on `localDay`, ascending: none in a
  /// spring-forward gap, two in an autumn overlap, one otherwise.
  public func occurrences(localDay: Int64, secondOfDay: Int) -> [Int64] {
    let local = Self.localSeconds(day: localDay, secondOfDay: secondOfDay)
    var found: [Int64] = []
    forEachStretch(readingAround: local) { start, end, offset in
      if (start..<end).contains(local - offset) { found.append(local - offset) }
      return true
    }
    return found
  }

  /// Calls `visit(start, end, offset)` for each stretch `start..<end` of constant UTC offset, in time order, that
  /// overlaps the instants whose local reading can be `local` (within the maximum offset either way), until
  /// `visit` returns false. The last stretch ends exactly where that window ends.
  private func forEachStretch(readingAround local: Int64, _ visit: (Int64, Int64, Int64) -> Bool) {
    let reach = Int64(TimeZoneLimits.maximumUTCOffset) + 1
    let windowEnd = local + reach
    var start = local - reach
    while start < windowEnd {
      let offset = Int64(utcOffset(atUTC: start))
      // `max` guards termination even against a zone that reports a transition that is not after `start`.
      let end = min(max(nextTransition(afterUTC: start) ?? windowEnd, start + 1), windowEnd)
      guard visit(start, end, offset) else { return }
      start = end
    }
  }

  /// `day * 86_400 + secondOfDay`, clamped to `TimeZoneLimits.supportedSeconds` instead of overflowing.
  static func localSeconds(day: Int64, secondOfDay: Int) -> Int64 {
    let limits = TimeZoneLimits.supportedSeconds
    let (midnight, overflow) = day.multipliedReportingOverflow(by: 86_400)
    let clampedMidnight = overflow ? (day < 0 ? limits.lowerBound : limits.upperBound) : midnight.clamped(to: limits)
    return (clampedMidnight + Int64(secondOfDay).clamped(to: limits)).clamped(to: limits)
  }
}

/// A zone whose offset never changes: `UTC`, or a fixed offset for tests.
public struct FixedOffsetZone: TimeZoneRules, Hashable {
  public static let utc = FixedOffsetZone(
    identifier: "UTC", type: LocalTimeType(utcOffset: 0, isDaylightSaving: false, abbreviation: "UTC"))

  public let identifier: String
  private let type: LocalTimeType

  /// Returns nil when `utcOffset` (seconds east of UTC) is beyond `TimeZoneLimits.maximumUTCOffset`.
  public init?(identifier: String, utcOffset: Int, abbreviation: String) {
    guard abs(utcOffset) <= TimeZoneLimits.maximumUTCOffset else { return nil }
    self.init(
      identifier: identifier,
      type: LocalTimeType(utcOffset: utcOffset, isDaylightSaving: false, abbreviation: abbreviation))
  }

  private init(identifier: String, type: LocalTimeType) {
    self.identifier = identifier
    self.type = type
  }

  /// A zone `offsetSeconds` east of UTC, named like `UTC+05:30`; offsets beyond
  /// `TimeZoneLimits.maximumUTCOffset` are clamped to it.
  public init(offsetSeconds: Int) {
    let offset = offsetSeconds.clamped(to: -TimeZoneLimits.maximumUTCOffset...TimeZoneLimits.maximumUTCOffset)
    guard offset != 0 else {
      self = .utc
      return
    }
    let magnitude = abs(offset)
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    var text = "\(offset < 0 ? "-" : "+")\(two(magnitude / 3600)):\(two(magnitude / 60 % 60))"
    if magnitude % 60 != 0 { text += ":\(two(magnitude % 60))" }
    self.init(identifier: "UTC" + text, utcOffset: offset, abbreviation: text)!
  }

  public func localTimeType(atUTC seconds: Int64) -> LocalTimeType { type }

  public func nextTransition(afterUTC seconds: Int64) -> Int64? { nil }
}

extension Comparable {
  func clamped(to limits: ClosedRange<Self>) -> Self { min(max(self, limits.lowerBound), limits.upperBound) }
}
