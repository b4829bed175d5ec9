import GanglionCore

@testable import GanglionRules

/// The demo board's signals, as the example rules and most tests use them.
let demoSignals = SignalCatalog([
  SignalInfo(name: "hallway.motion", type: .bool, role: .input),
  SignalInfo(name: "hallway.light", type: .bool, role: .output, initial: false),
  SignalInfo(name: "hallway.lux", type: .number, role: .input),
  SignalInfo(name: "hallway.door", type: .bool, role: .input),
  SignalInfo(name: "living.temperature", type: .number, role: .input),
  SignalInfo(name: "living.sensor", type: .json, role: .input),
  SignalInfo(name: "doorbell.press", type: .string, role: .input),
  SignalInfo(name: "porch.light", type: .bool, role: .output),
  SignalInfo(name: "alarm.armed", type: .bool, role: .virtual),
  SignalInfo(name: "house.mode", type: .string, role: .virtual),
  SignalInfo(name: "counter", type: .number, role: .virtual),
  SignalInfo(name: "ping", type: .bool, role: .virtual),
  SignalInfo(name: "pong", type: .bool, role: .virtual),
])

let t0 = Timestamp(seconds: 1_767_225_600)  // 2026-01-01T00:00:00Z, a Thursday

/// Compiles one rule file or fails the test with its diagnostics.
func compileRules(
  _ text: String, file: String = "rules.yaml", signals: SignalCatalog = demoSignals
) throws -> RuleSet {
  let (rules, diagnostics) = RuleCompiler.compile([RuleSource(file: file, text: text)], signals: signals)
  guard let rules else { throw DiagnosticsError(diagnostics) }
  return rules
}

/// The diagnostics of compiling one file, as `file:line:column: error: message` strings.
func errors(_ text: String, file: String = "rules.yaml", signals: SignalCatalog = demoSignals) -> [String] {
  RuleCompiler.compile([RuleSource(file: file, text: text)], signals: signals).diagnostics.map(\.description)
}

/// An engine with a log that assigns seq numbers, like the daemon's.
final class Rig {
  let engine: Engine
  var log: [Event] = []
  var effects: [Effect] = []
  var clock: Timestamp
  private var seq: UInt64 = 0

  init(_ rules: RuleSet, signals: SignalCatalog = demoSignals, start: Timestamp = t0, utcOffsetSeconds: Int = 0) {
    clock = start
    engine = Engine(
      rules: rules, signals: signals,
      context: EngineContext(device: "hallway-pi", startTime: start, utcOffsetSeconds: utcOffsetSeconds))
  }

  convenience init(_ text: String, signals: SignalCatalog = demoSignals, utcOffsetSeconds: Int = 0) throws {
    self.init(try compileRules(text, signals: signals), signals: signals, utcOffsetSeconds: utcOffsetSeconds)
  }

  private func record(_ event: inout Event) {
    seq += 1
    event.seq = seq
    log.append(event)
  }

  @discardableResult
  func input(_ signal: String, _ value: Value, source: EventSource = .gpio) -> [Effect] {
    let out = engine.ingest(Reading(signal: signal, value: value, time: clock, source: source)) { record(&$0) }
    effects += out
    return out
  }

  @discardableResult
  func wait(_ duration: Duration) -> [Effect] {
    clock = clock + duration
    let out = engine.advance(to: clock) { record(&$0) }
    effects += out
    return out
  }

  func value(_ signal: String) -> Value { engine.value(of: signal) }

  /// Names of rules with a `fired` event in the log (in order, repeats included).
  var fired: [String] { log.filter { $0.kind == .fired }.compactMap(\.rule) }

  /// The rules' publishes: their recorded `publish` events (what the daemon's outbox sends).
  var published: [(topic: String, payload: String)] {
    log.compactMap { event in
      guard event.kind == .publish, let topic = event.value["topic"]?.stringValue,
        let payload = event.value["payload"]?.stringValue
      else { return nil }
      return (topic, payload)
    }
  }

  var drives: [(String, Value)] {
    effects.compactMap {
      if case .drive(let signal, let value, _) = $0 { return (signal, value) }
      return nil
    }
  }
}

/// Evaluates one expression against signal values (unset signals are unknown).
func evaluate(
  _ text: String, _ values: [String: Value] = [:], at time: Timestamp = t0, utcOffsetSeconds: Int = 0
) throws -> Value {
  var slots: [String: Int] = [:]
  for (i, name) in demoSignals.names.enumerated() { slots[name] = i }
  var compiler = ExpressionCompiler(scope: Scope(catalog: demoSignals, slots: slots, bindingType: nil))
  guard
    let compiled = compiler.compile(
      text, origin: TextOrigin(base: SourceLocation(file: "expr", line: 1, column: 1)), role: "expression")
  else { throw DiagnosticsError(compiler.diagnostics) }
  let state = EvalState(
    slotCount: demoSignals.names.count,
    context: EngineContext(device: "d", startTime: t0, utcOffsetSeconds: utcOffsetSeconds))
  state.now = time.microseconds
  for (name, value) in values { state.values[slots[name]!] = value }
  return compiled.eval(state)
}

/// The error messages of checking one expression.
func expressionErrors(_ text: String) -> [String] {
  var slots: [String: Int] = [:]
  for (i, name) in demoSignals.names.enumerated() { slots[name] = i }
  var compiler = ExpressionCompiler(scope: Scope(catalog: demoSignals, slots: slots, bindingType: nil))
  _ = compiler.compile(
    text, origin: TextOrigin(base: SourceLocation(file: "expr", line: 1, column: 1)), role: "expression")
  return compiler.diagnostics.map(\.description)
}
