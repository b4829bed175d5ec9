import GanglionCore
import Testing

@testable import GanglionDaemon

/// How MQTT payloads become values (config.md "Signals", events.md dead letters).
@Suite struct InboundMQTTParsingTests {
  static func parse(_ text: String, _ type: SignalType, path: String? = nil) -> Value? {
    if case .value(let value) = InboundMQTT.parse(payload: Array(text.utf8), as: type, jsonPath: path) { return value }
    return nil
  }

  @Test func numbersAndBoolsReadTheSameWholeOrUnderAJSONPath() {
    #expect(Self.parse("21.5", .number) == 21.5)
    #expect(Self.parse(" 7 ", .number) == 7)
    #expect(Self.parse("1e3", .number) == 1000)
    #expect(Self.parse(#""21.5""#, .number) == 21.5)
    #expect(Self.parse(#"{"t":"21.5"}"#, .number, path: "t") == 21.5)
    #expect(Self.parse(#""on""#, .bool) == true)
    #expect(Self.parse(#"{"b":"OFF"}"#, .bool, path: "b") == false)
    // A quoted string stays a string for string signals, quotes included.
    #expect(Self.parse(#""hi""#, .string) == .string(#""hi""#))
  }

  @Test(arguments: [
    ("twelve", SignalType.number), (#""twelve""#, .number), ("", .number), ("[1]", .number), ("yes", .bool),
    (#""2""#, .bool), ("2", .bool), ("{", .json),
  ])
  func badPayloadsAreRejected(text: String, type: SignalType) {
    #expect(Self.parse(text, type) == nil)
  }
}
