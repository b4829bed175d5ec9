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

  @Test func encodesEscapesControlCharactersAndNonASCIIAsJSONRequires() throws {
    let text = "quote \" backslash \\ newline \n tab \t return \r bell \u{07} unit \u{1F} é 😀 end"
    let encoded = JSON.encode(.string(text))
    #expect(
      encoded
        == #""quote \" backslash \\ newline \n tab \t return \r bell \u0007 unit \u001f é 😀 end""#)
    #expect(try JSON.parse(encoded) == .string(text))
    // A device name with a quote stays valid JSON inside the event id.
    let event = Event(seq: 7, time: Timestamp(microseconds: 0), signal: "a\"b", value: "x", source: .mqtt)
    let parsed = try JSON.parse(event.json(device: "odd\"pi"))
    #expect(parsed["id"] == "odd\"pi:7")
    #expect(parsed["signal"] == "a\"b")
  }

  @Test(arguments: [
    (0.0, "0"), (-0.0, "0"), (7, "7"), (-42, "-42"), (1e14, "100000000000000"), (2.5, "2.5"), (-0.125, "-0.125"),
    (1e15, "1000000000000000.0"), (Double.nan, "null"), (Double.infinity, "null"),
    (Double(Int64.max), "9.223372036854776e+18"),
  ])
  func encodesNumbersTheWayValuePrintsThem(number: Double, expected: String) {
    #expect(JSON.encode(.number(number)) == expected)
    #expect(JSON.encode(.number(number)) == Value.format(number: number) || number.isNaN || number.isInfinite)
    var bytes: [UInt8] = []
    Value.number(number).writePlainText(to: &bytes)
    #expect(String(decoding: bytes, as: UTF8.self) == Value.number(number).plainText)
  }

  @Test func largeSeqsAndCausesEncodeInFull() throws {
    let event = Event(
      seq: UInt64.max, time: Timestamp(microseconds: 1), kind: .fired,
      value: .object(["b": 1, "a": .array([2, "3"])]),
      source: .rule, cause: 10_000_000_000, rule: "r", late: true)
    let text = event.json(device: "d")
    #expect(text.hasPrefix(#"{"seq":18446744073709551615,"id":"d:18446744073709551615","#))
    #expect(text.contains(#""value":{"a":[2,"3"],"b":1}"#))
    #expect(text.hasSuffix(#""cause":10000000000,"rule":"r","late":true}"#))
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

/// `TopicName`: the one rule book for topics the engine and the MQTT funnel publish to.
@Suite struct TopicNameTests {
  @Test func validTopicsPassAndEachInvalidOneSaysWhy() {
    #expect(TopicName.problem("ganglion/hallway-pi/set/hallway.light") == nil)
    #expect(TopicName.problem("alerts/température/😀") == nil)
    #expect(TopicName.problem(String(repeating: "x", count: 65_535)) == nil)
    #expect(TopicName.problem("") == "the topic is empty")
    #expect(TopicName.problem("a/b\u{0}/c")?.contains("NUL byte (at byte 3)") == true)
    #expect(TopicName.problem("a/+/c")?.contains("wildcard '+'") == true)
    #expect(TopicName.problem("a/#")?.contains("wildcard '#'") == true)
    #expect(TopicName.problem("a\u{1}")?.contains("control character U+0001") == true)
    #expect(TopicName.problem("a\u{85}")?.contains("control character U+0085") == true)
    #expect(TopicName.problem("a\u{FFFF}")?.contains("non-character U+FFFF") == true)
    #expect(TopicName.problem(String(repeating: "x", count: 65_536))?.contains("65536 bytes") == true)
    #expect(TopicName.problem(utf8: [0x61, 0xFF]) == "the topic is not UTF-8 text")
    #expect(TopicName.display("a\u{0}b") == #"a\u0000b"#)
  }
}

@Suite struct SHA256Tests {
  @Test func knownDigests() {
    #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(
      SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    #expect(
      SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  }
}
