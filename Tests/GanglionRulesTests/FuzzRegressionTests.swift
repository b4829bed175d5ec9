import GanglionCore
import Testing

@testable import GanglionRules

/// Inputs that once crashed, hung or took minutes (found with `make fuzz` and by hand);
/// each must now give its diagnostics through the public API.
@Suite struct FuzzRegressionTests {
  /// A 1 MB name was compared with every signal for a did-you-mean (a minute of work).
  @Test func aMegabyteLongSignalNameIsUnknownWithoutASuggestion() {
    let name = String(repeating: "x", count: 1_000_000)
    let lines = errors("rules:\n  - name: a\n    when: \"\(name)\"\n    do: []\n")
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("rules.yaml:3:12: error: unknown signal 'xxx") == true)
    #expect(lines.first?.hasSuffix("'") == true, "no suggestion")
  }

  /// A list of 100,000 items took 7 minutes to parse (the YAML builder copied the list on
  /// every item).
  @Test func aRuleFileOfNearlyAHundredThousandItemsIsCheckedAtOnce() {
    let lines = errors("rules:\n" + String(repeating: "  - x\n", count: 99_990))
    #expect(lines.count == RuleCompiler.maximumErrorsPerFile + 1)
  }
}
