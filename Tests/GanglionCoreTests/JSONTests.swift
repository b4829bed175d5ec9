import GanglionCore
import Testing

@Suite struct JSONTests {
  @Test func roundTripsNestedValues() throws {
    let text = #"{"a":[1,2.5,true,null,"x\n\"y\""],"b":{"c":-3}}"#
    let value = try JSON.parse(text)
    #expect(value.value(atPath: "a.1") == .number(2.5))
    #expect(value.value(atPath: "b.c") == .number(-3))
    #expect(JSON.encode(value) == text)
  }

  @Test(arguments: ["", "{", "[1,]", "01", "\"\\x\"", "nul", "1 2", "{\"a\" 1}"])
  func rejectsMalformedText(_ text: String) {
    #expect(throws: JSON.ParseError.self) { try JSON.parse(text) }
  }

  @Test func rejectsHostileNesting() {
    #expect(throws: JSON.ParseError.self) { try JSON.parse(String(repeating: "[", count: 10_000)) }
  }

  @Test func decodesSurrogatePairs() throws {
    #expect(try JSON.parse(#""\ud83d\ude00""#) == .string("😀"))
  }

  @Test func eventJSONRoundTrips() throws {
    let event = Event(
      seq: 1042, time: Timestamp(iso8601: "2026-11-29T18:02:03.123456Z")!, kind: .signal,
      signal: "hallway.motion", value: true, previous: false, source: .gpio)
    let text = event.json(device: "hallway-pi")
    #expect(
      text
        == #"{"seq":1042,"id":"hallway-pi:1042","time":"2026-11-29T18:02:03.123456Z","kind":"signal","signal":"hallway.motion","value":true,"previous":false,"source":"gpio","cause":null,"rule":null}"#
    )
    #expect(try Event(json: text) == event)
  }

  @Test func timestampsFormatAndParse() throws {
    let t = try #require(Timestamp(iso8601: "1969-12-31T23:59:59.5Z"))
    #expect(t.microseconds == -500_000)
    #expect(t.iso8601 == "1969-12-31T23:59:59.500000Z")
    #expect(Timestamp(iso8601: "2026-11-29T19:02:03+01:00")?.iso8601 == "2026-11-29T18:02:03.000000Z")
  }

  @Test func durationsParseTheRuleSpellings() {
    #expect(Duration.parse("250ms") == .milliseconds(250))
    #expect(Duration.parse("1h30m") == .seconds(5400))
    #expect(Duration.parse("2m")?.compactDescription == "2m")
    #expect(Duration.parse("1h30m")?.compactDescription == "1h30m")
    #expect(Duration.parse("10") == nil)
    #expect(Duration.parse("5x") == nil)
  }
}
