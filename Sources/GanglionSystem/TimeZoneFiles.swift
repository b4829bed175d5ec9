import GanglionCore

/// Time zones from the system's files: a zone by its IANA name from the zoneinfo folder, the
/// system's own zone (`TZ`, else `/etc/localtime`), and the names there are. Blocking file
/// reads, done once at start-up and by the command line.
public enum TimeZoneFiles {
  /// Where Debian (and most Linux systems) keep the compiled zones.
  public static let zoneinfoDirectory = "/usr/share/zoneinfo"

  /// Why a zone named in a configuration cannot be used.
  public struct LoadError: Error, Sendable, CustomStringConvertible {
    public var description: String
  }

  /// Whether `name` has the form of an IANA zone name (`Europe/Amsterdam`, `UTC`,
  /// `America/Argentina/Buenos_Aires`, `Etc/GMT+5`): parts of letters, digits, `_`, `-` and
  /// `+` joined by `/`, none empty or starting with `.`, at most 255 bytes. Anything else,
  /// `../etc/passwd` or `/etc/shadow` included, never becomes a path.
  public static func isWellFormedName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= 255 else { return false }
    for part in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
      guard let first = part.first, first != UInt8(ascii: "."), first != UInt8(ascii: "-") else { return false }
      for byte in part {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
          UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "+"):
          continue
        default:
          return false
        }
      }
    }
    return true
  }

  /// The zone `name` from `directory`. `UTC` works without the folder.
  /// - Throws: `LoadError` naming the problem: a malformed name, a zone that does not exist
  ///   (with the nearest names), `right/` zones (they count leap seconds), an unreadable or
  ///   corrupt file.
  public static func zone(named name: String, directory: String = zoneinfoDirectory) throws(LoadError)
    -> DeviceTimeZone
  {
    guard isWellFormedName(name) else {
      throw LoadError(
        description:
          "'\(name)' is not a time zone name; expected an IANA name like Europe/Amsterdam or UTC")
    }
    guard !name.hasPrefix("right/"), !name.hasPrefix("posix/") else {
      let plain = String(name.drop { $0 != "/" }.dropFirst())
      throw LoadError(description: "'\(name)' is a copy of a zone for other uses; write '\(plain)'")
    }
    let path = directory + "/" + name
    guard FileSystem.kind(of: path) == .file else {
      if name == "UTC" { return .utc }
      throw LoadError(
        description: "unknown time zone '\(name)'" + suggestion(for: name, in: names(directory: directory)))
    }
    do {
      return try DeviceTimeZone(name: name, tzif: try FileSystem.readBytes(path, limit: 1 << 20))
    } catch {
      throw LoadError(description: "cannot read time zone '\(name)': \(error)")
    }
  }

  /// The system's zone, as the C library finds it: `TZ` (`:Europe/Amsterdam`,
  /// `Europe/Amsterdam`, a path to a TZif file, or a POSIX TZ string), else `/etc/localtime`
  /// (named by its link into the zoneinfo folder, else by `/etc/timezone`), else UTC. Never
  /// fails: what cannot be read is UTC, as the C library treats it.
  /// - Parameters:
  ///   - environment: the value of `TZ` (nil: not set).
  ///   - localtime, timezoneFile: the files to read without `TZ` (injectable for tests).
  public static func systemZone(
    environment: String? = CurrentProcess.environment("TZ"), localtime: String = "/etc/localtime",
    timezoneFile: String = "/etc/timezone", directory: String = zoneinfoDirectory
  ) -> DeviceTimeZone {
    if let tz = environment {
      let text = tz.hasPrefix(":") ? String(tz.dropFirst()) : tz
      if text.hasPrefix("/") {
        return (try? DeviceTimeZone(name: zoneName(ofPath: text) ?? text, tzif: FileSystem.readBytes(text))) ?? .utc
      }
      if isWellFormedName(text), let zone = try? zone(named: text, directory: directory) { return zone }
      return (try? DeviceTimeZone(posixRule: text)) ?? .utc
    }
    guard let bytes = try? FileSystem.readBytes(localtime, limit: 1 << 20) else { return .utc }
    var name = FileSystem.linkTarget(of: localtime).flatMap(zoneName(ofPath:))
    if name == nil, let text = try? FileSystem.readText(timezoneFile, limit: 4096) {
      let line = String(text.split(separator: "\n").first ?? "").trimmingASCIIWhitespace()
      if isWellFormedName(line) { name = line }
    }
    return (try? DeviceTimeZone(name: name ?? "localtime", tzif: bytes)) ?? .utc
  }

  /// `Europe/Amsterdam` for `/usr/share/zoneinfo/Europe/Amsterdam` (or `../usr/share/...`,
  /// `.../zoneinfo/posix/Europe/Amsterdam`); nil for a path outside a zoneinfo folder.
  static func zoneName(ofPath path: String) -> String? {
    guard let range = path.firstRange(of: "/zoneinfo/") else { return nil }
    var name = String(path[range.upperBound...])
    for prefix in ["posix/", "right/"] where name.hasPrefix(prefix) { name.removeFirst(prefix.count) }
    return isWellFormedName(name) ? name : nil
  }

  /// The names of the zones in `directory` (files that hold TZif data; not the `posix/` and
  /// `right/` copies), sorted. Reads every file: for messages, not for every start.
  public static func names(directory: String = zoneinfoDirectory) -> [String] {
    var found: [String] = []
    func walk(_ folder: String, _ prefix: String) {
      for entry in (try? FileSystem.entries(folder)) ?? [] {
        let path = folder + "/" + entry.name
        if entry.isDirectory {
          if prefix.isEmpty, entry.name == "posix" || entry.name == "right" { continue }
          walk(path, prefix + entry.name + "/")
        } else if let bytes = try? FileSystem.readBytes(path, limit: 1 << 20), bytes.starts(with: Array("TZif".utf8)) {
          found.append(prefix + entry.name)
        }
      }
    }
    walk(directory, "")
    return found.sorted()
  }

  /// `; did you mean 'X'?` for a zone name: the same name in other letter case, a city
  /// written alone (`Amsterdam`), or the nearest spelling.
  static func suggestion(for name: String, in names: [String]) -> String {
    let lower = name.lowercased()
    if let same = names.first(where: { $0.lowercased() == lower }) { return "; did you mean '\(same)'?" }
    if let city = names.first(where: { $0.lowercased().hasSuffix("/" + lower) }) { return "; did you mean '\(city)'?" }
    return Spelling.suggestion(for: name, in: names)
  }
}
