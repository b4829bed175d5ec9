import GanglionCore
import GanglionSystem

/// The device's time zone, kept beside its event log (`timezone`: the zone's name;
/// `timezone.tzif`: the TZif bytes its rules came from, when there are any), so that
/// `replay` and `explain` read a log in the zone of the device that wrote it, on any machine,
/// even one whose zoneinfo lacks or differs in that zone (cli.md).
public enum LogTimeZone {
  static func nameFile(_ directory: String) -> LogStateFile { LogStateFile(directory: directory, name: "timezone") }
  static func rulesFile(_ directory: String) -> LogStateFile {
    LogStateFile(directory: directory, name: "timezone.tzif")
  }

  /// Records `zone` beside the log in `directory`, unless it is recorded there already (the
  /// files are replaced whole and durably; an unchanged zone costs no write).
  /// - Throws: `LogError` when a file cannot be written.
  public static func record(_ zone: DeviceTimeZone, directory: String) throws(LogError) {
    let rules = rulesFile(directory)
    if let tzif = zone.tzif {
      if try rules.readBytes() != tzif { try rules.write(bytes: tzif) }
    } else if try rules.readBytes() != nil {
      try rules.remove()
    }
    let name = nameFile(directory)
    if try name.read() != zone.name + "\n" { try name.write(zone.name + "\n") }
  }

  /// The zone recorded beside the log in `directory`; nil when none is (a log written before
  /// zones were recorded). Without the rules file, the name is read as UTC or a POSIX TZ
  /// string, else looked up in this machine's zoneinfo.
  /// - Throws: `LogError` when a file cannot be read; `TimeZoneFiles.LoadError` when the
  ///   recorded zone cannot be understood.
  public static func read(directory: String) throws -> DeviceTimeZone? {
    guard let text = try nameFile(directory).read() else { return nil }
    let name = String(text.split(separator: "\n").first ?? "")
    if let tzif = try rulesFile(directory).readBytes() { return try DeviceTimeZone(name: name, tzif: tzif) }
    if let zone = try? DeviceTimeZone(posixRule: name) { return zone }
    return try TimeZoneFiles.zone(named: name)
  }
}
