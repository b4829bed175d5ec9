// swift-tools-version:6.0
import PackageDescription

#if canImport(Glibc)
  import Glibc
#endif

/// Swift 6 settings every target shares: strict concurrency comes with the language mode,
/// plus the upcoming features that make dependencies and existentials explicit.
let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

/// The major version of the installed libgpiod (`Version:` of libgpiod.pc), found the way
/// pkg-config finds it: `$PKG_CONFIG_PATH` first, then the usual Debian folders. libgpiod 2.x
/// is a different API (Debian 13, Raspberry Pi OS trixie, Ubuntu 24.04): GanglionGPIO
/// compiles its v2 funnel file then (`GPIOD_V2`), its v1 file otherwise. Nothing to pass:
/// the installed `libgpiod-dev` decides.
func installedLibgpiodMajorVersion() -> Int {
  var folders: [String] = []
  if let path = Context.environment["PKG_CONFIG_PATH"] { folders += path.split(separator: ":").map(String.init) }
  if let path = Context.environment["PKG_CONFIG_LIBDIR"] {
    folders += path.split(separator: ":").map(String.init)
  } else {
    for triplet in ["x86_64-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf", "riscv64-linux-gnu"] {
      folders += ["/usr/local/lib/\(triplet)/pkgconfig", "/usr/lib/\(triplet)/pkgconfig"]
    }
    folders += ["/usr/local/lib/pkgconfig", "/usr/local/share/pkgconfig", "/usr/lib/pkgconfig", "/usr/share/pkgconfig"]
  }
  for folder in folders {
    guard let file = fopen(folder + "/libgpiod.pc", "r") else { continue }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), file) != nil {
      let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      guard text.hasPrefix("Version:") else { continue }
      let version = text.dropFirst("Version:".count).filter { $0 != " " && $0 != "\n" }
      return Int(version.split(separator: ".").first ?? "") ?? 1
    }
  }
  return 1
}

let gpiodSettings: [SwiftSetting] = installedLibgpiodMajorVersion() >= 2 ? [.define("GPIOD_V2")] : []

let package = Package(
  name: "Ganglion",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "ganglion", targets: ["ganglion"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
  ],
  targets: [
    // C libraries from Debian, found with pkg-config.
    .systemLibrary(
      name: "CYAML", pkgConfig: "yaml-0.1",
      providers: [.apt(["libyaml-dev"])]),
    .systemLibrary(
      name: "CMosquitto", pkgConfig: "libmosquitto",
      providers: [.apt(["libmosquitto-dev"])]),
    .systemLibrary(
      name: "CGPIOD", pkgConfig: "libgpiod",
      providers: [.apt(["libgpiod-dev"])]),

    // Pure Swift, no I/O: values, events, diagnostics, clock, YAML and config model.
    .target(name: "GanglionCore", dependencies: ["CYAML"], swiftSettings: strictSettings),
    // The one POSIX layer: threads, locks, queues, clocks, files, sockets, poll, pipes,
    // signals. With the C funnel files, the only code that imports Glibc.
    .target(name: "GanglionSystem", dependencies: ["GanglionCore"], swiftSettings: strictSettings),
    // Expressions, rules, the engine and the rule-test runner. No I/O.
    .target(name: "GanglionRules", dependencies: ["GanglionCore"], swiftSettings: strictSettings),
    // The event log on disk. Files only.
    .target(name: "GanglionLog", dependencies: ["GanglionCore", "GanglionSystem"], swiftSettings: strictSettings),
    // The only code that calls mosquitto_*.
    .target(
      name: "GanglionMQTT", dependencies: ["GanglionCore", "GanglionSystem", "CMosquitto"],
      swiftSettings: strictSettings),
    // The only code that calls gpiod_*, plus the in-process simulated chip.
    .target(
      name: "GanglionGPIO", dependencies: ["GanglionCore", "GanglionSystem", "CGPIOD"],
      swiftSettings: strictSettings + gpiodSettings),
    // Replay, explain and export: the engine on recorded events, no daemon. Core, rules, log.
    .target(
      name: "GanglionAnalysis", dependencies: ["GanglionCore", "GanglionRules", "GanglionLog"],
      swiftSettings: strictSettings),
    // The runtime only: inputs -> engine -> log, outputs, publisher; HTTP listener.
    .target(
      name: "GanglionDaemon",
      dependencies: [
        "GanglionCore", "GanglionSystem", "GanglionRules", "GanglionLog", "GanglionMQTT", "GanglionGPIO",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings),
    .executableTarget(
      name: "ganglion",
      dependencies: [
        "GanglionDaemon", "GanglionAnalysis", "GanglionRules", "GanglionLog", "GanglionCore", "GanglionSystem",
        "GanglionGPIO", "GanglionMQTT", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strictSettings),
    .executableTarget(
      name: "ganglion-bench",
      dependencies: [
        "GanglionCore", "GanglionSystem", "GanglionRules", "GanglionLog", "GanglionMQTT", "GanglionTestSupport",
      ],
      path: "Benchmarks",
      exclude: ["CRelay", "README.md"],
      swiftSettings: strictSettings),
    // The baseline `ganglion-bench mqtt` compares the daemon with: a minimal C relay.
    .executableTarget(
      name: "mqtt-relay-c",
      path: "Benchmarks/CRelay",
      linkerSettings: [.linkedLibrary("mosquitto")]),
    // libFuzzer targets (`make fuzz`); without -DFUZZING it replays inputs from files.
    .executableTarget(
      name: "ganglion-fuzz",
      dependencies: ["GanglionCore", "GanglionSystem", "GanglionRules"],
      path: "Fuzz",
      exclude: ["Corpus", "expression.dict"],
      swiftSettings: strictSettings),

    .target(
      name: "GanglionTestSupport",
      dependencies: ["GanglionCore", "GanglionSystem"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GanglionCoreTests", dependencies: ["GanglionCore", "GanglionSystem", "GanglionTestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GanglionRulesTests",
      dependencies: ["GanglionRules", "GanglionCore", "GanglionSystem", "GanglionTestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GanglionLogTests",
      dependencies: ["GanglionLog", "GanglionCore", "GanglionSystem", "GanglionTestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GanglionMQTTTests",
      dependencies: ["GanglionMQTT", "GanglionCore", "GanglionSystem", "GanglionTestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GanglionGPIOTests",
      dependencies: ["GanglionGPIO", "GanglionCore", "GanglionSystem", "GanglionTestSupport"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "GanglionDaemonTests",
      dependencies: [
        "GanglionDaemon", "GanglionAnalysis", "GanglionCore", "GanglionSystem", "GanglionMQTT", "GanglionLog",
        "GanglionRules", "GanglionGPIO", "GanglionTestSupport", .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings),
  ]
)
