import GanglionCore

/// One action of the rule language (`set`, `publish`, ...), complete: how it is written, how
/// it compiles, and (through the `RuleAction` it compiles to) how the engine runs it.
///
/// `RuleSetCompiler` knows no particular action: it finds the item's action key in
/// `ActionDefinition.all`, checks that the item's other keys are the action's
/// `companionKeys`, and hands the item to `compile`. The checker's lists of keys and its
/// messages ("an action is one of set, publish, log or after") come from the same table.
///
/// To add an action: a file in Rules/Actions/ with its `RuleAction` type (the run step) and
/// its `ActionDefinition` (key, companion keys, compile step), and an entry in `all`.
///
/// Why a protocol for the run step rather than an enum the engine switches over: each
/// action's run code sits next to its compile code, the engine keeps no list of actions in
/// step with the compiler, and `ActionContext` bounds what an action can do to the engine.
/// The price is one witness-table call per action run; measured with callgrind on the engine
/// benchmark, a firing now takes slightly fewer instructions than with the enum (the
/// compile step also chooses each `set` value's evaluation, where the enum run switched on
/// its source every time).
struct ActionDefinition: Sendable {
  /// The key that names the action in a `do` list item: `set`, `after`.
  let key: String
  /// Keys the same list item may carry besides `key` (`do` for `after`).
  let companionKeys: [String]
  /// Checks the item and builds the action; nil after reporting every problem through
  /// `compiler`. Records what the rule needs from its actions in `compiler.actions`.
  let compile: @Sendable (_ item: ActionItem, _ compiler: inout RuleSetCompiler) -> (any RuleAction)?

  init(
    key: String, companionKeys: [String] = [],
    compile: @escaping @Sendable (_ item: ActionItem, _ compiler: inout RuleSetCompiler) -> (any RuleAction)?
  ) {
    self.key = key
    self.companionKeys = companionKeys
    self.compile = compile
  }

  /// Every action, in the order messages list them.
  static let all: [ActionDefinition] = [.set, .publish, .log, .after]

  static let byKey: [String: ActionDefinition] = Dictionary(
    all.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })

  /// Every key an action list item may hold: the action keys, then their companions.
  static let itemKeys: [String] = {
    var keys = all.map(\.key)
    for definition in all { keys += definition.companionKeys.filter { !keys.contains($0) } }
    return keys
  }()

  /// `set, publish, log or after`
  static let keyList: String = {
    let keys = all.map(\.key)
    return keys.dropLast().joined(separator: ", ") + (keys.count > 1 ? " or " : "") + (keys.last ?? "")
  }()

  /// `'- set:', '- publish:', '- log:' or '- after:'`
  static let itemStartList: String = {
    let starts = all.map { "'- \($0.key):'" }
    return starts.dropLast().joined(separator: ", ") + (starts.count > 1 ? " or " : "") + (starts.last ?? "")
  }()
}

/// One `do` list item whose action key was found, as an action's compile step sees it.
struct ActionItem {
  /// The whole item, for problems with the item as a whole.
  let node: YAMLNode
  /// The action's key (`after`), for problems that belong to the action.
  let key: YAMLNode
  /// The action key's value (`30s` in `after: 30s`).
  let value: YAMLNode
  /// The item's companion keys that were given, by name (`do` of `after`).
  let companions: [String: YAMLNode.Pair]
}

/// A compiled action: what the engine runs, in order, when its rule fires. Values are
/// immutable and shared by every run.
protocol RuleAction: Sendable {
  /// Does the action's work through `context`, which is all an action may touch of the
  /// engine; `record` is the engine caller's event log, for `context.recordEvent`. Must not
  /// keep either.
  func run(in context: ActionContext, recording record: (inout Event) -> Void)
}
