import GanglionCore

/// `publish: { topic, payload, qos, retain }`: an MQTT publish, recorded as a `publish` event
/// (`{"topic", "payload", "qos", "retain"}`), which the daemon's outbox delivers. Strings are
/// templates; a map or list payload is sent as JSON with each template rendered.
///
/// The rendered topic is checked (`TopicName`) before anything is sent: a topic that is empty,
/// too long, or holds a NUL, a wildcard or a control character is refused, and so is a payload
/// over MQTT's limit. The event then records the topic exactly as rendered with
/// `"sent": false` and `"error"` saying why, and the daemon sends nothing for it.
struct PublishAction: RuleAction {
  enum Payload: Sendable {
    case text(Template)
    case json(JSONTemplate)
  }

  static let keys = ["topic", "payload", "qos", "retain"]

  var topic: Template
  var payload: Payload
  var qos: Int
  var retain: Bool

  func run(in context: ActionContext, recording record: (inout Event) -> Void) {
    let topic = topic.render(context.state)
    let payload: String
    switch self.payload {
    case .text(let t): payload = t.render(context.state)
    case .json(let j): payload = JSON.encode(j.render(context.state))
    }
    var fields: [String: Value] = [
      "topic": .string(topic), "payload": .string(payload), "qos": .number(Double(qos)), "retain": .bool(retain),
    ]
    if let problem = TopicName.problem(topic) {
      fields["sent"] = .bool(false)
      fields["error"] = .string(problem)
    } else if payload.utf8.count > TopicName.maximumPayloadBytes {
      fields["payload"] = .string(String(payload.prefix(1024)))
      fields["sent"] = .bool(false)
      fields["error"] = .string("the payload is \(payload.utf8.count) bytes, over MQTT's limit")
    }
    context.recordEvent(.publish, value: .object(fields), through: record)
  }
}

extension ActionDefinition {
  static let publish = ActionDefinition(key: "publish") { item, compiler in
    let node = item.value
    guard node.mapping != nil else {
      compiler.error("'publish' takes { topic, payload, qos, retain }", at: node.location)
      return nil
    }
    let errorsBefore = compiler.errorCount
    guard let fields = compiler.reader.mapping(node, "'publish'", allowed: PublishAction.keys) else { return nil }
    var failed = compiler.errorCount != errorsBefore
    var topic: Template?
    var payload: PublishAction.Payload = .text(Template(parts: []))
    var qos = 0
    var retain = false
    if let value = fields["topic"] {
      if value.scalar == nil || value.isNull {
        compiler.error("'topic' is a text", at: value.location)
        failed = true
      } else if let text = value.scalar, !text.contains("${"), text.isEmpty || text.contains("+") || text.contains("#")
      {
        compiler.error("a publish topic is not empty and has no wildcards (+ #)", at: value.location)
        failed = true
      } else if let t = compiler.template(value) {
        topic = t
        if let own = compiler.ownCommands, let text = value.scalar, own.isCommandTopic(text) {
          compiler.reader.diagnostics.append(
            Diagnostic(
              .warning, at: value.textLocation,
              "this publishes to the daemon's own command topic \(own.setPrefix)...: each message comes back as a "
                + "command, and a rule that fires on what it sets loops through the broker until its firing-rate "
                + "breaker pauses it (rules.md, \"Loops are stopped\")"))
        }
      } else {
        failed = true
      }
    } else {
      compiler.error("'publish' needs a 'topic'", at: node.location)
      failed = true
    }
    if let value = fields["payload"] {
      if value.scalar != nil {
        // A scalar payload is sent as written (`on` stays "on"), with templates filled in.
        if let t = compiler.template(value) { payload = .text(t) } else { failed = true }
      } else if let t = compiler.jsonTemplate(value) {
        payload = .json(t)
      } else {
        failed = true
      }
    }
    if let value = fields["qos"] {
      if let n = value.jsonValue.numberValue, [0, 1, 2].contains(n) {
        qos = Int(n)
      } else {
        compiler.error("'qos' is 0, 1 or 2", at: value.location)
        failed = true
      }
    }
    if let value = fields["retain"] {
      if let b = value.jsonValue.boolValue {
        retain = b
      } else {
        compiler.error("'retain' is true or false", at: value.location)
        failed = true
      }
    }
    guard !failed, let topic else { return nil }
    return PublishAction(topic: topic, payload: payload, qos: qos, retain: retain)
  }
}
