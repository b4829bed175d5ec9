import GanglionCore
import Testing

@Suite struct YAMLParserTests {
  @Test func mappingKeepsLocationsOfKeysAndValues() throws {
    let text = """
      device: hallway-pi
      signals:
        hallway.motion:
          gpio: { pin: GPIO17, debounce: "50ms" }
      """
    let root = try #require(try YAMLParser.parse(text, file: "g.yaml"))
    let pairs = try #require(root.mapping)
    #expect(pairs.map { $0.key.scalar } == ["device", "signals"])
    #expect(pairs[0].value.location == SourceLocation(file: "g.yaml", line: 1, column: 9))
    let motion = try #require(pairs[1].value.mapping?.first?.value.mapping?.first?.value.mapping)
    #expect(motion[1].key.scalar == "debounce")
    #expect(motion[1].value.scalarStyle == .doubleQuoted)
    #expect(motion[1].value.location == SourceLocation(file: "g.yaml", line: 4, column: 36))
    #expect(motion[1].value.textLocation.column == 37)
  }

  @Test func syntaxErrorPointsAtTheProblem() {
    let text = "a: 1\nb: [1, 2\nc: 3\n"
    #expect {
      try YAMLParser.parse(text, file: "bad.yaml")
    } throws: { error in
      guard let error = error as? DiagnosticsError, let d = error.diagnostics.first else { return false }
      return d.location?.file == "bad.yaml" && d.location!.line >= 2 && d.description.contains("error: YAML syntax")
    }
  }

  @Test func emptyDocumentIsNil() throws {
    #expect(try YAMLParser.parse("# only a comment\n", file: "e.yaml") == nil)
  }

  @Test func aliasBombIsRejectedQuickly() {
    var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in 1..<12 {
      text +=
        "a\(i): &a\(i) [*a\(i-1), *a\(i-1), *a\(i-1), *a\(i-1), *a\(i-1), *a\(i-1), *a\(i-1), *a\(i-1), *a\(i-1), *a\(i-1)]\n"
    }
    #expect(throws: DiagnosticsError.self) { try YAMLParser.parse(text, file: "bomb.yaml") }
  }

  @Test func deepNestingIsRejected() {
    let text = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
    #expect(throws: DiagnosticsError.self) { try YAMLParser.parse(text, file: "deep.yaml") }
  }

  @Test func plainScalarsBecomeTypedValues() throws {
    let root = try #require(try YAMLParser.parse("[on, off, 42, -3.5, '42', ~, text]", file: "v.yaml"))
    #expect(root.jsonValue == .array([true, false, 42, -3.5, "42", .null, "text"]))
  }
}
