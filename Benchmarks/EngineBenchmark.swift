import GanglionCore
import GanglionRules
import GanglionSystem

/// Engine throughput and per-event latency with 1, 100 and 1000 rules, where each input
/// event touches exactly one rule (`when: s.I > 50`). Run with `ganglion-bench engine`
/// in a release build: `swift run -c release ganglion-bench engine`.
enum EngineBenchmark {
  static func run(arguments: [String]) {
    guard arguments.count < 2 || arguments.contains("engine") else { return }
    print("engine: events/s and per-event latency; each event touches one rule")
    for ruleCount in [1, 100, 1000] {
      for firing in [false, true] { measure(ruleCount: ruleCount, firing: firing) }
    }
  }

  static func nanoseconds() -> UInt64 { SystemMonotonicClock.nowNanoseconds() }

  /// `firing`: readings alternate across the threshold, so every other event fires the rule
  /// (a `fired` event and a `set` of a virtual signal); otherwise they stay below it.
  static func measure(ruleCount: Int, firing: Bool) {
    var signals: [SignalInfo] = []
    var text = "rules:\n"
    for i in 0..<ruleCount {
      signals.append(SignalInfo(name: "s.\(i)", type: .number, role: .input))
      signals.append(SignalInfo(name: "v.\(i)", type: .bool, role: .virtual))
      text += "  - name: r\(i)\n    when: s.\(i) > 50\n    do: [{ set: { v.\(i): on } }]\n"
    }
    let catalog = SignalCatalog(signals)
    let (rules, diagnostics) = RuleCompiler.compile([RuleSource(file: "bench.yaml", text: text)], signals: catalog)
    guard let rules else {
      print("rules did not compile: \(diagnostics)")
      return
    }
    let start = Timestamp(seconds: 1_767_225_600)
    let engine = Engine(rules: rules, signals: catalog, context: EngineContext(device: "bench", startTime: start))
    let names = (0..<ruleCount).map { "s.\($0)" }
    var seq: UInt64 = 0
    var derived = 0
    let events = 1_000_000
    // Warm up: caches, the first allocations of the engine's buffers.
    for n in 0..<10_000 {
      _ = engine.ingest(
        Reading(signal: names[n % ruleCount], value: .number(Double(n % 40)), time: start, source: .mqtt)
      ) { $0.seq = 1 }
    }
    var latencies = [UInt64](repeating: 0, count: events)
    let began = nanoseconds()
    for n in 0..<events {
      let signal = names[n % ruleCount]
      let round = n / ruleCount
      let value: Double = firing ? (round % 2 == 0 ? 60 : 10) : Double(round % 40)
      let reading = Reading(
        signal: signal, value: .number(value), time: start + .microseconds(Int64(n)), source: .mqtt)
      let t = nanoseconds()
      let effects = engine.ingest(reading) { event in
        seq += 1
        event.seq = seq
      }
      latencies[n] = nanoseconds() - t
      derived += effects.count
    }
    let elapsed = Double(nanoseconds() - began) / 1e9
    latencies.sort()
    let p50 = Double(latencies[events / 2]) / 1000
    let p99 = Double(latencies[events * 99 / 100]) / 1000
    let rate = Double(events) / elapsed
    print(
      "  \(ruleCount) rules, \(firing ? "firing every other event" : "no firing")\t"
        + "\(Int(rate)) events/s\tp50 \(format(p50)) us\tp99 \(format(p99)) us\t(\(seq) events logged)")
  }

  static func format(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
  }
}
