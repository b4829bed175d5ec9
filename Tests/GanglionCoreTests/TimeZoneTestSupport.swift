import GanglionCore
import GanglionSystem
import GanglionTestSupport

/// The system's compiled time zones (Debian's tzdata).
let zoneinfoDirectory = "/usr/share/zoneinfo"

/// The bytes of a file, or nil if it cannot be read.
func readFile(_ path: String) -> [UInt8]? { try? FileSystem.readBytes(path, limit: 16 << 20) }

/// The zone `name` from the system's zoneinfo.
func systemZone(_ name: String) throws -> ZoneInfo {
  guard let bytes = readFile("\(zoneinfoDirectory)/\(name)") else { throw MissingFile(path: name) }
  return try ZoneInfo(tzif: bytes, name: name)
}

struct MissingFile: Error { var path: String }

/// Seconds since 1970 of a UTC date and time.
func utc(_ year: Int64, _ month: Int64, _ day: Int64, _ hour: Int64 = 0, _ minute: Int64 = 0, _ second: Int64 = 0)
  -> Int64
{
  CivilDate.toDays(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
}

/// Days since 1970-01-01 of a calendar date.
func day(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
  CivilDate.toDays(year: year, month: month, day: day)
}

/// Every file under `directory` that is not a folder, as paths relative to it (folders reached
/// through symbolic links are not entered).
func regularFiles(under directory: String, prefix: String = "") -> [String] {
  var found: [String] = []
  for entry in (try? FileSystem.entries(directory)) ?? [] {
    if entry.isDirectory {
      found += regularFiles(under: "\(directory)/\(entry.name)", prefix: "\(prefix)\(entry.name)/")
    } else {
      found.append("\(prefix)\(entry.name)")
    }
  }
  return found
}

/// The output of a program, or nil if it is not installed or fails.
func commandOutput(_ program: String, _ arguments: [String]) async -> String? {
  try? await ChildProcess.run(program, arguments)
}
