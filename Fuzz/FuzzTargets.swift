import GanglionCore
import GanglionRules

/// What one fuzz target feeds its input to. Every target must return for every input:
/// a crash, a hang or unbounded memory is a bug in the code under test.
enum FuzzTarget: String, CaseIterable, Sendable {
  /// The input as an expression: a `when:`, an `if:`, a `set:` value and a `${...}`
  /// template; each rule that compiles runs in the engine on a few readings.
  case expression
  /// The input as a whole rule file, compiled against the demo signals (and run, if it
  /// compiles).
  case rules
  /// The input as a config file (YAML parser and ConfigDecoder).
  case config
  /// `JSON.parse`; a parsed value must encode to text that parses again.
  case json
  /// An MQTT payload parsed as every signal type.
  case payload

  /// - Parameter report: receives the diagnostics of targets that compile rules (for
  ///   checking that seeds get past the parser).
  func run(_ bytes: UnsafeBufferPointer<UInt8>, report: (([Diagnostic]) -> Void)? = nil) {
    let text = String(decoding: bytes, as: UTF8.self)
    switch self {
    case .expression: Self.runExpression(text, report: report)
    case .rules:
      let (rules, diagnostics) = RuleCompiler.compile(
        [RuleSource(file: "fuzz.yaml", text: text)], signals: Self.catalog)
      report?(diagnostics)
      if let rules { Self.runEngine(rules) }
    case .config: _ = ConfigDecoder.decode(text: text, file: "fuzz.yaml")
    case .json: Self.runJSON(bytes)
    case .payload:
      for type in SignalType.allCases { _ = type.parse(text: text) }
    }
  }

  /// The demo's signals (so the seeds from Rules/ compile) plus one of every type and role.
  static let catalog = SignalCatalog([
    SignalInfo(name: "hallway.motion", type: .bool, role: .input),
    SignalInfo(name: "hallway.door", type: .bool, role: .input),
    SignalInfo(name: "hallway.lux", type: .number, role: .input),
    SignalInfo(name: "living.temperature", type: .number, role: .input),
    SignalInfo(name: "doorbell.press", type: .string, role: .input),
    SignalInfo(name: "living.sensor", type: .json, role: .input),
    SignalInfo(name: "hallway.light", type: .bool, role: .output, initial: .bool(false)),
    SignalInfo(name: "porch.light", type: .bool, role: .output),
    SignalInfo(name: "house.night", type: .bool, role: .virtual, persist: true, initial: .bool(false)),
    SignalInfo(name: "house.level", type: .number, role: .virtual),
    SignalInfo(name: "house.mode", type: .string, role: .virtual),
  ])

  static func runExpression(_ expression: String, report: (([Diagnostic]) -> Void)?) {
    let quoted = yamlDoubleQuoted(expression)
    let on = "on: [hallway.lux, doorbell.press, living.sensor]"
    // Each use on its own, so that an expression of any type compiles in one of them.
    let bodies = [
      "when: \(quoted)\n    do: [{ set: { house.night: on } }]",
      "\(on)\n    if: \(quoted)\n    do: [{ set: { house.night: on } }]",
      "\(on)\n    do: [{ set: { house.level: \(quoted) } }, { log: \(yamlDoubleQuoted("${" + expression + "}")) }]",
    ]
    for body in bodies {
      let text = "rules:\n  - name: fuzz\n    \(body)\n"
      let (rules, diagnostics) = RuleCompiler.compile([RuleSource(file: "fuzz.yaml", text: text)], signals: catalog)
      report?(diagnostics)
      if let rules { runEngine(rules) }
    }
  }

  /// Feeds the engine readings of every input signal and lets two hours pass.
  static func runEngine(_ rules: RuleSet) {
    let start = Timestamp(seconds: 1_767_225_600)
    let engine = Engine(rules: rules, signals: catalog, context: EngineContext(device: "fuzz", startTime: start))
    let readings: [(String, Value)] = [
      ("hallway.motion", .bool(true)), ("hallway.lux", .number(12.5)), ("living.temperature", .number(29)),
      ("doorbell.press", .string("single")),
      ("living.sensor", .object(["temperature": .number(21), "on": .bool(true)])),
      ("hallway.lux", .number(-1e308)), ("hallway.motion", .bool(false)), ("hallway.lux", .number(0)),
      ("living.sensor", .array([.null, .string("x")])),
    ]
    var seq: UInt64 = 0
    var now = start
    for (signal, value) in readings {
      now = now + .seconds(61)
      _ = engine.ingest(Reading(signal: signal, value: value, time: now, source: .mqtt)) { event in
        seq += 1
        event.seq = seq
      }
    }
    _ = engine.advance(to: now + .seconds(7200)) { event in
      seq += 1
      event.seq = seq
    }
  }

  /// The text as a YAML double-quoted scalar that reads back as exactly this text.
  static func yamlDoubleQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case " "..."~": out.unicodeScalars.append(scalar)
      default:
        let hex = String(scalar.value, radix: 16)
        out += "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
      }
    }
    return out + "\""
  }

  static func runJSON(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let value = try? JSON.parse(bytes: bytes) else { return }
    let encoded = JSON.encode(value)
    do {
      _ = try JSON.parse(encoded)
    } catch {
      fatalError("JSON.encode wrote text that does not parse (\(error)): \(encoded)")
    }
  }
}
