import GanglionCore

/// The daemon's own command topics (`<prefix>/set/<signal>`, when `mqtt.commands` is on): a
/// rule that publishes there feeds the daemon's inputs through the broker, so `check` warns.
public struct OwnCommandTopics: Sendable {
  public var device: String
  public var prefix: String

  public init(device: String, prefix: String) {
    self.device = device
    self.prefix = prefix
  }

  /// `<prefix>/set/`
  public var setPrefix: String { prefix + "/set/" }

  /// Whether a publish `topic` as written (a template) surely goes to one of them: its text
  /// up to the first `${...}` other than `${prefix}` and `${device}` starts with `setPrefix`.
  public func isCommandTopic(_ topic: String) -> Bool {
    var known = topic.replacingAll("${prefix}", with: prefix).replacingAll("${device}", with: device)
    if let template = known.firstRange(of: "${") { known = String(known[..<template.lowerBound]) }
    return known.hasPrefix(setPrefix)
  }
}

extension String {
  fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
    split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
  }
}

/// One rule file's text, as read by the daemon.
public struct RuleSource: Sendable {
  /// The file name as the user should see it in errors (relative paths stay relative).
  public var file: String
  public var text: String

  public init(file: String, text: String) {
    self.file = file
    self.text = text
  }
}

/// How a rule is triggered.
enum Trigger: Sendable {
  /// Fires on the rising edge of a bool expression, optionally once it has held for `hold` µs.
  case when(CompiledExpr, hold: Int64?, dependencies: Dependencies)
  /// Fires on every event of these slots.
  case on([Int])
  /// Fires every `interval` µs.
  case every(Int64)
  /// Fires daily at these local times (seconds since midnight).
  case at([Int])
}

/// One compiled rule. Immutable; a class so that the engine's hot path shares it without
/// copying its fields.
final class Rule: Sendable {
  let name: String
  let location: SourceLocation
  let trigger: Trigger
  let conditions: [CompiledExpr]
  let actions: [any RuleAction]
  let enabled: Bool
  /// A hash of the rule's text (its YAML content, not its layout): timers of a rule whose hash
  /// did not change survive a reload.
  let textHash: UInt64
  /// The rule's `after` actions (nested ones included), by id.
  let afters: [AfterAction]
  /// Windows read by the `if` conditions and the actions (they need history too).
  let windowsOutsideTrigger: Set<WindowUse>
  let summary: RuleSummary
  /// The `when` expression as written.
  let whenText: String?
  /// The type of `value` and `previous` in an `on` rule; nil for other triggers.
  let bindingType: ExprType?

  // Unpacked from `trigger` for the engine's hot path.
  /// The `when` expression.
  let whenEval: Eval?
  /// The `for` of a `when` rule (µs).
  let hold: Int64?
  /// A `when` rule whose value moves with time (windows, `age`, `time`).
  let dependsOnTime: Bool
  let isOn: Bool

  init(
    name: String, location: SourceLocation, trigger: Trigger, conditions: [CompiledExpr], actions: [any RuleAction],
    enabled: Bool, textHash: UInt64, afters: [AfterAction], windowsOutsideTrigger: Set<WindowUse>,
    summary: RuleSummary, whenText: String?, bindingType: ExprType?
  ) {
    self.summary = summary
    self.whenText = whenText
    self.bindingType = bindingType
    self.name = name
    self.location = location
    self.trigger = trigger
    self.conditions = conditions
    self.actions = actions
    self.enabled = enabled
    self.textHash = textHash
    self.afters = afters
    self.windowsOutsideTrigger = windowsOutsideTrigger
    switch trigger {
    case .when(let expr, let hold, let dependencies):
      whenEval = expr.eval
      self.hold = hold
      dependsOnTime = dependencies.dependsOnTime
      isOn = false
    case .on:
      whenEval = nil
      hold = nil
      dependsOnTime = false
      isOn = true
    case .every, .at:
      whenEval = nil
      hold = nil
      dependsOnTime = false
      isOn = false
    }
  }
}

/// Compiled, checked rules, ready for an `Engine`. Immutable; share freely.
public struct RuleSet: Sendable {
  let rules: [Rule]
  /// The signals the rules were checked against.
  let catalog: SignalCatalog
  /// Slot numbers that compiled expressions use: one per declared signal, in catalog order.
  let slotNames: [String]
  let slots: [String: Int]
  /// For each slot, the enabled `when`/`on` rules it triggers, in rule order.
  let triggeredBySlot: [[Int]]
  /// For each slot, the longest window any rule reads over it (µs); 0 for none.
  let retention: [Int64]

  init(rules: [Rule], catalog: SignalCatalog) {
    self.rules = rules
    self.catalog = catalog
    slotNames = catalog.names
    var slots: [String: Int] = [:]
    for (i, name) in catalog.names.enumerated() { slots[name] = i }
    self.slots = slots
    var triggered = Array(repeating: [Int](), count: slotNames.count)
    var retention = Array(repeating: Int64(0), count: slotNames.count)
    for (index, rule) in rules.enumerated() {
      switch rule.trigger {
      case .when(_, _, let dependencies):
        for window in dependencies.windows {
          retention[window.slot] = max(retention[window.slot], window.microseconds)
        }
        guard rule.enabled else { continue }
        for slot in dependencies.reads.sorted() { triggered[slot].append(index) }
      case .on(let onSlots):
        guard rule.enabled else { continue }
        for slot in Set(onSlots).sorted() { triggered[slot].append(index) }
      case .every, .at:
        break
      }
    }
    // Windows read in `if` conditions and actions need history too.
    for rule in rules {
      for window in rule.windowsOutsideTrigger {
        retention[window.slot] = max(retention[window.slot], window.microseconds)
      }
    }
    triggeredBySlot = triggered
    self.retention = retention
  }

  /// The names of all rules, in file order (disabled rules included).
  public var names: [String] { rules.map(\.name) }

  /// The names of the rules that can fire.
  public var enabledNames: [String] { rules.filter(\.enabled).map(\.name) }

  /// The signals an enabled `on` rule fires on: every event of these matters (a reading may
  /// not stand in for an earlier one, as it may for the others).
  public var signalsWithEveryEventRead: Set<String> {
    var names = Set<String>()
    for rule in rules where rule.enabled {
      if case .on(let slots) = rule.trigger { for slot in slots { names.insert(slotNames[slot]) } }
    }
    return names
  }

  /// No rules, no signals.
  public static let empty = RuleSet(rules: [], catalog: SignalCatalog())

  /// The text hash of a rule, for matching persisted timers to rules after a restart.
  public func textHash(ofRule name: String) -> UInt64? { rules.first { $0.name == name }?.textHash }

  /// What each rule is, for `status`, `explain` and `check` output, in file order.
  public var summaries: [RuleSummary] { rules.map(\.summary) }

  public func summary(ofRule name: String) -> RuleSummary? { rules.first { $0.name == name }?.summary }
}

/// A rule as written, for people: `ganglion status`, `explain`, `check`.
public struct RuleSummary: Sendable, Hashable {
  public var name: String
  /// Where the rule starts.
  public var location: SourceLocation
  public var enabled: Bool
  /// The trigger as written: `when: hallway.motion`, `when: not hallway.motion, for: 2m`,
  /// `on: doorbell.press`, `every: 1m`, `at: 07:30, 19:00`.
  public var trigger: String
  /// The `if` conditions as written.
  public var conditions: [String]
  /// The signals the trigger and the conditions read, sorted.
  public var reads: [String]
  /// The signals the actions set (`after` included), sorted.
  public var sets: [String]
  /// Changes when the rule's text changes (not its layout or comments).
  public var textHash: UInt64
}
