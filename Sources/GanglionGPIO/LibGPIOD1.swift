#if !GPIOD_V2
  import CGPIOD
  import GanglionCore
  import GanglionSystem
  import Glibc

  // The one file that calls gpiod_* when the installed libgpiod is 1.x (the v1 API: Debian 12,
  // Raspberry Pi OS bookworm). Every call checks its result and reads errno right away; the
  // rest of the module sees Swift types and `SystemError` (through `GPIOLibrary`).

  typealias LibGPIOD = LibGPIOD1

  /// libgpiod 1.6. Edges: the kernel queues 16 per line and cannot debounce or number them,
  /// so the edge thread debounces, and a read that finds the queue full is reported as a
  /// possible loss (its count unknown).
  enum LibGPIOD1: GPIOLibrary {
    /// An open chip. `@unchecked Sendable`: a handle that `HardwareGPIO` hands between threads
    /// under the rules of `GPIOLibrary`.
    struct Chip: @unchecked Sendable {
      fileprivate let pointer: OpaquePointer
    }

    /// The corresponding C function is `gpiod_version_string`.
    static var version: String { gpiod_version_string().map { String(cString: $0) } ?? "1.x" }

    static let capabilities = GPIOLibraryCapabilities(
      kernelDebounce: false, edgeSequenceNumbers: false, kernelQueuePerLine: 16)

    /// The corresponding C function is `gpiod_chip_open`.
    static func openChip(path: String) throws(SystemError) -> Chip {
      guard let chip = gpiod_chip_open(path) else { throw SystemError.current("open", path) }
      return Chip(pointer: chip)
    }

    /// The corresponding C function is `gpiod_chip_close`.
    static func close(_ chip: Chip) { gpiod_chip_close(chip.pointer) }

    /// The corresponding C functions are `gpiod_chip_name`, `gpiod_chip_label` and
    /// `gpiod_chip_num_lines`.
    static func info(of chip: Chip) -> GPIOChipInfo {
      let name = gpiod_chip_name(chip.pointer).map { String(cString: $0) } ?? "?"
      return GPIOChipInfo(
        name: name, label: gpiod_chip_label(chip.pointer).map { String(cString: $0) } ?? "", path: "/dev/\(name)",
        lineCount: Int(gpiod_chip_num_lines(chip.pointer)))
    }

    /// The line at `offset` (owned by the chip: valid until the chip is closed).
    /// The corresponding C function is `gpiod_chip_get_line`.
    private static func line(of chip: Chip, offset: Int) throws(SystemError) -> OpaquePointer {
      guard let index = UInt32(exactly: offset) else {
        throw SystemError(code: EINVAL, operation: "get line \(offset)")
      }
      guard let line = gpiod_chip_get_line(chip.pointer, index) else { throw SystemError.current("get line \(offset)") }
      return line
    }

    /// The corresponding C functions are `gpiod_line_update`, `gpiod_line_name`,
    /// `gpiod_line_direction`, `gpiod_line_active_state`, `gpiod_line_is_used` and
    /// `gpiod_line_consumer`.
    static func lineInfo(of chip: Chip, offset: Int) throws(SystemError) -> GPIOLineInfo {
      let line = try line(of: chip, offset: offset)
      guard gpiod_line_update(line) == 0 else { throw SystemError.current("read the state of line \(offset)") }
      return GPIOLineInfo(
        offset: offset, name: gpiod_line_name(line).map { String(cString: $0) },
        direction: Int(gpiod_line_direction(line)) == GPIOD_LINE_DIRECTION_OUTPUT ? .output : .input,
        activeLow: Int(gpiod_line_active_state(line)) == GPIOD_LINE_ACTIVE_STATE_LOW,
        isUsed: gpiod_line_is_used(line), consumer: gpiod_line_consumer(line).map { String(cString: $0) })
    }

    /// The corresponding C function is `gpiod_chip_find_line`.
    static func offset(of chip: Chip, lineNamed name: String) throws(SystemError) -> Int {
      guard let line = gpiod_chip_find_line(chip.pointer, name) else {
        throw SystemError.current("find a line named '\(name)'")
      }
      return Int(gpiod_line_offset(line))
    }

    /// The corresponding C function is `gpiod_line_request`.
    static func request(_ chip: Chip, offset: Int, as settings: GPIOLineSettings, consumer: String)
      throws(SystemError) -> Request
    {
      let line = try line(of: chip, offset: offset)
      var type: Int
      var flags = 0
      var initialValue: Int32 = 0
      switch settings {
      case .input(let bias, let activeLow, _):
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
        return gpiod_line_request(line, &config, initialValue)
      }
      guard result == 0 else { throw SystemError.current("request line \(offset)") }
      return Request(line: line)
    }

    /// A requested line. `@unchecked Sendable`: `HardwareGPIO` uses it under its lock; the edge
    /// thread reads only its event descriptor.
    final class Request: GPIOLineRequest, @unchecked Sendable {
      fileprivate let line: OpaquePointer
      private var released = false

      fileprivate init(line: OpaquePointer) { self.line = line }

      /// The corresponding C function is `gpiod_line_get_value`.
      func value() throws(SystemError) -> Bool {
        let value = gpiod_line_get_value(line)
        guard value >= 0 else { throw SystemError.current("read the line") }
        return value == 1
      }

      /// The corresponding C function is `gpiod_line_set_value`.
      func setValue(_ value: Bool) throws(SystemError) {
        guard gpiod_line_set_value(line, value ? 1 : 0) == 0 else { throw SystemError.current("drive the line") }
      }

      func edgeSource() throws(SystemError) -> any EdgeSource { try EdgeReader(request: self) }

      /// The corresponding C function is `gpiod_line_release`.
      func release() {
        guard !released else { return }
        released = true
        gpiod_line_release(line)
      }
    }

    /// A requested edge line as the edge thread reads it: its event descriptor and a buffer for
    /// `capacity` events, allocated once. `@unchecked Sendable`: after `HardwareGPIO.start`
    /// hands it to the edge thread, only that thread uses it.
    final class EdgeReader: EdgeSource, @unchecked Sendable {
      let descriptor: Int32
      /// The kernel's v1 queue holds 16 events per line: read as many at once.
      let capacity = 16
      private let request: Request
      private let events: UnsafeMutablePointer<gpiod_line_event>

      /// The corresponding C function is `gpiod_line_event_get_fd`.
      init(request: Request) throws(SystemError) {
        let fd = gpiod_line_event_get_fd(request.line)
        guard fd >= 0 else { throw SystemError.current("get the line's event descriptor") }
        self.request = request
        descriptor = fd
        events = .allocate(capacity: capacity)
        events.initialize(repeating: gpiod_line_event(), count: capacity)
      }

      deinit { events.deallocate() }

      /// v1 events carry no sequence number. The corresponding C function is
      /// `gpiod_line_event_read_multiple`.
      func readEdges(_ body: (_ edge: KernelEdge) -> Void) throws(SystemError) -> Int {
        let count = gpiod_line_event_read_multiple(request.line, events, UInt32(capacity))
        guard count >= 0 else { throw SystemError.current("read edge events") }
        for index in 0..<Int(count) {
          let event = events[index]
          body(
            KernelEdge(
              rising: Int(event.event_type) == GPIOD_LINE_EVENT_RISING_EDGE,
              kernelMicroseconds: Int64(event.ts.tv_sec) * 1_000_000 + Int64(event.ts.tv_nsec) / 1000,
              sequence: nil))
        }
        return Int(count)
      }

      func currentValue() throws(SystemError) -> Bool { try request.value() }
    }
  }
#endif
