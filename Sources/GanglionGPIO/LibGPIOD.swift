import CGPIOD
import GanglionSystem
import Glibc

// The one file that calls gpiod_* (libgpiod 1.6, the v1 API). Every call checks its result
// and reads errno right away; the rest of the module sees Swift types and `SystemError`.
//
// Thread safety: libgpiod v1 objects are not thread safe. `HardwareGPIO` serializes chip
// opening, line requests, releases and output writes behind its lock; its event thread only
// reads events of requested input lines (a `read` on the line's own descriptor), which does
// not touch shared libgpiod state, and lines are released only after that thread ended.

/// An open chip. `@unchecked Sendable`: a handle that `HardwareGPIO` hands between threads
/// under the rules above.
struct GPIODChip: @unchecked Sendable {
  fileprivate let pointer: OpaquePointer
}

/// A line of an open chip (owned by the chip: valid until the chip is closed).
struct GPIODLine: @unchecked Sendable {
  fileprivate let pointer: OpaquePointer
}

/// What a line is requested for.
enum GPIODRequest {
  /// Input with edge events on both edges.
  case edges(bias: GPIOBiasSetting, activeLow: Bool)
  /// Output, driven to `initial` (logical) at once.
  case output(activeLow: Bool, initial: Bool)
}

enum LibGPIOD {
  /// Opens a chip by path (`/dev/gpiochip0`), number (`0`), name (`gpiochip0`) or label
  /// (`pinctrl-bcm2711`), in that order of guessing: a name that is no device is tried as a
  /// label. Throws ENOENT when nothing matches.
  /// The corresponding C functions are `gpiod_chip_open`, `gpiod_chip_open_by_number`,
  /// `gpiod_chip_open_by_name` and `gpiod_chip_open_by_label`.
  static func openChip(_ description: String) throws(SystemError) -> GPIODChip {
    // An empty name would become the path "/dev/" (EISDIR): say "no such chip" instead.
    guard !description.isEmpty else { throw SystemError(code: ENOENT) }
    if description.hasPrefix("/") {
      guard let chip = gpiod_chip_open(description) else { throw SystemError.current() }
      return GPIODChip(pointer: chip)
    }
    if let number = UInt32(description) {
      guard let chip = gpiod_chip_open_by_number(number) else { throw SystemError.current() }
      return GPIODChip(pointer: chip)
    }
    if let chip = gpiod_chip_open_by_name(description) { return GPIODChip(pointer: chip) }
    let byName = SystemError.current()
    guard byName.code == ENOENT else { throw byName }
    guard let chip = gpiod_chip_open_by_label(description) else { throw SystemError.current() }
    return GPIODChip(pointer: chip)
  }

  /// The corresponding C function is `gpiod_chip_close`.
  static func close(_ chip: GPIODChip) { gpiod_chip_close(chip.pointer) }

  /// The kernel's name of the chip (`gpiochip0`). The corresponding C function is
  /// `gpiod_chip_name`.
  static func name(of chip: GPIODChip) -> String { gpiod_chip_name(chip.pointer).map { String(cString: $0) } ?? "?" }

  /// The corresponding C function is `gpiod_chip_num_lines`.
  static func lineCount(of chip: GPIODChip) -> Int { Int(gpiod_chip_num_lines(chip.pointer)) }

  /// The line at `offset`; the caller checks the offset against `lineCount` first for a
  /// clear message. The corresponding C function is `gpiod_chip_get_line`.
  static func line(of chip: GPIODChip, offset: Int) throws(SystemError) -> GPIODLine {
    guard let offset = UInt32(exactly: offset) else { throw SystemError(code: EINVAL) }
    guard let line = gpiod_chip_get_line(chip.pointer, offset) else { throw SystemError.current() }
    return GPIODLine(pointer: line)
  }

  /// The first line named `name` on the chip; ENOENT when there is none.
  /// The corresponding C function is `gpiod_chip_find_line`.
  static func line(of chip: GPIODChip, named name: String) throws(SystemError) -> GPIODLine {
    guard let line = gpiod_chip_find_line(chip.pointer, name) else { throw SystemError.current() }
    return GPIODLine(pointer: line)
  }

  /// The corresponding C function is `gpiod_line_offset`.
  static func offset(of line: GPIODLine) -> Int { Int(gpiod_line_offset(line.pointer)) }

  /// Who holds the line, after re-reading its info from the kernel (for "busy" messages);
  /// nil if unknown. The corresponding C functions are `gpiod_line_update` and
  /// `gpiod_line_consumer`.
  static func consumer(of line: GPIODLine) -> String? {
    guard gpiod_line_update(line.pointer) == 0, let consumer = gpiod_line_consumer(line.pointer) else { return nil }
    return String(cString: consumer)
  }

  /// Requests the line for this process under the name `consumer`.
  /// The corresponding C function is `gpiod_line_request`.
  static func request(_ line: GPIODLine, as request: GPIODRequest, consumer: String) throws(SystemError) {
    var type: Int
    var flags = 0
    var initialValue: Int32 = 0
    switch request {
    case .edges(let bias, let activeLow):
      type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES
      switch bias {
      case .asIs: break
      case .pullUp: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP
      case .pullDown: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN
      case .disable: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE
      }
      if activeLow { flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW }
    case .output(let activeLow, let initial):
      type = GPIOD_LINE_REQUEST_DIRECTION_OUTPUT
      if activeLow { flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW }
      initialValue = initial ? 1 : 0
    }
    let result = consumer.withCString { name in
      var config = gpiod_line_request_config(consumer: name, request_type: Int32(type), flags: Int32(flags))
      return gpiod_line_request(line.pointer, &config, initialValue)
    }
    guard result == 0 else { throw SystemError.current() }
  }

  /// The corresponding C function is `gpiod_line_release`.
  static func release(_ line: GPIODLine) { gpiod_line_release(line.pointer) }

  /// The logical value of a requested line. The corresponding C function is
  /// `gpiod_line_get_value`.
  static func value(of line: GPIODLine) throws(SystemError) -> Bool {
    let value = gpiod_line_get_value(line.pointer)
    guard value >= 0 else { throw SystemError.current() }
    return value == 1
  }

  /// Drives a requested output line (logical value). The corresponding C function is
  /// `gpiod_line_set_value`.
  static func setValue(of line: GPIODLine, to value: Bool) throws(SystemError) {
    guard gpiod_line_set_value(line.pointer, value ? 1 : 0) == 0 else { throw SystemError.current() }
  }
}

/// A requested edge line as the edge thread reads it: its event descriptor and a buffer for
/// `capacity` events, allocated once. `@unchecked Sendable`: after `HardwareGPIO.start` hands
/// it to the edge thread, only that thread uses it.
final class GPIODEdgeSource: EdgeSource, @unchecked Sendable {
  /// The kernel's v1 event queue holds 16 events per line: read as many at once.
  static let defaultCapacity = 16

  let descriptor: Int32
  let capacity: Int
  private let line: GPIODLine
  private let events: UnsafeMutablePointer<gpiod_line_event>

  /// The corresponding C function is `gpiod_line_event_get_fd`.
  init(line: GPIODLine, capacity: Int = GPIODEdgeSource.defaultCapacity) throws(SystemError) {
    precondition(capacity > 0)
    let fd = gpiod_line_event_get_fd(line.pointer)
    guard fd >= 0 else { throw SystemError.current() }
    self.line = line
    self.descriptor = fd
    self.capacity = capacity
    events = .allocate(capacity: capacity)
    events.initialize(repeating: gpiod_line_event(), count: capacity)
  }

  deinit { events.deallocate() }

  /// The corresponding C function is `gpiod_line_event_read_multiple`.
  func readEdges(_ body: (_ rising: Bool, _ kernelMicroseconds: Int64) -> Void) throws(SystemError) -> Int {
    let count = gpiod_line_event_read_multiple(line.pointer, events, UInt32(capacity))
    guard count >= 0 else { throw SystemError.current() }
    for index in 0..<Int(count) {
      let event = events[index]
      let micros = Int64(event.ts.tv_sec) * 1_000_000 + Int64(event.ts.tv_nsec) / 1000
      body(Int(event.event_type) == GPIOD_LINE_EVENT_RISING_EDGE, micros)
    }
    return Int(count)
  }

  /// The corresponding C function is `gpiod_line_get_value`.
  func currentValue() throws(SystemError) -> Bool { try LibGPIOD.value(of: line) }
}
