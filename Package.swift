// swift-tools-version:6.0
import PackageDescription

/// Swift 6 settings every target shares: strict concurrency comes with the language mode,
/// plus the upcoming features that make dependencies and existentials explicit.
let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

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
      swiftSettings: strictSettings),
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
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
