/// A wall-clock instant: microseconds since 1970-01-01T00:00:00Z. Events carry these.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
  public var microseconds: Int64

  public init(microseconds: Int64) { self.microseconds = microseconds }

  public init(seconds: Int64) { self.microseconds = seconds * 1_000_000 }

  /// Whole seconds since the epoch, rounded down (the second this instant falls in).
  public var seconds: Int64 { microseconds.floorDivided(by: 1_000_000).quotient }

  public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

  public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
    Timestamp(microseconds: lhs.microseconds + rhs.microseconds)
  }

  public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
    Timestamp(microseconds: lhs.microseconds - rhs.microseconds)
  }

  public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
    .microseconds(lhs.microseconds - rhs.microseconds)
  }

  /// RFC 3339 in UTC with microseconds: `2026-11-29T18:02:03.123456Z`. Written digit by digit
  /// into one 27-byte buffer: this runs for every published event.
  public var iso8601: String {
    var bytes: [UInt8] = []
    writeISO8601(to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Appends the UTF-8 of `iso8601` to `out`.
  public func writeISO8601(to out: inout [UInt8]) {
    let (days, micros) = microseconds.floorDivided(by: 86_400_000_000)
    let (year, month, day) = CivilDate.fromDays(days)
    let secondsOfDay = micros / 1_000_000
    let fraction = micros % 1_000_000
    guard (0...9999).contains(year) else {
      out.append(
        contentsOf: ("\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondsOfDay / 3600, 2)):"
          + "\(pad(secondsOfDay / 60 % 60, 2)):\(pad(secondsOfDay % 60, 2)).\(pad(fraction, 6))Z").utf8)
      return
    }
    // YYYY-MM-DDTHH:MM:SS.ffffffZ, 27 bytes, written in place.
    let start = out.count
    out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 27))
    out.withUnsafeMutableBufferPointer { all in
      let buffer = UnsafeMutableBufferPointer(rebasing: all[start...])
      func put(_ value: Int64, digits: Int, at offset: Int) {
        var value = value
        for index in stride(from: offset + digits - 1, through: offset, by: -1) {
          buffer[index] = UInt8(truncatingIfNeeded: 48 + value % 10)
          value /= 10
        }
      }
      put(year, digits: 4, at: 0)
      buffer[4] = UInt8(ascii: "-")
      put(month, digits: 2, at: 5)
      buffer[7] = UInt8(ascii: "-")
      put(day, digits: 2, at: 8)
      buffer[10] = UInt8(ascii: "T")
      put(secondsOfDay / 3600, digits: 2, at: 11)
      buffer[13] = UInt8(ascii: ":")
      put(secondsOfDay / 60 % 60, digits: 2, at: 14)
      buffer[16] = UInt8(ascii: ":")
      put(secondsOfDay % 60, digits: 2, at: 17)
      buffer[19] = UInt8(ascii: ".")
      put(fraction, digits: 6, at: 20)
      buffer[26] = UInt8(ascii: "Z")
    }
  }

  public var description: String { iso8601 }

  /// Parses RFC 3339 (`2026-11-29T18:02:03Z`, optional fraction, `Z` or `+hh:mm`).
  /// Returns nil for anything else.
  public init?(iso8601 text: String) {
    let s = Array(text.utf8)
    func number(_ range: Range<Int>) -> Int64? {
      guard range.upperBound <= s.count else { return nil }
      var n: Int64 = 0
      for i in range {
        guard s[i] >= 48, s[i] <= 57 else { return nil }
        n = n * 10 + Int64(s[i] - 48)
      }
      return n
    }
    guard s.count >= 20, s[4] == UInt8(ascii: "-"), s[7] == UInt8(ascii: "-"),
      s[10] == UInt8(ascii: "T") || s[10] == UInt8(ascii: " "), s[13] == UInt8(ascii: ":"),
      s[16] == UInt8(ascii: ":"),
      let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
      let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
      (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    var index = 19
    var micros: Int64 = 0
    if index < s.count, s[index] == UInt8(ascii: ".") {
      index += 1
      var scale: Int64 = 100_000
      let start = index
      while index < s.count, s[index] >= 48, s[index] <= 57 {
        micros += Int64(s[index] - 48) * scale
        scale /= 10
        index += 1
      }
      guard index > start else { return nil }
    }
    var offsetSeconds: Int64 = 0
    guard index < s.count else { return nil }
    if s[index] == UInt8(ascii: "Z") || s[index] == UInt8(ascii: "z") {
      index += 1
    } else if s[index] == UInt8(ascii: "+") || s[index] == UInt8(ascii: "-") {
      guard let oh = number(index + 1..<index + 3), index + 3 < s.count, s[index + 3] == UInt8(ascii: ":"),
        let om = number(index + 4..<index + 6)
      else { return nil }
      offsetSeconds = (oh * 3600 + om * 60) * (s[index] == UInt8(ascii: "+") ? 1 : -1)
      index += 6
    } else {
      return nil
    }
    guard index == s.count else { return nil }
    let days = CivilDate.toDays(year: year, month: month, day: day)
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
    self.init(microseconds: seconds * 1_000_000 + micros)
  }
}

private func pad(_ n: Int64, _ width: Int) -> String {
  let digits = String(n)
  return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

extension Int64 {
  /// Floor division and its non-negative remainder.
  func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
    var q = self / divisor
    var r = self % divisor
    if r < 0 {
      q -= 1
      r += divisor
    }
    return (q, r)
  }
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's days-from-civil algorithm).
public enum CivilDate {
  public static func fromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }

  public static func toDays(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  /// 0 = Monday ... 6 = Sunday, for a count of days since 1970-01-01 (a Thursday).
  public static func weekday(days: Int64) -> Int {
    Int((days + 3).floorDivided(by: 7).remainder)
  }
}

extension Duration {
  /// Whole microseconds, truncated.
  public var microseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
  }

  /// Parses `250ms`, `10s`, `5m`, `1h`, `1h30m`, `2d`, `1.5s`: one or more number+unit parts,
  /// units `us ms s m h d`. Returns nil for anything else, including a bare number.
  public static func parse(_ text: String) -> Duration? {
    let s = Array(text.trimmingASCIIWhitespace().utf8)
    guard !s.isEmpty else { return nil }
    var index = 0
    var total: Double = 0
    while index < s.count {
      let start = index
      while index < s.count, (s[index] >= 48 && s[index] <= 57) || s[index] == UInt8(ascii: ".") {
        index += 1
      }
      guard index > start, let amount = Double(String(decoding: s[start..<index], as: UTF8.self)) else {
        return nil
      }
      let unitStart = index
      while index < s.count, s[index] >= UInt8(ascii: "a"), s[index] <= UInt8(ascii: "z") { index += 1 }
      let unit = String(decoding: s[unitStart..<index], as: UTF8.self)
      let scale: Double
      switch unit {
      case "us": scale = 1
      case "ms": scale = 1_000
      case "s": scale = 1_000_000
      case "m", "min": scale = 60_000_000
      case "h": scale = 3_600_000_000
      case "d": scale = 86_400_000_000
      default: return nil
      }
      total += amount * scale
    }
    guard total < 9e18 else { return nil }
    return .microseconds(Int64(total.rounded()))
  }

  /// The shortest spelling `parse` reads back: `2m`, `1h30m`, `250ms`, `0s`.
  public var compactDescription: String {
    var micros = microseconds
    if micros == 0 { return "0s" }
    var out = micros < 0 ? "-" : ""
    micros = abs(micros)
    if micros % 1_000_000 != 0, micros < 1_000_000 || micros % 1000 == 0 && micros < 60_000_000 {
      return micros % 1000 == 0 ? out + "\(micros / 1000)ms" : out + "\(micros)us"
    }
    let units: [(Int64, String)] = [(86_400_000_000, "d"), (3_600_000_000, "h"), (60_000_000, "m"), (1_000_000, "s")]
    for (scale, unit) in units where micros >= scale {
      out += "\(micros / scale)\(unit)"
      micros %= scale
    }
    if micros > 0 { out += "\(micros / 1000)ms" }
    return out
  }
}

/// Parses byte sizes: `64MiB`, `4MiB`, `512KiB`, `1GiB`, `1000000` (bytes), `10MB`.
public enum ByteSize {
  public static func parse(_ text: String) -> Int64? {
    let t = text.trimmingASCIIWhitespace()
    let digits = t.prefix { $0.isNumber }
    guard !digits.isEmpty, let n = Int64(digits) else { return nil }
    let unit = String(t.dropFirst(digits.count)).trimmingASCIIWhitespace()
    let scale: Int64
    switch unit {
    case "", "B": scale = 1
    case "KiB", "K", "k": scale = 1 << 10
    case "MiB", "M": scale = 1 << 20
    case "GiB", "G": scale = 1 << 30
    case "KB", "kB": scale = 1000
    case "MB": scale = 1_000_000
    case "GB": scale = 1_000_000_000
    default: return nil
    }
    let (result, overflow) = n.multipliedReportingOverflow(by: scale)
    return overflow ? nil : result
  }
}
