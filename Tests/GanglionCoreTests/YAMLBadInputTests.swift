import GanglionCore
import Testing

/// Large and hostile YAML: the parser returns (a tree or an error) without crashing, and
/// builds trees in time linear in their size.
@Suite struct YAMLBadInputTests {
  /// Regression: the builder copied the open list on every item, so a 500 KB file of
  /// 100,000 list items took minutes (hours for the debug build's callers). It must be
  /// instant; a regression shows as a test that does not finish.
  @Test func aListOfNearlyAHundredThousandItemsIsBuiltInOnePass() throws {
    let text = "rules:\n" + String(repeating: "  - x\n", count: 99_990)
    let root = try #require(try YAMLParser.parse(text, file: "long.yaml"))
    let items = try #require(root.mapping?.first?.value.sequence)
    #expect(items.count == 99_990)
    #expect(items.last?.location == SourceLocation(file: "long.yaml", line: 99_991, column: 5))
  }

  @Test func aMappingOfFiftyThousandKeysKeepsItsPairsInOrder() throws {
    var text = ""
    for i in 0..<49_990 { text += "k\(i): \(i)\n" }
    let pairs = try #require(try YAMLParser.parse(text, file: "wide.yaml")?.mapping)
    #expect(pairs.count == 49_990)
    #expect(pairs[12_345].key.scalar == "k12345")
    #expect(pairs[12_345].value.scalar == "12345")
  }

  @Test func oneNodeOverTheLimitIsAnError() {
    let text = "[" + Array(repeating: "x", count: YAMLParser.maximumNodes).joined(separator: ",") + "]"
    #expect {
      try YAMLParser.parse(text, file: "big.yaml")
    } throws: { error in
      (error as? DiagnosticsError)?.description.hasSuffix("error: more than 100000 nodes (after expanding aliases)")
        == true
    }
  }
}
