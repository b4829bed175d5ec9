import GanglionCore
import Testing

@testable import GanglionRules

@Suite struct ExpressionTests {
  @Test func literals() throws {
    #expect(try evaluate("42") == 42)
    #expect(try evaluate("-3.5") == -3.5)
    #expect(try evaluate("\"text\"") == "text")
    #expect(try evaluate("'text'") == "text")
    #expect(try evaluate("on") == true)
    #expect(try evaluate("off") == false)
    #expect(try evaluate("true") == true)
    #expect(try evaluate("1h30m") == .number(5400))
    #expect(try evaluate("250ms") == .number(0.25))
    #expect(try evaluate("07:30") == .number(7 * 3600 + 30 * 60))
  }

  @Test func arithmeticPrecedence() throws {
    #expect(try evaluate("1 + 2 * 3") == 7)
    #expect(try evaluate("(1 + 2) * 3") == 9)
    #expect(try evaluate("10 - 4 - 3") == 3)
    #expect(try evaluate("7 % 3") == 1)
    #expect(try evaluate("-2 * 3") == -6)
    #expect(try evaluate("- hallway.lux + 1", ["hallway.lux": 5]) == -4)
    #expect(try evaluate("1 / 0") == .null)
    #expect(try evaluate("\"a\" + \"b\"") == "ab")
  }

  @Test func comparisonsAndLogic() throws {
    #expect(try evaluate("hallway.lux < 40", ["hallway.lux": 10]) == true)
    #expect(try evaluate("hallway.lux >= 40", ["hallway.lux": 40]) == true)
    #expect(try evaluate("not hallway.lux == 3", ["hallway.lux": 3]) == false)
    #expect(
      try evaluate("hallway.motion and not hallway.door", ["hallway.motion": true, "hallway.door": false]) == true)
    #expect(try evaluate("1 < 2 and 2 < 1 or true") == true)
    #expect(try evaluate("house.mode == \"away\"", ["house.mode": "away"]) == true)
    #expect(try evaluate("house.mode != \"away\"", ["house.mode": "home"]) == true)
  }

  @Test func threeValuedLogic() throws {
    // hallway.lux and hallway.motion are unknown here.
    #expect(try evaluate("hallway.lux < 40") == .null)
    #expect(try evaluate("hallway.lux + 1") == .null)
    #expect(try evaluate("not hallway.motion") == .null)
    #expect(try evaluate("hallway.motion and false") == false)
    #expect(try evaluate("hallway.motion and true") == .null)
    #expect(try evaluate("hallway.motion or true") == true)
    #expect(try evaluate("hallway.motion or false") == .null)
    #expect(try evaluate("hallway.lux in [1, 2]") == .null)
  }

  @Test func inListsAndRanges() throws {
    #expect(try evaluate("house.mode in [\"away\", \"night\"]", ["house.mode": "night"]) == true)
    #expect(try evaluate("house.mode in [\"away\", \"night\"]", ["house.mode": "home"]) == false)
    #expect(try evaluate("hallway.lux in 10..20", ["hallway.lux": 20]) == true)
    #expect(try evaluate("hallway.lux in 10..20", ["hallway.lux": 21]) == false)
    // 18:00..07:00 wraps past midnight; the end is exclusive.
    let evening = t0 + .seconds(19 * 3600)
    let morning = t0 + .seconds(6 * 3600 + 59 * 60)
    let seven = t0 + .seconds(7 * 3600)
    let noon = t0 + .seconds(12 * 3600)
    #expect(try evaluate("time in 18:00..07:00", at: evening) == true)
    #expect(try evaluate("time in 18:00..07:00", at: morning) == true)
    #expect(try evaluate("time in 18:00..07:00", at: seven) == false)
    #expect(try evaluate("time in 18:00..07:00", at: noon) == false)
    #expect(try evaluate("time in 09:00..17:00", at: noon) == true)
    // Local time: at 12:00 UTC it is 14:00 at +2h.
    #expect(try evaluate("time >= 14:00", at: noon, utcOffsetSeconds: 7200) == true)
  }

  @Test func jsonIndexing() throws {
    let sensor: Value = .object(["temperature": 21.5, "list": .array([1, 2])])
    #expect(try evaluate("living.sensor[\"temperature\"] > 20", ["living.sensor": sensor]) == true)
    #expect(try evaluate("living.sensor[\"list\"][1]", ["living.sensor": sensor]) == 2)
    #expect(try evaluate("living.sensor.temperature", ["living.sensor": sensor]) == 21.5)
    #expect(try evaluate("living.sensor[\"missing\"] > 1", ["living.sensor": sensor]) == .null)
  }

  @Test func outOfRangeNumbersDoNotTrap() throws {
    let sensor: Value = .object(["list": .array([1, 2])])
    #expect(
      try evaluate("living.sensor[\"list\"][hallway.lux]", ["living.sensor": sensor, "hallway.lux": 1e300]) == .null)
    #expect(try evaluate("living.sensor[\"list\"][0.5]", ["living.sensor": sensor]) == .null)
    #expect(Runtime.render(.number(1e300), as: .duration) == Value.number(1e300).plainText)
    #expect(Runtime.render(.number(-1e300), as: .timestamp) == Value.number(-1e300).plainText)
  }

  @Test func functionsOfValues() throws {
    #expect(try evaluate("abs(-2)") == 2)
    #expect(try evaluate("round(2.5)") == 3)
    #expect(try evaluate("floor(2.7)") == 2)
    #expect(try evaluate("ceil(2.1)") == 3)
    #expect(try evaluate("min(3, 4)") == 3)
    #expect(try evaluate("max(3, 4)") == 4)
    #expect(try evaluate("known(hallway.lux)") == false)
    #expect(try evaluate("known(hallway.lux)", ["hallway.lux": 1]) == true)
    #expect(try evaluate("weekday") == "thu")
    #expect(try evaluate("weekday in [\"sat\", \"sun\"]", at: t0 + .seconds(2 * 86_400)) == true)
  }

  @Test func typeErrorsPointAtTheToken() {
    #expect(expressionErrors("hallway.motion > 3") == ["expr:1:18: error: cannot compare a bool with a number"])
    #expect(expressionErrors("hallway.motion > off") == ["expr:1:1: error: '>' does not order bools"])
    #expect(expressionErrors("hallway.lux == on") == ["expr:1:16: error: cannot compare a number with a bool"])
    #expect(
      expressionErrors("hallway.lux and true") == ["expr:1:1: error: 'and' needs bools on both sides; this is a number"]
    )
    #expect(
      expressionErrors("hallway.motoin") == [
        "expr:1:1: error: unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?"
      ])
    #expect(
      expressionErrors("hallway.lux-5") == [
        "expr:1:1: error: unknown signal 'hallway.lux-5'; to subtract, put spaces around '-'"
      ])
    #expect(
      expressionErrors("avrg(hallway.lux, 5m)") == ["expr:1:1: error: unknown function 'avrg'; did you mean 'avg'?"])
    #expect(
      expressionErrors("avg(house.mode, 5m)") == [
        "expr:1:5: error: avg() works on number signals; this signal is a string"
      ])
    #expect(
      expressionErrors("hallway.lux[\"a\"]") == [
        "expr:1:1: error: only json values can be indexed with [...]; this is a number"
      ])
    #expect(expressionErrors("value > 3") == ["expr:1:1: error: 'value' is only available in 'on' rules"])
    #expect(
      expressionErrors("weekday == sat") == [
        "expr:1:12: error: unknown signal 'sat'; weekdays are strings: weekday == \"sat\""
      ])
  }

  @Test func callsThatDoNotFitSayHowTheFunctionIsCalled() {
    #expect(
      expressionErrors("avg(hallway.lux)") == [
        "expr:1:1: error: avg(SIGNAL, WINDOW) takes a signal and a window, like avg(living.temperature, 5m)"
      ])
    #expect(expressionErrors("age(hallway.lux, 5m)") == ["expr:1:1: error: age(SIGNAL) takes one signal"])
    #expect(expressionErrors("abs()") == ["expr:1:1: error: abs(x) takes one number"])
    // Both shapes of min are named.
    #expect(
      expressionErrors("min(hallway.lux)") == [
        "expr:1:1: error: min(SIGNAL, WINDOW) takes a signal and a window, like min(living.temperature, 5m); "
          + "min(a, b) takes two numbers"
      ])
    #expect(
      expressionErrors("count(1 + 2, 5m)") == ["expr:1:7: error: the first argument of count() is a signal name"])
    #expect(
      expressionErrors("sum(hallway.lux, hallway.lux)") == [
        "expr:1:18: error: the window of sum() is a duration literal, like 5m"
      ])
    #expect(expressionErrors("round(\"a\")") == ["expr:1:7: error: round() needs a number, not a string"])
    #expect(
      expressionErrors("max(1, off)") == [
        "expr:1:1: error: max(a, b) needs two numbers (or a signal and a window like 5m)"
      ])
    // A second argument that is a duration literal makes min a window function.
    #expect(expressionErrors("min(2, 5m)") == ["expr:1:5: error: the first argument of min() is a signal name"])
  }

  @Test func syntaxErrorsPointAtTheToken() {
    #expect(expressionErrors("hallway.lux = 3") == ["expr:1:13: error: '=' is not an operator; compare with '=='"])
    #expect(expressionErrors("hallway.lux < ") == ["expr:1:15: error: expected a value, found end of expression"])
    #expect(expressionErrors("(1 + 2") == ["expr:1:7: error: expected ')', found end of expression"])
    #expect(expressionErrors("1 < 2 < 3") == ["expr:1:7: error: comparisons do not chain; write 'a < b and b < c'"])
    #expect(expressionErrors("\"open") == ["expr:1:1: error: string is not closed: missing \""])
    #expect(
      expressionErrors("5x") == [
        "expr:1:1: error: '5x' is not a duration (units: ms, s, m, h, d; like 250ms, 5m, 1h30m)"
      ])
    #expect(expressionErrors("25:00") == ["expr:1:1: error: '25:00' is not a time of day (00:00 to 23:59)"])
    #expect(expressionErrors("hallway.lux && true") == ["expr:1:13: error: '&' is not an operator; use 'and'"])
  }

  @Test func hugeAndDeepExpressionsAreErrorsNotCrashes() {
    let deep = String(repeating: "(", count: 1000) + "1" + String(repeating: ")", count: 1000)
    #expect(expressionErrors(deep) == ["expr:1:101: error: expression nested more than 100 levels deep"])
    let nots = String(repeating: "not ", count: 1000) + "hallway.motion"
    #expect(expressionErrors(nots).first?.hasSuffix("nested more than 100 levels deep") == true)
    let huge = String(repeating: "(", count: 100_000)
    #expect(expressionErrors(huge).first?.contains("expression too long") == true)
    let long = Array(repeating: "1", count: 3000).joined(separator: " + ")
    #expect(expressionErrors(long).first?.contains("expression too long") == true)
    let chain = Array(repeating: "1", count: 200).joined(separator: " + ")
    #expect(expressionErrors(chain).first?.hasSuffix("nested more than 100 levels deep") == true)
    let fine = Array(repeating: "1", count: 100).joined(separator: " + ")
    #expect(expressionErrors(fine).isEmpty)
  }

  /// Random token soup: every text either compiles or gives errors; nothing traps.
  @Test func randomTextNeverTraps() {
    let pieces = [
      "hallway.lux", "hallway.motion", "living.sensor", "(", ")", "[", "]", ",", "..", "+", "-", "*", "/", "%",
      "==", "<", ">=", "!=", "and", "or", "not", "in", "on", "1", "2.5", "5m", "07:30", "\"x\"", "'y'", "avg",
      "count", "abs", "time", "weekday", "now", "value", "${", "}", "=", "!", "&", ".", "99:99", "1h30", "\"",
    ]
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> Int {
      seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int(seed >> 33)
    }
    var compiled = 0
    for _ in 0..<3000 {
      let count = 1 + next() % 12
      let text = (0..<count).map { _ in pieces[next() % pieces.count] }.joined(separator: next() % 3 == 0 ? "" : " ")
      if expressionErrors(text).isEmpty { compiled += 1 }
    }
    #expect(compiled > 0)
  }

  @Test func templatesRenderByType() throws {
    var slots: [String: Int] = [:]
    for (i, name) in demoSignals.names.enumerated() { slots[name] = i }
    var compiler = ExpressionCompiler(scope: Scope(catalog: demoSignals, slots: slots, bindingType: nil))
    let compiled = compiler.compileTemplate(
      "lux ${hallway.lux} at ${time} on ${device}, ${1h30m}",
      origin: TextOrigin(base: SourceLocation(file: "t", line: 1, column: 1)))
    let template = try #require(compiled)
    let state = EvalState(slotCount: slots.count, context: EngineContext(device: "pi", startTime: t0))
    state.now = (t0 + .seconds(7 * 3600 + 5 * 60)).microseconds
    state.values[slots["hallway.lux"]!] = 12.5
    #expect(template.render(state) == "lux 12.5 at 07:05 on pi, 1h30m")
    state.values[slots["hallway.lux"]!] = .null
    #expect(template.render(state) == "lux unknown at 07:05 on pi, 1h30m")

    _ = compiler.compileTemplate(
      "x ${hallway.luxx}", origin: TextOrigin(base: SourceLocation(file: "t", line: 3, column: 10)))
    #expect(
      compiler.diagnostics.map(\.description) == [
        "t:3:14: error: unknown signal 'hallway.luxx'; did you mean 'hallway.lux'?"
      ])
  }
}

/// `stddev(SIGNAL, WINDOW)`, added as one registration in `Vocabulary.functions`.
@Suite struct StandardDeviationTests {
  @Test func itChecksLikeTheOtherWindowFunctions() throws {
    let rules = try compileRules(
      """
      rules:
        - name: unsteady
          when: stddev(living.temperature, 10m) > 2
          do: [{ log: "spread ${stddev(living.temperature, 10m)}" }]
      """)
    // The window makes the engine keep ten minutes of the signal's events.
    let slot = try #require(rules.slots["living.temperature"])
    #expect(rules.retention[slot] == 600_000_000)
    #expect(
      expressionErrors("stddev(house.mode, 5m)") == [
        "expr:1:8: error: stddev() works on number signals; this signal is a string"
      ])
    #expect(
      expressionErrors("stddev(living.temperature)") == [
        "expr:1:1: error: stddev(SIGNAL, WINDOW) takes a signal and a window, like stddev(living.temperature, 5m)"
      ])
    #expect(
      expressionErrors("stddev(living.temperature, 5m) == \"high\"") == [
        "expr:1:35: error: cannot compare a number with a string"
      ])
    #expect(
      expressionErrors("stdev(living.temperature, 5m)") == [
        "expr:1:1: error: unknown function 'stdev'; did you mean 'stddev'?"
      ])
  }

  @Test func itIsThePopulationDeviationOfTheWindowAndUnknownWithoutValues() throws {
    let rig = try Rig(
      """
      rules:
        - name: spread
          every: 1m
          do: [{ log: "${stddev(living.temperature, 2m)}" }]
      """)
    rig.wait(.seconds(60))  // nothing in the window yet
    rig.wait(.seconds(10))
    rig.input("living.temperature", 10, source: .mqtt)
    rig.wait(.seconds(10))
    rig.input("living.temperature", 20, source: .mqtt)
    rig.wait(.seconds(40))  // 2m: 10 and 20
    rig.wait(.seconds(60))  // 3m: (1m, 3m] still holds both
    rig.wait(.seconds(10))
    rig.input("living.temperature", 20, source: .mqtt)
    rig.wait(.seconds(50))  // 4m: only the last 20
    rig.wait(.seconds(60))  // 5m: the last 20
    rig.wait(.seconds(60))  // 6m: the window is empty again
    #expect(rig.log.filter { $0.kind == .log }.map(\.value) == ["unknown", "5", "5", "0", "0", "unknown"])
  }

  @Test func itStaysPreciseForValuesFarFromZero() throws {
    let rig = try Rig(
      """
      rules:
        - name: spread
          on: living.temperature
          do: [{ log: "${stddev(living.temperature, 1h)}" }]
      """)
    for value in [4.0, 7, 13, 16] {
      rig.input("living.temperature", .number(1e9 + value), source: .mqtt)
      rig.wait(.seconds(1))
    }
    // The deviations from the mean are -6, -3, 3, 6: sqrt(90 / 4).
    let last = try #require(rig.log.last { $0.kind == .log }?.value.stringValue.flatMap(Double.init))
    #expect(abs(last - 22.5.squareRoot()) < 1e-6)
  }

  @Test func aWhenOverItFiresWhenTheSpreadGrowsAndAgainAfterTheWindowMoved() throws {
    let rig = try Rig(
      """
      rules:
        - name: unsteady
          when: stddev(living.temperature, 1m) > 2
          do: [{ log: "spread ${stddev(living.temperature, 1m)}" }]
      """)
    rig.input("living.temperature", 20, source: .mqtt)
    rig.input("living.temperature", 21, source: .mqtt)
    #expect(rig.fired.isEmpty)
    rig.input("living.temperature", 29, source: .mqtt)  // 20, 21, 29: about 4.03
    #expect(rig.fired == ["unsteady"])
    // A minute later the three readings have left the window: unknown, so the edge resets
    // without a new reading, and the next spread fires again.
    rig.wait(.seconds(60))
    rig.input("living.temperature", 10, source: .mqtt)
    rig.input("living.temperature", 20, source: .mqtt)
    #expect(rig.fired == ["unsteady", "unsteady"])
    #expect(rig.log.last { $0.kind == .log }?.value == "spread 5")
  }
}
