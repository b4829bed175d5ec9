import GanglionCore
import GanglionLog
import Testing

@Suite struct CRC32CTests {
  /// Bit-at-a-time reference implementation, to check the sliced one against.
  func reference(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
      c ^= UInt32(b)
      for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    }
    return ~c
  }

  @Test func knownVectors() {
    // "123456789" is the standard check value; the others are RFC 3720 (iSCSI) B.4.
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    #expect(CRC32C.checksum([UInt8]()) == 0)
  }

  @Test func matchesReferenceAtEveryLengthAndAlignment() {
    var generator = SystemRandomNumberGenerator()
    let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
    for start in 0..<9 {
      for end in stride(from: start, through: data.count, by: 7) {
        let slice = Array(data[start..<end])
        let sliced = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        #expect(sliced == reference(slice), "bytes \(start)..<\(end)")
      }
    }
  }

  @Test func continuingEqualsWhole() {
    let a = Array("hello, ".utf8)
    let b = Array("world".utf8)
    #expect(CRC32C.checksum(b, continuing: CRC32C.checksum(a)) == CRC32C.checksum(a + b))
  }
}

@Suite struct EventCodecTests {
  func roundTrip(_ event: Event) throws -> Event {
    var bytes: [UInt8] = []
    EventCodec.encode(event, into: &bytes)
    return try bytes.withUnsafeBytes { try EventCodec.decode($0, seq: event.seq) }
  }

  @Test func everyFieldRoundTrips() throws {
    for i in 0..<200 {
      var event = sampleEvent(i)
      event.seq = UInt64(i) + 1
      #expect(try roundTrip(event) == event)
    }
  }

  @Test func optionalFieldsAndExtremes() throws {
    let tree: Value = .object([
      "a": .array([1, 2.5, -3, "x", nil, true, false, .object(["nested": .array([.array([]), .object([:])])])]),
      "": "empty key", "ünï": "çødé 🎉",
      "big": .number(9_007_199_254_740_994), "neg": .number(-9_007_199_254_740_992),
      "tiny": .number(.leastNonzeroMagnitude),
      "inf": .number(.infinity), "max": .number(.greatestFiniteMagnitude),
    ])
    let events = [
      Event(seq: 1, time: Timestamp(microseconds: .min), source: .gpio),
      Event(seq: .max, time: Timestamp(microseconds: .max), kind: .deadLetter, source: .system),
      Event(
        seq: 7, time: Timestamp(microseconds: -1), kind: .fired, signal: "a.b", value: tree, previous: tree,
        source: .rule, cause: 0, rule: "", late: true),
      Event(
        seq: 8, time: Timestamp(microseconds: 0), signal: "", value: "", previous: .number(0), source: .mqtt,
        cause: .max, rule: "r"),
    ]
    for event in events { #expect(try roundTrip(event) == event) }
  }

  /// A tripwire: a field added to `Event` must be added to `EventCodec` (and its version).
  @Test func codecCoversEveryEventField() {
    let fields = Mirror(reflecting: sampleEvent(1)).children.compactMap(\.label)
    #expect(
      fields == ["seq", "time", "kind", "signal", "value", "previous", "source", "cause", "rule", "late"],
      "Event changed: update EventCodec.encode/decode and bump EventCodec.version")
  }

  @Test func numbersKeepTheirBits() throws {
    for n in [0.0, -0.0, .nan, -.nan, .signalingNaN, 1e300, -1.5, 4_503_599_627_370_496.5, 1.0 / 3.0] {
      let decoded = try roundTrip(Event(seq: 1, time: Timestamp(microseconds: 0), value: .number(n), source: .gpio))
      #expect(decoded.value.numberValue?.bitPattern == n.bitPattern, "\(n)")
    }
  }

  @Test func rejectsTruncatedAndTrailingBytes() {
    var bytes: [UInt8] = []
    EventCodec.encode(sampleEvent(7), into: &bytes)
    for cut in 0..<bytes.count {
      #expect(throws: EventCodecError.self) {
        try Array(bytes[0..<cut]).withUnsafeBytes { try EventCodec.decode($0, seq: 1) }
      }
    }
    #expect(throws: EventCodecError.self) { try (bytes + [0]).withUnsafeBytes { try EventCodec.decode($0, seq: 1) } }
  }
}
