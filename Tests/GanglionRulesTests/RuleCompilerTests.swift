import GanglionCore
import Testing

@testable import GanglionRules

@Suite struct RuleCompilerTests {
  @Test func theSpecExampleCompiles() throws {
    let rules = try compileRules(
      """
      rules:
        - name: hallway-light-on
          when: hallway.motion                  # fires when the expression becomes true
          if: hallway.lux < 40 or time in 18:00..07:00
          do:
            - set: { hallway.light: on }
            - publish: { topic: home/hallway/light, payload: "on" }

        - name: hallway-light-off
          when: not hallway.motion
          for: 2m
          do:
            - set: { hallway.light: off }

        - name: too-hot
          when: avg(living.temperature, 5m) > 28
          do:
            - publish:
                topic: alerts/${device}/heat
                payload: { temperature: "${living.temperature}", rule: "${rule}" }
                qos: 1

        - name: doorbell
          on: doorbell.press
          if: value == "single"
          do:
            - set: { porch.light: on }
            - after: 30s
              do:
                - set: { porch.light: off }

        - name: heartbeat
          every: 1m
          do:
            - publish: { topic: "${prefix}/heartbeat", payload: "${uptime}" }
      """)
    #expect(rules.names == ["hallway-light-on", "hallway-light-off", "too-hot", "doorbell", "heartbeat"])
  }

  @Test func unknownSignalWithSuggestionAtItsColumn() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.lux < 40 and hallway.motoin
            do:
              - set: { hallway.ligth: on }
        """) == [
          "rules.yaml:3:32: error: unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?",
          "rules.yaml:5:16: error: unknown signal 'hallway.ligth'; did you mean 'hallway.light'?",
        ])
  }

  @Test func quotedExpressionsCountTheQuote() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: "hallway.motion and hallway.lux"
            do: [{ log: hi }]
        """) == ["rules.yaml:3:31: error: 'and' needs bools on both sides; this is a number"])
  }

  @Test func locationsInsideMultiLineAndEscapedScalars() {
    #expect(
      errors(
        """
        rules:
          - name: plain
            when: hallway.motion
              and hallway.lux < 40

                and hallway.motoin
            do: [{ log: hi }]
          - name: quoted
            when: "house.mode == \\"a\\" and hallway.motoin"
            do: [{ log: hi }]
          - name: single
            when: 'house.mode == ''a'' and hallway.motoin'
            do: [{ log: hi }]
          - name: block
            when: |
              hallway.motion and
                hallway.motoin
            do: [{ log: "lux ${hallway.lux} and ${hallway.motoin}" }]
        """) == [
          "rules.yaml:6:13: error: unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?",
          "rules.yaml:9:36: error: unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?",
          "rules.yaml:12:36: error: unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?",
          "rules.yaml:17:9: error: unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?",
          "rules.yaml:18:43: error: unknown signal 'hallway.motoin'; did you mean 'hallway.motion'?",
        ])
  }

  @Test func typeMismatches() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.lux
            do:
              - set: { hallway.light: 42 }
              - set: { counter: on }
        """) == [
          "rules.yaml:3:11: error: 'when' must be a bool, but this is a number",
          "rules.yaml:5:31: error: the value of 'hallway.light' must be a bool, but this is a number",
          "rules.yaml:6:25: error: the value of 'counter' must be a number, but this is a bool",
        ])
  }

  @Test func setOfAnInputIsAnError() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.motion
            do:
              - set: { hallway.lux: 3 }
        """) == [
          "rules.yaml:5:16: error: cannot set 'hallway.lux': it is an input (only outputs and virtual signals can be set)"
        ])
  }

  @Test func duplicateNamesAcrossFiles() {
    let rule = """
      rules:
        - name: same
          when: hallway.motion
          do: [{ log: hi }]
      """
    let (rules, diagnostics) = RuleCompiler.compile(
      [RuleSource(file: "a.yaml", text: rule), RuleSource(file: "b.yaml", text: rule)], signals: demoSignals)
    #expect(rules == nil)
    #expect(
      diagnostics.map(\.description) == [
        "b.yaml:2:11: error: duplicate rule name 'same' (first defined at a.yaml:2:11)"
      ])
  }

  @Test func exactlyOneTrigger() {
    #expect(
      errors(
        """
        rules:
          - name: none
            do: [{ log: hi }]
          - name: two
            when: hallway.motion
            every: 1m
            do: [{ log: hi }]
          - name: hold
            on: hallway.motion
            for: 1m
            do: [{ log: hi }]
        """) == [
          "rules.yaml:2:5: error: rule 'none' needs exactly one trigger: 'when', 'on', 'every' or 'at'",
          "rules.yaml:6:5: error: rule 'two' has 'when' and 'every'; a rule has exactly one trigger",
          "rules.yaml:10:5: error: 'for' goes with 'when' only",
        ])
  }

  @Test func unknownKeysWithSuggestions() {
    #expect(
      errors(
        """
        rules:
          - name: a
            wehn: hallway.motion
            on: hallway.motion
            do:
              - publsh: { topic: x }
              - publish: { topic: x, retian: true }
        rulez: []
        """) == [
          "rules.yaml:3:5: error: unknown key 'wehn' in a rule; did you mean 'when'?",
          "rules.yaml:6:9: error: unknown key 'publsh' in an action; did you mean 'publish'?",
          "rules.yaml:7:30: error: unknown key 'retian' in 'publish'; did you mean 'retain'?",
          "rules.yaml:8:1: error: unknown key 'rulez' in a rule file; did you mean 'rules'?",
        ])
  }

  @Test func duplicateKeysAreReportedAsInTheConfig() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.motion
            do: [{ log: one }]
            do: [{ log: two }]
          - name: b
            when: hallway.door
            do:
              - set: { hallway.light: on, porch.light: on, hallway.light: off }
              - publish: { topic: x, qos: 1, qos: 2 }
        """) == [
          "rules.yaml:5:5: error: duplicate key 'do' in a rule; the first is at line 4, column 5",
          "rules.yaml:9:52: error: duplicate key 'hallway.light' in 'set'; the first is at line 9, column 16",
          "rules.yaml:10:38: error: duplicate key 'qos' in 'publish'; the first is at line 10, column 30",
        ])
  }

  @Test func mergeKeysSharePartsOfRulesAndKeysWrittenInTheRuleWin() throws {
    let rules = try compileRules(
      """
      rules:
        - &light
          name: motion-light
          when: hallway.motion
          if: hallway.lux < 40
          do:
            - set: { hallway.light: on, porch.light: on }
        - <<: *light
          name: door-light
          when: hallway.door
        - name: door-log
          on: hallway.door
          do:
            - publish: { <<: { topic: doors, qos: 1 }, payload: { <<: { rule: "${rule}" }, open: "${value}" } }
      """)
    #expect(rules.names == ["motion-light", "door-light", "door-log"])
    let door = try #require(rules.summary(ofRule: "door-light"))
    #expect(door.trigger == "when: hallway.door")
    #expect(door.conditions == ["hallway.lux < 40"])
    #expect(door.sets == ["hallway.light", "porch.light"])
    let rig = Rig(rules)
    rig.input("hallway.lux", 10, source: .mqtt)
    rig.input("hallway.door", true)
    #expect(rig.fired == ["door-light", "door-log"])
    #expect(rig.value("porch.light") == true)
    #expect(rig.published.map(\.topic) == ["doors"])
    #expect(try JSON.parse(rig.published.first?.payload ?? "") == .object(["rule": "door-log", "open": true]))
  }

  @Test func anUnknownKeyWithoutANearNameListsTheKeys() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.motion
            colour: blue
            do: [{ log: hi, because: x }]
        """) == [
          "rules.yaml:4:5: error: unknown key 'colour' in a rule; expected one of: name, description, when, for, on, "
            + "every, at, if, do, enabled",
          "rules.yaml:5:21: error: unknown key 'because' in an action; expected one of: set, publish, log, after, do",
        ])
  }

  @Test func anActionItemHoldsOneActionAndOnlyItsCompanionKeys() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.motion
            do:
              - { set: { porch.light: on }, log: hi }
              - { log: hi, do: [] }
              - { after: 1m }
              - {}
          - name: b
            when: hallway.motion
            do: hi
        """) == [
          "rules.yaml:5:37: error: one action per list item: 'set' and 'log'; start another with '-'",
          "rules.yaml:6:20: error: 'do' inside an action goes with 'after'",
          "rules.yaml:7:11: error: 'after' needs 'do', the actions to run later, in the same item",
          "rules.yaml:8:9: error: an action is a mapping: set, publish, log or after",
          "rules.yaml:11:9: error: 'do' is a list of actions (each starting with '- set:', '- publish:', '- log:' or "
            + "'- after:')",
        ])
  }

  @Test func everyErrorAtOnceAcrossFiles() {
    let (rules, diagnostics) = RuleCompiler.compile(
      [
        RuleSource(file: "one.yaml", text: "rules:\n  - name: a\n    when: nope\n    do: [{ log: x }]\n"),
        RuleSource(file: "two.yaml", text: "rules:\n  - name: b\n    every: soon\n    do: [{ log: x }]\n"),
        RuleSource(file: "three.yaml", text: "rules: [\n"),
      ], signals: demoSignals)
    #expect(rules == nil)
    #expect(diagnostics.count == 3)
    #expect(diagnostics.map { $0.location?.file } == ["one.yaml", "three.yaml", "two.yaml"])
  }

  @Test func stringSignalsNeedQuotedText() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.motion
            do:
              - set: { house.mode: away }
        """) == [
          "rules.yaml:5:28: error: unknown signal 'away'; to set the text, quote it: \"away\""
        ])
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.motion
            do:
              - set: { house.mode: "away" }
        """
      ).isEmpty)
  }

  @Test func badValues() {
    #expect(
      errors(
        """
        rules:
          - name: Bad Name
            when: hallway.motion
            for: a while
            enabled: maybe
            do:
              - publish: { topic: x, qos: 3 }
          - name: b
            at: "7h"
            do: []
        """) == [
          "rules.yaml:2:11: error: a rule name is made of a-z, 0-9, '_' and '-'",
          "rules.yaml:4:10: error: 'for' is a duration like 250ms, 30s, 5m, 1h30m",
          "rules.yaml:5:14: error: 'enabled' is true or false",
          "rules.yaml:7:35: error: 'qos' is 0, 1 or 2",
          "rules.yaml:9:9: error: 'at' takes times of day like \"07:30\" (quoted), or a list of them",
        ])
  }

  @Test func wildcardTopicsAreErrors() {
    #expect(
      errors(
        """
        rules:
          - name: a
            when: hallway.motion
            do: [{ publish: { topic: home/+/light } }]
        """) == ["rules.yaml:4:30: error: a publish topic is not empty and has no wildcards (+ #)"])
  }

  @Test func aWhenThatCannotChangeIsAWarning() throws {
    let (rules, diagnostics) = RuleCompiler.compile(
      [RuleSource(file: "r.yaml", text: "rules:\n  - name: a\n    when: 1 < 2\n    do: [{ log: x }]\n")],
      signals: demoSignals)
    #expect(rules?.names == ["a"])
    #expect(
      diagnostics.map(\.description) == [
        "r.yaml:3:11: warning: 'when' reads no signal and no time, so it never changes and rule 'a' never fires"
      ])
  }

  @Test func ruleTextHashIgnoresLayoutButNotContent() throws {
    let a = try compileRules("rules:\n  - name: a\n    when: hallway.motion\n    do: [{ log: hi }]\n")
    let b = try compileRules("# comment\nrules:\n  - { name: a, when: hallway.motion, do: [ { log: hi } ] }\n")
    let c = try compileRules("rules:\n  - name: a\n    when: hallway.motion\n    do: [{ log: bye }]\n")
    #expect(a.textHash(ofRule: "a") == b.textHash(ofRule: "a"))
    #expect(a.textHash(ofRule: "a") != c.textHash(ofRule: "a"))
  }
}

@Suite struct RuleSummaryTests {
  @Test func summariesDescribeRulesAsWritten() throws {
    let rules = try compileRules(
      """
      rules:
        - name: off
          when: not hallway.motion
          for: 2m
          if: [hallway.lux < 40, not alarm.armed]
          do:
            - set: { hallway.light: off }
            - after: 1m
              do: [{ set: { porch.light: off } }]
        - name: bell
          on: [doorbell.press, hallway.door]
          do: [{ log: x }]
        - name: beat
          at: ["7:30", "19:00"]
          enabled: false
          do: [{ log: x }]
      """)
    let off = try #require(rules.summary(ofRule: "off"))
    #expect(off.trigger == "when: not hallway.motion, for: 2m")
    #expect(off.conditions == ["hallway.lux < 40", "not alarm.armed"])
    #expect(off.reads == ["alarm.armed", "hallway.lux", "hallway.motion"])
    #expect(off.sets == ["hallway.light", "porch.light"])
    #expect(off.location == SourceLocation(file: "rules.yaml", line: 2, column: 5))
    #expect(rules.summary(ofRule: "bell")?.trigger == "on: doorbell.press, hallway.door")
    #expect(rules.summary(ofRule: "beat")?.trigger == "at: 07:30, 19:00")
    #expect(rules.summary(ofRule: "beat")?.enabled == false)
    #expect(rules.summaries.map(\.name) == ["off", "bell", "beat"])
  }

  @Test func conditionsEvaluateAgainstASnapshotForExplain() throws {
    let rules = try compileRules(
      """
      rules:
        - name: off
          when: not hallway.motion
          if: [hallway.lux < 40, not alarm.armed]
          do: [{ set: { hallway.light: off } }]
      """)
    var snapshot = SignalSnapshot()
    snapshot.start = t0
    snapshot.values = ["hallway.motion": false, "hallway.lux": 12]
    let context = EngineContext(device: "d", startTime: t0)
    let values = try #require(rules.explainConditions(ofRule: "off", firedAt: t0, snapshot: snapshot, context: context))
    #expect(values.map(\.condition) == ["not hallway.motion", "hallway.lux < 40", "not alarm.armed"])
    // The rule fired, so its unknown `if` cannot have been unknown then: explain says it cannot
    // tell, not that it did not hold.
    #expect(values.map(\.value) == [true, true, .null])
    #expect(values[2].reason?.contains("the rule changed since it fired") == true)
    #expect(rules.explainConditions(ofRule: "nope", firedAt: t0, snapshot: snapshot, context: context) == nil)
  }

  @Test func compoundConditionsAreExplainedPartByPart() throws {
    let rules = try compileRules(
      """
      rules:
        - name: on
          when: hallway.motion
          if: (hallway.lux < 40 or not known(hallway.lux)) and not (alarm.armed and hallway.door)
          do: [{ set: { hallway.light: on } }]
      """)
    var snapshot = SignalSnapshot()
    snapshot.start = t0
    snapshot.values = ["hallway.motion": true, "hallway.lux": 12, "alarm.armed": false, "hallway.door": true]
    let values = try #require(
      rules.explainConditions(
        ofRule: "on", firedAt: t0, snapshot: snapshot, context: EngineContext(device: "d", startTime: t0)))
    #expect(
      values.map(\.description) == [
        "hallway.motion => true",
        "(hallway.lux < 40 or not known(hallway.lux)) and not (alarm.armed and hallway.door) => true",
      ])
    #expect(
      values[1].parts.map(\.description) == [
        "(hallway.lux < 40 or not known(hallway.lux)) => true", "not (alarm.armed and hallway.door) => true",
      ])
    #expect(
      values[1].parts[0].parts.map(\.description) == ["hallway.lux < 40 => true", "not known(hallway.lux) => false"])
    #expect(values[1].parts[1].parts.isEmpty, "a `not` is one operand")
  }
}

@Suite struct TemplateInExpressionTests {
  @Test func aTemplateWhereAnExpressionBelongsSaysSo() {
    let found = errors(
      """
      rules:
        - name: follow
          on: hallway.motion
          do:
            - set: { hallway.light: "${value}" }
      """)
    #expect(
      found == [
        "rules.yaml:5:32: error: '${...}' is template syntax for strings (publish, log); here write the expression itself"
      ], "\(found)")
  }
}
