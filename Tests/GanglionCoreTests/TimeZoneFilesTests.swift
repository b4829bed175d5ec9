import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

/// Zones from the system's files: by name from the zoneinfo folder (names never become other
/// paths), and the system's zone as the C library finds it (`TZ`, else `/etc/localtime`).
@Suite struct TimeZoneFilesTests {
  @Test(arguments: ["Europe/Amsterdam", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "EST5EDT"])
  func wellFormedNames(_ name: String) {
    #expect(TimeZoneFiles.isWellFormedName(name))
  }

  @Test(arguments: [
    "", "../etc/passwd", "/etc/shadow", "Europe/../../etc/passwd", "Europe//Amsterdam", "Europe/", ".hidden",
    "Europe/Amsterdam\u{0}", "Europe/Am sterdam", "-rf", String(repeating: "A", count: 256),
  ])
  func malformedNamesAreRefusedBeforeAnyFileIsRead(_ name: String) {
    #expect(!TimeZoneFiles.isWellFormedName(name))
    #expect(throws: TimeZoneFiles.LoadError.self) { try TimeZoneFiles.zone(named: name) }
  }

  @Test func aZoneByNameHasItsRulesAndItsBytes() throws {
    let zone = try TimeZoneFiles.zone(named: "Europe/Amsterdam")
    #expect(zone.name == "Europe/Amsterdam")
    #expect(zone.tzif == readFile("\(zoneinfoDirectory)/Europe/Amsterdam"))
    #expect(zone.rules.utcOffset(atUTC: utc(2026, 7, 1)) == 7200)
    // What is recorded beside a log reads back the same on a machine without the zone.
    let again = try DeviceTimeZone(name: zone.name, tzif: try #require(zone.tzif))
    #expect(again.rules.utcOffset(atUTC: utc(2026, 1, 1)) == 3600)
  }

  @Test func unknownZonesSuggestTheNearestName() {
    for (written, meant) in [
      ("Europe/Amsterdm", "Europe/Amsterdam"), ("europe/amsterdam", "Europe/Amsterdam"), ("Kolkata", "Asia/Kolkata"),
    ] {
      #expect {
        try TimeZoneFiles.zone(named: written)
      } throws: { error in
        "\(error)" == "unknown time zone '\(written)'; did you mean '\(meant)'?"
      }
    }
    #expect(throws: TimeZoneFiles.LoadError.self) { try TimeZoneFiles.zone(named: "right/Europe/Amsterdam") }
  }

  @Test func theSystemZoneFollowsTZAsTheCLibraryReadsIt() {
    let july = utc(2026, 7, 1)
    let cases: [(String, String, Int)] = [
      (":Asia/Kolkata", "Asia/Kolkata", 19_800), ("Asia/Tokyo", "Asia/Tokyo", 32_400),
      ("/usr/share/zoneinfo/Europe/Amsterdam", "Europe/Amsterdam", 7200),
      ("CET-1CEST,M3.5.0,M10.5.0/3", "CET-1CEST,M3.5.0,M10.5.0/3", 7200), ("UTC", "UTC", 0),
      ("not a zone at all", "UTC", 0), ("Nowhere/City", "UTC", 0),
    ]
    for (tz, name, offset) in cases {
      let zone = TimeZoneFiles.systemZone(environment: tz)
      #expect(zone.name == name, "TZ=\(tz)")
      #expect(zone.rules.utcOffset(atUTC: july) == offset, "TZ=\(tz)")
    }
  }

  @Test func withoutTZTheZoneIsLocaltimeNamedByItsLink() throws {
    let folder = try TemporaryDirectory(prefix: "ganglion-localtime")
    let link = folder.path("localtime")
    try ChildProcessLink.make(link, pointingTo: "/usr/share/zoneinfo/Asia/Tokyo")
    let zone = TimeZoneFiles.systemZone(environment: nil, localtime: link, timezoneFile: folder.path("none"))
    #expect(zone.name == "Asia/Tokyo")
    #expect(zone.rules.utcOffset(atUTC: utc(2026, 1, 1)) == 32_400)
    // A copied file (no link) is named by /etc/timezone.
    try folder.write("Asia/Tokyo\n", to: "timezone")
    let copy = try folder.write("", to: "copied")
    try writeFile(copy, bytes: try #require(readFile("\(zoneinfoDirectory)/Asia/Tokyo")))
    #expect(
      TimeZoneFiles.systemZone(environment: nil, localtime: copy, timezoneFile: folder.path("timezone")).name
        == "Asia/Tokyo")
    #expect(TimeZoneFiles.systemZone(environment: nil, localtime: folder.path("missing")).name == "UTC")
  }
}

/// Symbolic links for tests, with `ln -s` (the test targets do not call the C library).
enum ChildProcessLink {
  static func make(_ link: String, pointingTo target: String) throws {
    let done = ProcessSpawner.reap(
      try ProcessSpawner.spawn("ln", arguments: ["-s", target, link]), blocking: true)
    guard done == .exited(code: 0) else {
      throw TestSupportError("ln -s \(target) \(link): \(String(describing: done))")
    }
  }
}
