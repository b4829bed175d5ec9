import GanglionCore
import Testing

@Suite struct SpellingTests {
  @Test func aNearNameIsSuggested() {
    #expect(Spelling.nearest(to: "hallway.motoin", in: ["hallway.motion", "hallway.light"]) == "hallway.motion")
    #expect(Spelling.nearest(to: "kitchen", in: ["hallway.motion", "hallway.light"]) == nil)
  }

  /// Regression: every candidate was compared in full, quadratic in the word's length, so a
  /// megabyte-long name took a minute. A candidate whose length differs by more than the
  /// typo limit is skipped.
  @Test func aMegabyteLongWordHasNoSuggestionAndReturns() {
    let word = String(repeating: "x", count: 1 << 20)
    #expect(Spelling.nearest(to: word, in: ["hallway.motion", String(repeating: "x", count: 100)]) == nil)
  }
}
