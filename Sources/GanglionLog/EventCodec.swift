import GanglionCore

/// The compact binary form of an `Event` inside a log record (everything but `seq`, which
/// the record header carries). Round-trips every field exactly, numbers bit for bit.
///
/// Layout, version 1 (integers little-endian, `varint` = LEB128):
/// ```
/// u8 version (1) | u8 kind | u8 source | u8 flags (1 signal, 2 cause, 4 rule, 8 late)
/// i64 time (µs) | [signal: varint length + UTF-8] | value | previous
/// [cause: varint] | [rule: varint length + UTF-8]
/// ```
/// A value is a tag byte: 0 null, 1 false, 2 true, 3 number (f64 bits), 4 string
/// (varint length + UTF-8), 5 array (varint count + values), 6 object (varint count +
/// (key string, value) pairs), 7 whole number (zig-zag varint; for integral doubles within
/// ±2^53 other than -0).
public enum EventCodec {
  public static let version: UInt8 = 1
  /// Nesting deeper than this is refused when decoding (it never comes from the encoder
  /// for values produced by the JSON parser).
  static let maximumDepth = 1000

  static let kinds: [EventKind] = [.signal, .fired, .publish, .log, .system, .deadLetter]
  static let sources: [EventSource] = [.gpio, .mqtt, .rule, .command, .simulator, .system]

  /// Appends the encoding of `event` (without its `seq`) to `out`.
  public static func encode(_ event: Event, into out: inout [UInt8]) {
    out.append(version)
    out.append(UInt8(kinds.firstIndex(of: event.kind)!))
    out.append(UInt8(sources.firstIndex(of: event.source)!))
    var flags: UInt8 = 0
    if event.signal != nil { flags |= 1 }
    if event.cause != nil { flags |= 2 }
    if event.rule != nil { flags |= 4 }
    if event.late { flags |= 8 }
    out.append(flags)
    appendFixed(UInt64(bitPattern: event.time.microseconds), into: &out)
    if let signal = event.signal { appendString(signal, into: &out) }
    encode(event.value, into: &out)
    encode(event.previous, into: &out)
    if let cause = event.cause { appendVarint(cause, into: &out) }
    if let rule = event.rule { appendString(rule, into: &out) }
  }

  /// Decodes what `encode` wrote; the event gets `seq`.
  /// - Throws: `EventCodecError` if the bytes are not a whole, valid encoding.
  public static func decode(_ bytes: UnsafeRawBufferPointer, seq: UInt64) throws(EventCodecError) -> Event {
    var reader = ByteReader(bytes: bytes)
    let header = try reader.fixedHeader()
    var event = Event(seq: seq, time: header.time, kind: header.kind, source: header.source)
    if header.flags & 1 != 0 { event.signal = try reader.string() }
    event.value = try reader.value(depth: 0)
    event.previous = try reader.value(depth: 0)
    if header.flags & 2 != 0 { event.cause = try reader.varint() }
    if header.flags & 4 != 0 { event.rule = try reader.string() }
    event.late = header.flags & 8 != 0
    guard reader.offset == bytes.count else { throw EventCodecError(reason: "trailing bytes") }
    return event
  }

  /// The time and kind only, without decoding the rest (for fast filters).
  static func peek(_ bytes: UnsafeRawBufferPointer) throws(EventCodecError) -> (time: Timestamp, kind: EventKind) {
    var reader = ByteReader(bytes: bytes)
    let header = try reader.fixedHeader()
    return (header.time, header.kind)
  }

  /// The signal name of a `signal` event, nil for other kinds or without a signal.
  static func peekSignal(_ bytes: UnsafeRawBufferPointer) throws(EventCodecError) -> String? {
    var reader = ByteReader(bytes: bytes)
    let header = try reader.fixedHeader()
    guard header.kind == .signal, header.flags & 1 != 0 else { return nil }
    return try reader.string()
  }

  public static func encode(_ value: Value, into out: inout [UInt8]) {
    switch value {
    case .null: out.append(0)
    case .bool(let b): out.append(b ? 2 : 1)
    case .number(let n):
      if n == n.rounded(.towardZero), abs(n) <= 9_007_199_254_740_992, !(n == 0 && n.sign == .minus) {
        out.append(7)
        let i = Int64(n)
        appendVarint(UInt64(bitPattern: (i << 1) ^ (i >> 63)), into: &out)
      } else {
        out.append(3)
        appendFixed(n.bitPattern, into: &out)
      }
    case .string(let s):
      out.append(4)
      appendString(s, into: &out)
    case .array(let items):
      out.append(5)
      appendVarint(UInt64(items.count), into: &out)
      for item in items { encode(item, into: &out) }
    case .object(let members):
      out.append(6)
      appendVarint(UInt64(members.count), into: &out)
      for (key, member) in members {
        appendString(key, into: &out)
        encode(member, into: &out)
      }
    }
  }

  static func appendFixed(_ v: UInt64, into out: inout [UInt8]) {
    for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
  }

  static func appendVarint(_ v: UInt64, into out: inout [UInt8]) {
    var v = v
    while v >= 0x80 {
      out.append(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    out.append(UInt8(v))
  }

  static func appendString(_ s: String, into out: inout [UInt8]) {
    var s = s
    s.withUTF8 { utf8 in
      appendVarint(UInt64(utf8.count), into: &out)
      out.append(contentsOf: utf8)
    }
  }
}

/// Bytes that are not a valid `EventCodec` encoding.
public struct EventCodecError: Error, Sendable, Equatable, CustomStringConvertible {
  public var reason: String
  public init(reason: String) { self.reason = reason }
  public var description: String { "undecodable event: \(reason)" }
}

private struct ByteReader {
  let bytes: UnsafeRawBufferPointer
  var offset = 0

  init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  mutating func byte() throws(EventCodecError) -> UInt8 {
    guard offset < bytes.count else { throw EventCodecError(reason: "truncated") }
    defer { offset += 1 }
    return bytes[offset]
  }

  mutating func fixed64() throws(EventCodecError) -> UInt64 {
    guard bytes.count - offset >= 8 else { throw EventCodecError(reason: "truncated") }
    defer { offset += 8 }
    return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }

  mutating func varint() throws(EventCodecError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let b = try byte()
      if shift == 63, b > 1 { throw EventCodecError(reason: "varint overflow") }
      result |= UInt64(b & 0x7F) << shift
      if b & 0x80 == 0 { return result }
      shift += 7
      if shift > 63 { throw EventCodecError(reason: "varint overflow") }
    }
  }

  mutating func count() throws(EventCodecError) -> Int {
    let n = try varint()
    // Every element takes at least one byte: a count past the remaining bytes is corrupt.
    guard n <= UInt64(bytes.count - offset) else { throw EventCodecError(reason: "count past end") }
    return Int(n)
  }

  mutating func string() throws(EventCodecError) -> String {
    let length = try count()
    let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length])
    offset += length
    guard let s = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
      throw EventCodecError(reason: "invalid UTF-8")
    }
    return s
  }

  mutating func fixedHeader() throws(EventCodecError) -> (
    flags: UInt8, kind: EventKind, source: EventSource, time: Timestamp
  ) {
    let version = try byte()
    guard version == EventCodec.version else { throw EventCodecError(reason: "unknown codec version \(version)") }
    let kind = Int(try byte())
    let source = Int(try byte())
    let flags = try byte()
    guard kind < EventCodec.kinds.count, source < EventCodec.sources.count, flags & 0xF0 == 0 else {
      throw EventCodecError(reason: "bad kind, source or flags")
    }
    let time = Timestamp(microseconds: Int64(bitPattern: try fixed64()))
    return (flags, EventCodec.kinds[kind], EventCodec.sources[source], time)
  }

  mutating func value(depth: Int) throws(EventCodecError) -> Value {
    guard depth < EventCodec.maximumDepth else { throw EventCodecError(reason: "nesting too deep") }
    switch try byte() {
    case 0: return .null
    case 1: return .bool(false)
    case 2: return .bool(true)
    case 3: return .number(Double(bitPattern: try fixed64()))
    case 4: return .string(try string())
    case 5:
      let n = try count()
      var items: [Value] = []
      items.reserveCapacity(n)
      for _ in 0..<n { items.append(try value(depth: depth + 1)) }
      return .array(items)
    case 6:
      let n = try count()
      var members: [String: Value] = [:]
      members.reserveCapacity(n)
      for _ in 0..<n {
        let key = try string()
        members[key] = try value(depth: depth + 1)
      }
      guard members.count == n else { throw EventCodecError(reason: "duplicate object key") }
      return .object(members)
    case 7:
      let z = try varint()
      let i = Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
      return .number(Double(i))
    case let tag:
      throw EventCodecError(reason: "unknown value tag \(tag)")
    }
  }
}
