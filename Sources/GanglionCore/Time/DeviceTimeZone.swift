/// The time zone a device's local time follows (`time`, `weekday`, `at`), with what is needed
/// to carry it to another machine: its name and the bytes its rules were read from. The
/// daemon records it beside its event log; `replay` and `explain` read it back from there,
/// so a copied log is read in the device's zone, not the reading machine's.
public struct DeviceTimeZone: Sendable {
  /// `Europe/Amsterdam`, `UTC`, or a POSIX TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`.
  public let name: String
  public let rules: any TimeZoneRules
  /// The TZif file the rules came from; nil when the name alone defines them (UTC, a POSIX
  /// TZ string).
  public let tzif: [UInt8]?

  /// Coordinated Universal Time.
  public static let utc = DeviceTimeZone(name: "UTC", rules: FixedOffsetZone.utc, tzif: nil)

  private init(name: String, rules: any TimeZoneRules, tzif: [UInt8]?) {
    self.name = name
    self.rules = rules
    self.tzif = tzif
  }

  /// A zone read from a compiled zoneinfo (TZif) file.
  /// - Throws: `ZoneInfoError` when the bytes are not a usable TZif file.
  public init(name: String, tzif: [UInt8]) throws(ZoneInfoError) {
    self.init(name: name, rules: try ZoneInfo(tzif: tzif, name: name), tzif: tzif)
  }

  /// `UTC`, or a zone given by a POSIX TZ string (`IST-5:30`, `CET-1CEST,M3.5.0,M10.5.0/3`).
  /// - Throws: `ZoneInfoError` for anything else.
  public init(posixRule text: String) throws(ZoneInfoError) {
    if text == "UTC" {
      self = .utc
      return
    }
    self.init(name: text, rules: try PosixTimeZone(text), tzif: nil)
  }
}
