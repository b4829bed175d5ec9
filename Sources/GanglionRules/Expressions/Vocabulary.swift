import GanglionCore

/// The expression language's functions and built-in names: one registration each, and the
/// only place that lists them. The checker, its `did you mean` suggestions and the engine all
/// read from here; to add a function, add its `FunctionDefinition` to `functions` (and a
/// test, and a row in Rules/README.md).
enum Vocabulary {
  static let functions: [FunctionDefinition] = [
    .window("avg", of: .numbers) { events in
      var count = 0
      var total = 0.0
      for n in events.numbers {
        count += 1
        total += n
      }
      return count == 0 ? .null : .number(total / Double(count))
    },
    .window("min", of: .numbers) { events in events.numbers.min().map(Value.number) ?? .null },
    .window("max", of: .numbers) { events in events.numbers.max().map(Value.number) ?? .null },
    .window("sum", of: .numbers) { events in .number(events.numbers.reduce(0, +)) },
    // The population standard deviation; Welford's single pass keeps its precision for values
    // far from zero, where a sum of squares cancels. An addition: rules.md does not list it.
    .window("stddev", of: .numbers) { events in
      var count = 0.0
      var mean = 0.0
      var squares = 0.0
      for n in events.numbers {
        count += 1
        let delta = n - mean
        mean += delta / count
        squares += delta * (n - mean)
      }
      return count == 0 ? .null : .number((squares / count).squareRoot())
    },
    .window("count", of: .anyType, withoutHistory: .number(0)) { events in .number(Double(events.count)) },
    .window("changed", of: .anyType, result: .bool, withoutHistory: .bool(false)) { events in
      .bool(events.anyChanged)
    },
    FunctionDefinition("age", [.signal(.anyType)], usage: "takes one signal") { call in
      let slot = call.signal(0).slot
      call.dependencies.ages.insert(slot)
      return CompiledExpr(
        type: .duration,
        eval: { state in
          let last = state.lastEventTime[slot]
          return last == Int64.min ? .null : .number(Double(state.now - last) / 1e6)
        })
    },
    FunctionDefinition("known", [.signal(.anyType)], usage: "takes one signal") { call in
      let slot = call.signal(0).slot
      return CompiledExpr(type: .bool, eval: { state in .bool(!state.values[slot].isNull) })
    },
    .number("abs") { Swift.abs($0) },
    .number("round") { $0.rounded(.toNearestOrAwayFromZero) },
    .number("floor") { $0.rounded(.down) },
    .number("ceil") { $0.rounded(.up) },
    .pair("min") { Swift.min($0, $1) },
    .pair("max") { Swift.max($0, $1) },
  ]

  static let names: [NameDefinition] = [
    NameDefinition(
      "time", .fixed(.timeOfDay), recordDependencies: { $0.readsLocalTime = true },
      evaluate: { state in .number(Double(state.localTime.secondOfDay)) }),
    NameDefinition(
      "weekday", .fixed(.string), recordDependencies: { $0.readsLocalTime = true },
      evaluate: { state in .string(weekdays[state.localTime.weekday]) }),
    NameDefinition("now", .fixed(.timestamp)) { state in .number(Double(state.now) / 1e6) },
    NameDefinition("device", .fixed(.string)) { state in .string(state.device) },
    NameDefinition("prefix", .fixed(.string)) { state in .string(state.prefix) },
    NameDefinition("rule", .fixed(.string)) { state in .string(state.ruleName) },
    NameDefinition("uptime", .fixed(.number)) { state in .number(Double((state.now - state.startTime) / 1_000_000)) },
    NameDefinition("value", .triggerSignal, availability: .onRules) { state in state.boundValue },
    NameDefinition("previous", .triggerSignal, availability: .onRules) { state in state.boundPrevious },
    NameDefinition("signal", .fixed(.string), availability: .onRules) { state in state.boundSignal },
  ]

  /// `weekday`'s values, Monday first.
  static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

  /// The definitions of each function name, in registration order.
  static let functionsByName: [String: [FunctionDefinition]] = Dictionary(grouping: functions, by: \.name)

  /// The function names, each once, for `did you mean`.
  static let functionNames: [String] = {
    var seen: Set<String> = []
    return functions.map(\.name).filter { seen.insert($0).inserted }
  }()

  static let namesByName: [String: NameDefinition] = Dictionary(
    names.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
}
