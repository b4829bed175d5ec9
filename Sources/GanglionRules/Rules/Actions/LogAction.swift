import GanglionCore

/// `log: TEMPLATE`: a `log` event in the event log (the daemon writes it to its log too).
struct LogAction: RuleAction {
  let text: Template

  func run(in context: ActionContext, recording record: (inout Event) -> Void) {
    context.recordEvent(.log, value: .string(text.render(context.state)), through: record)
  }
}

extension ActionDefinition {
  static let log = ActionDefinition(key: "log") { item, compiler in
    guard item.value.scalar != nil else {
      compiler.error("'log' takes a text (a template)", at: item.value.location)
      return nil
    }
    return compiler.template(item.value).map { LogAction(text: $0) }
  }
}
