import GanglionCore

/// One failed step of a rule test.
public struct RuleTestFailure: Sendable, Hashable, CustomStringConvertible {
  /// The step (or the test, for set-up problems).
  public var location: SourceLocation
  public var test: String
  /// What went wrong, in words (`expect hallway.light`).
  public var message: String
  public var expected: String?
  public var actual: String?

  /// `file:line: test 'NAME': MESSAGE: expected X, got Y`
  public var description: String {
    var out = "\(location.file):\(location.line): test '\(test)': \(message)"
    if let expected { out += ": expected \(expected)" }
    if let actual { out += expected == nil ? ": \(actual)" : ", got \(actual)" }
    return out
  }
}

/// The outcome of one test.
public struct RuleTestResult: Sendable, Hashable {
  public var name: String
  public var location: SourceLocation
  public var failures: [RuleTestFailure]
  public var passed: Bool { failures.isEmpty }
}

/// The outcome of a run: every test's result, plus problems with the test files themselves.
public struct RuleTestReport: Sendable, CustomStringConvertible {
  public var results: [RuleTestResult] = []
  /// Errors in test files (bad YAML, unknown keys); each makes the run fail.
  public var diagnostics: [Diagnostic] = []

  public var passedCount: Int { results.filter(\.passed).count }
  public var failedCount: Int { results.count - passedCount }
  /// True when every test passed and the test files had no errors.
  public var succeeded: Bool { failedCount == 0 && !diagnostics.contains { $0.severity == .error } }

  /// `N passed, N failed`
  public var summary: String { "\(passedCount) passed, \(failedCount) failed" }

  /// One line per file error and failure, then the summary.
  public var description: String {
    let lines = diagnostics.map(\.description) + results.flatMap { $0.failures.map(\.description) }
    return (lines + [summary]).joined(separator: "\n")
  }
}

/// Runs `*.test.yaml` files (rules.md "Rule tests") against rules on a virtual clock.
/// Pure: no I/O; a test of `for: 2h` takes milliseconds.
public enum RuleTestRunner {
  /// The `config:` a test file names (relative to the test file), if any; the caller loads
  /// that config's signals and rules for the file's tests. Nil also for unreadable YAML (the
  /// run reports that).
  public static func configPath(of file: RuleSource) -> String? {
    guard let root = try? YAMLParser.parse(file.text, file: file.file), let pairs = root.mapping else { return nil }
    return pairs.first { $0.key.scalar == "config" }?.value.scalar
  }

  static let testKeys = ["name", "rules", "config", "given", "start", "steps"]
  static let stepKeys = ["input", "wait", "expect", "expect_published", "expect_fired", "expect_not_fired"]

  /// Runs every test of `tests` (each a test file's text) against `rules`.
  ///
  /// - Parameters:
  ///   - rules: the rule files; a test's `rules:` picks some of them by file name (the name,
  ///     or a path ending in `/name`), otherwise all of them are used.
  ///   - signals: the declared signals (from the config).
  ///   - context: device, prefix, UTC offset and the virtual clock's start; a test's `start:`
  ///     (an RFC 3339 time, or `"HH:MM"` local time on the start day) moves its start.
  public static func run(
    tests: [RuleSource], rules: [RuleSource], signals: SignalCatalog,
    context: EngineContext = EngineContext(device: "test", startTime: Timestamp(seconds: 1_767_225_600))
  ) -> RuleTestReport {
    var report = RuleTestReport()
    var cache: [[String]: (RuleSet?, [Diagnostic])] = [:]
    for file in tests {
      let root: YAMLNode?
      do {
        root = try YAMLParser.parse(file.text, file: file.file)
      } catch {
        report.diagnostics += error.diagnostics
        continue
      }
      guard let root else { continue }
      guard root.mapping != nil else {
        report.diagnostics.append(.error("a test file is a mapping with 'tests:', a list of tests", at: root.location))
        continue
      }
      // `config` is read by the caller: configPath(of:).
      var reader = YAMLFieldReader()
      let fields = reader.mapping(root, "a test file", allowed: ["tests", "config"])
      var items: [YAMLNode] = []
      if let node = fields?["tests"] {
        if let list = node.sequence {
          items = list
        } else {
          reader.error("'tests' is a list of tests", at: node.location)
        }
      }
      report.diagnostics += reader.diagnostics.diagnostics
      guard !reader.diagnostics.hasErrors else { continue }
      for item in items {
        var run = TestRun(node: item, signals: signals, context: context)
        run.run(rules: rules, cache: &cache)
        report.diagnostics += run.diagnostics
        if let result = run.result { report.results.append(result) }
      }
    }
    return report
  }
}

private struct TestRun {
  let node: YAMLNode
  let signals: SignalCatalog
  var context: EngineContext
  var diagnostics: [Diagnostic] = []
  var result: RuleTestResult?
  var failures: [RuleTestFailure] = []
  var name = "?"

  // Running state.
  var engine: Engine?
  let recorder = Recorder()
  var log: [Event] { recorder.log }
  var stepStart = 0

  /// The rules' publishes since the last `input` or `wait` step: their recorded `publish`
  /// events, the same the daemon delivers through its outbox.
  var publishedThisStep: [(topic: String, payload: String, qos: Int, retain: Bool)] {
    log[stepStart...].compactMap { event in
      guard event.kind == .publish, let topic = event.value["topic"]?.stringValue,
        let payload = event.value["payload"]?.stringValue
      else { return nil }
      return (topic, payload, Int(event.value["qos"]?.numberValue ?? 0), event.value["retain"]?.boolValue ?? false)
    }
  }
  var clock = Timestamp(microseconds: 0)

  init(node: YAMLNode, signals: SignalCatalog, context: EngineContext) {
    self.node = node
    self.signals = signals
    self.context = context
  }

  mutating func fail(
    _ message: String, at location: SourceLocation, expected: String? = nil, actual: String? = nil
  ) {
    failures.append(
      RuleTestFailure(location: location, test: name, message: message, expected: expected, actual: actual))
  }

  mutating func run(rules: [RuleSource], cache: inout [[String]: (RuleSet?, [Diagnostic])]) {
    guard node.mapping != nil else {
      diagnostics.append(.error("a test is a mapping with 'name' and 'steps'", at: node.location))
      return
    }
    // Every key of the test is read before anything runs: a misspelt step is a file error,
    // not a test that runs half-way.
    var reader = YAMLFieldReader()
    guard let fields = reader.mapping(node, "a test", allowed: RuleTestRunner.testKeys) else { return }
    let given = fields["given"].flatMap { $0.mapping == nil ? nil : reader.entries($0, "'given'") }
    let steps = fields["steps"]?.sequence?.compactMap { Step.read($0, with: &reader) }
    diagnostics += reader.diagnostics.diagnostics
    name = fields["name"]?.scalar ?? "line \(node.location.line)"
    defer { result = RuleTestResult(name: name, location: node.location, failures: failures) }
    guard diagnostics.isEmpty else {
      fail("the test has errors", at: node.location)
      return
    }

    // Rules.
    var selected = rules
    if let ruleNode = fields["rules"] {
      let wanted = (ruleNode.sequence ?? [ruleNode]).compactMap(\.scalar)
      selected = []
      for want in wanted {
        let matches = rules.filter { $0.file == want || $0.file.hasSuffix("/" + want) }
        if matches.isEmpty {
          fail("no rule file '\(want)' among the rules given", at: ruleNode.location)
          return
        }
        selected += matches.filter { m in !selected.contains { $0.file == m.file } }
      }
    }
    let key = selected.map(\.file)
    if cache[key] == nil { cache[key] = RuleCompiler.compile(selected, signals: signals) }
    let (ruleSet, ruleDiagnostics) = cache[key]!
    guard let ruleSet else {
      fail(
        "the rules have errors", at: node.location,
        actual: ruleDiagnostics.map(\.description).joined(separator: "; "))
      return
    }

    // Start time.
    if let startNode = fields["start"] {
      guard let start = startTime(startNode) else {
        fail("'start' is an RFC 3339 time or a local time of day like \"21:00\"", at: startNode.location)
        return
      }
      context.startTime = start
    }
    clock = context.startTime
    let engine = Engine(rules: ruleSet, signals: signals, context: context)
    self.engine = engine

    // The state the daemon has just after start-up (rules.md "Rule tests"), in the order it
    // records it: outputs at their `initial`, then virtual signals at theirs; inputs stay
    // unknown. Nothing fires, as nothing fires at start-up.
    for role in [SignalRole.output, .virtual] {
      for signal in signals.all where signal.role == role {
        guard let initial = signal.initial else { continue }
        engine.restore(signal: signal.name, value: initial, time: clock)
      }
    }

    // Given: overrides the start-up state.
    if let node = fields["given"] {
      guard let given else {
        fail("'given' is a mapping of signals to values", at: node.location)
        return
      }
      for pair in given {
        guard let (signal, value) = typedPair(pair) else { continue }
        engine.restore(signal: signal, value: value, time: clock)
      }
    }

    guard let steps else {
      fail("a test needs 'steps', a list", at: fields["steps"]?.location ?? node.location)
      return
    }
    for step in steps { runStep(step, rules: ruleSet) }
  }

  func startTime(_ node: YAMLNode) -> Timestamp? {
    guard let text = node.scalar else { return nil }
    if let instant = Timestamp(iso8601: text) { return instant }
    guard let tokens = try? Lexer(text).tokenize(), tokens.count == 2, case .timeOfDay(let seconds) = tokens[0].kind
    else { return nil }
    // That local time on the start day (local), by the zone's rules (a time skipped by a
    // clock change is the first instant after it).
    let (localDay, _) = context.timeZone.localTime(atUTC: context.startTime.seconds)
    return Timestamp(seconds: context.timeZone.instant(localDay: localDay, secondOfDay: seconds))
  }

  /// A `signal: value` pair with the value read as the signal's type.
  mutating func typedPair(_ pair: YAMLNode.Pair) -> (String, Value)? {
    let signal = pair.key.scalar ?? ""
    guard let info = signals[signal] else {
      fail(
        "unknown signal '\(signal)'" + Spelling.suggestion(for: signal, in: signals.names), at: pair.key.location)
      return nil
    }
    guard let value = Self.typedValue(pair.value, type: info.type) else {
      fail("'\(signal)' is a \(info.type.rawValue); this value is not", at: pair.value.location)
      return nil
    }
    return (signal, value)
  }

  static func typedValue(_ node: YAMLNode, type: SignalType) -> Value? {
    if node.isNull || (node.scalarStyle == .plain && node.scalar == "unknown") { return .null }
    switch type {
    case .json: return node.jsonValue
    case .string: return node.scalar.map(Value.string)
    case .bool, .number:
      if node.scalarStyle == .plain, let v = type.coerce(node.jsonValue) { return v }
      return node.scalar.flatMap { type.parse(text: $0) }
    }
  }

  static func show(_ value: Value) -> String { value.isNull ? "unknown" : JSON.encode(value) }

  static func sameValue(_ a: Value, _ b: Value) -> Bool {
    if case .number(let x) = a, case .number(let y) = b {
      return x == y || abs(x - y) <= 1e-9 * max(abs(x), abs(y))
    }
    return a == b
  }

  mutating func runStep(_ step: Step, rules: RuleSet) {
    guard let engine else { return }
    switch step.action {
    case .input(let body, let inputs):
      stepStart = log.count
      guard let inputs else {
        fail("'input' is a mapping of signals to values", at: body.location)
        return
      }
      for pair in inputs {
        guard let (signal, value) = typedPair(pair) else { continue }
        let source: EventSource = signals[signal]?.role == .input ? .simulator : .command
        let recorder = self.recorder
        _ = engine.ingest(Reading(signal: signal, value: value, time: clock, source: source)) { recorder.record(&$0) }
      }
    case .wait(let body):
      stepStart = log.count
      guard let text = body.scalar, let d = Duration.parse(text) else {
        fail("'wait' is a duration like 30s or 1m59s", at: body.location)
        return
      }
      clock = clock + d
      let recorder = self.recorder
      _ = engine.advance(to: clock) { recorder.record(&$0) }
    case .expect(let body, let expectations):
      guard let expectations else {
        fail("'expect' is a mapping of signals to values", at: body.location)
        return
      }
      for pair in expectations {
        guard let (signal, expected) = typedPair(pair) else { continue }
        let actual = engine.value(of: signal)
        if !Self.sameValue(actual, expected) {
          fail("expect \(signal)", at: pair.key.location, expected: Self.show(expected), actual: Self.show(actual))
        }
      }
    case .expectPublished(let items):
      for (item, fields) in items { expectPublished(item, fields) }
    case .expectFired(let body, let fired):
      let kind = fired ? "expect_fired" : "expect_not_fired"
      let names = (body.sequence ?? [body]).compactMap(\.scalar)
      let firedNow = Set(log[stepStart...].filter { $0.kind == .fired }.compactMap(\.rule))
      for rule in names {
        guard rules.names.contains(rule) else {
          fail("unknown rule '\(rule)'" + Spelling.suggestion(for: rule, in: rules.names), at: body.location)
          continue
        }
        let didFire = firedNow.contains(rule)
        if fired, !didFire {
          fail("\(kind) \(rule)", at: step.node.location, expected: "'\(rule)' fired", actual: describeFired(firedNow))
        } else if !fired, didFire {
          fail("\(kind) \(rule)", at: step.node.location, expected: "'\(rule)' not fired", actual: "it fired")
        }
      }
    }
  }

  func describeFired(_ names: Set<String>) -> String {
    names.isEmpty ? "no rule fired" : "fired: " + names.sorted().joined(separator: ", ")
  }

  /// One expected publish: `fields` are its keys, nil if `item` is not a mapping.
  mutating func expectPublished(_ item: YAMLNode, _ fields: YAMLFields?) {
    guard let fields else {
      fail("'expect_published' is { topic, payload }", at: item.location)
      return
    }
    let topic = fields["topic"]?.scalar
    let payload = fields["payload"]
    let qos = fields["qos"].map { $0.jsonValue.numberValue.flatMap { Int(exactly: $0) } ?? -1 }
    let retain = fields["retain"]?.jsonValue.boolValue
    let candidates = publishedThisStep
    let match = candidates.contains { p in
      (topic == nil || p.topic == topic) && (qos == nil || p.qos == qos) && (retain == nil || p.retain == retain)
        && (payload == nil || Self.payloadMatches(p.payload, payload!))
    }
    guard !match else { return }
    var expected = topic.map { "topic \($0)" } ?? "a publish"
    if let payload { expected += " payload \(Self.describe(payload))" }
    let actual =
      candidates.isEmpty
      ? "nothing was published"
      : candidates.map { "\($0.topic) \($0.payload)" }.joined(separator: "; ")
    fail("expect_published", at: item.location, expected: expected, actual: actual)
  }

  static func describe(_ node: YAMLNode) -> String {
    if let text = node.scalar { return text }
    return JSON.encode(node.jsonValue)
  }

  /// Payloads compare as JSON when both sides parse, as text otherwise.
  static func payloadMatches(_ actual: String, _ expected: YAMLNode) -> Bool {
    let expectedValue: Value
    if let text = expected.scalar {
      if text == actual { return true }
      guard let parsed = try? JSON.parse(text) else { return false }
      expectedValue = parsed
    } else {
      expectedValue = expected.jsonValue
    }
    guard let actualValue = try? JSON.parse(actual) else { return false }
    return jsonEqual(actualValue, expectedValue)
  }

  static func jsonEqual(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case (.number, .number): return sameValue(a, b)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { jsonEqual($0, $1) }
    case (.object(let x), .object(let y)):
      return x.count == y.count && x.allSatisfy { key, value in y[key].map { jsonEqual(value, $0) } ?? false }
    default: return a == b
    }
  }
}

/// One step of a test, its keys read (`Step.read`) before the test runs.
private struct Step {
  enum Action {
    /// The body, and its pairs if it is a mapping.
    case input(YAMLNode, [YAMLNode.Pair]?)
    case wait(YAMLNode)
    case expect(YAMLNode, [YAMLNode.Pair]?)
    /// Each expected publish, and its fields if it is a mapping.
    case expectPublished([(YAMLNode, YAMLFields?)])
    /// `expect_fired` (true) or `expect_not_fired` (false): the body names the rules.
    case expectFired(YAMLNode, Bool)
  }

  /// The list item, where failures about the step point.
  let node: YAMLNode
  let action: Action

  /// Reads one list item of `steps`: one key of `RuleTestRunner.stepKeys`, and the keys of
  /// its mappings, with the key reader. Nil after reporting a problem to `reader`.
  static func read(_ node: YAMLNode, with reader: inout YAMLFieldReader) -> Step? {
    let kinds = RuleTestRunner.stepKeys.joined(separator: ", ")
    guard node.mapping?.isEmpty == false else {
      reader.error("a step is one of \(kinds); found \(reader.describe(node))", at: node.textLocation)
      return nil
    }
    guard let fields = reader.mapping(node, "a step", allowed: RuleTestRunner.stepKeys) else { return nil }
    if fields.ordered.count > 1 {
      let keys = fields.ordered.prefix(2).map { "'\($0.key.scalar ?? "")'" }.joined(separator: " and ")
      reader.error(
        "one step per list item: \(keys); start another with '-'", at: fields.ordered[1].key.textLocation)
      return nil
    }
    guard let pair = fields.ordered.first, let kind = pair.key.scalar else { return nil }
    let body = pair.value
    func signalValues() -> [YAMLNode.Pair]? { body.mapping == nil ? nil : reader.entries(body, "'\(kind)'") }
    switch kind {
    case "input": return Step(node: node, action: .input(body, signalValues()))
    case "wait": return Step(node: node, action: .wait(body))
    case "expect": return Step(node: node, action: .expect(body, signalValues()))
    case "expect_published":
      let items = (body.sequence ?? [body]).map { item in
        (item, item.mapping == nil ? nil : reader.mapping(item, "'expect_published'", allowed: PublishAction.keys))
      }
      return Step(node: node, action: .expectPublished(items))
    default: return Step(node: node, action: .expectFired(body, kind == "expect_fired"))
    }
  }
}

/// Gives events their seq numbers, like the event log does.
private final class Recorder {
  var log: [Event] = []
  private var seq: UInt64 = 0

  func record(_ event: inout Event) {
    seq += 1
    event.seq = seq
    log.append(event)
  }
}
