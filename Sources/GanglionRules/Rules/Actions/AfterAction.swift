import GanglionCore

/// `after: DURATION` + `do: [...]`: runs the nested actions later. Running it starts the
/// countdown, or restarts it if the rule fired again first; when it runs out the engine logs
/// a `fired` event with `{"after": "30s"}` and runs `actions` (`Engine.runAfter`).
struct AfterAction: RuleAction {
  /// The countdown (µs).
  let delay: Int64
  /// Numbers the rule's `after` actions in the order written, nested ones included: the key
  /// its countdown is persisted by (`PendingTimer.Kind.after`).
  let id: Int
  let actions: [any RuleAction]

  func run(in context: ActionContext, recording record: (inout Event) -> Void) {
    context.startAfterCountdown(id: id, delay: delay)
  }
}

extension ActionDefinition {
  static let after = ActionDefinition(key: "after", companionKeys: ["do"]) { item, compiler in
    let delay = compiler.duration(item.value, what: "'after'")
    guard let nested = item.companions["do"] else {
      compiler.error("'after' needs 'do', the actions to run later, in the same item", at: item.key.location)
      return nil
    }
    let id = compiler.actions.reserveAfterID()
    guard let actions = compiler.actionList(nested.value), let delay else { return nil }
    let after = AfterAction(delay: delay, id: id, actions: actions)
    compiler.actions.complete(after)
    return after
  }
}
