#if GPIOD_V2
  import CGPIOD
  import GanglionCore
  import GanglionSystem
  import Glibc

  // The one file that calls gpiod_* when the installed libgpiod is 2.x (Debian 13, Raspberry
  // Pi OS trixie, Ubuntu 24.04). Every call checks its result and reads errno right away; the
  // rest of the module sees Swift types and `SystemError` (through `GPIOLibrary`).

  typealias LibGPIOD = LibGPIOD2

  /// libgpiod 2.x: each line is its own request (its own event descriptor and kernel queue of
  /// `kernelQueuePerLine` events). The kernel debounces, numbers every edge (so lost edges are
  /// counted exactly) and drives an output's initial value as part of the request.
  enum LibGPIOD2: GPIOLibrary {
    /// An open chip. `@unchecked Sendable`: a handle that `HardwareGPIO` hands between threads
    /// under the rules of `GPIOLibrary`.
    struct Chip: @unchecked Sendable {
      fileprivate let pointer: OpaquePointer
      fileprivate let path: String
    }

    /// The corresponding C function is `gpiod_api_version`.
    static var version: String { gpiod_api_version().map { String(cString: $0) } ?? "2.x" }

    static let capabilities = GPIOLibraryCapabilities(
      kernelDebounce: true, edgeSequenceNumbers: true, kernelQueuePerLine: 256)

    /// The corresponding C function is `gpiod_chip_open`.
    static func openChip(path: String) throws(SystemError) -> Chip {
      guard let chip = gpiod_chip_open(path) else { throw SystemError.current("open", path) }
      return Chip(pointer: chip, path: path)
    }

    /// The corresponding C function is `gpiod_chip_close`.
    static func close(_ chip: Chip) { gpiod_chip_close(chip.pointer) }

    /// The corresponding C functions are `gpiod_chip_get_info` and `gpiod_chip_info_get_*`.
    static func info(of chip: Chip) -> GPIOChipInfo {
      guard let info = gpiod_chip_get_info(chip.pointer) else {
        return GPIOChipInfo(name: FileSystem.basename(chip.path), label: "", path: chip.path, lineCount: 0)
      }
      defer { gpiod_chip_info_free(info) }
      return GPIOChipInfo(
        name: gpiod_chip_info_get_name(info).map { String(cString: $0) } ?? FileSystem.basename(chip.path),
        label: gpiod_chip_info_get_label(info).map { String(cString: $0) } ?? "", path: chip.path,
        lineCount: Int(gpiod_chip_info_get_num_lines(info)))
    }

    /// The corresponding C functions are `gpiod_chip_get_line_info` and
    /// `gpiod_line_info_get_*`.
    static func lineInfo(of chip: Chip, offset: Int) throws(SystemError) -> GPIOLineInfo {
      guard let index = UInt32(exactly: offset) else {
        throw SystemError(code: EINVAL, operation: "get line \(offset)")
      }
      guard let info = gpiod_chip_get_line_info(chip.pointer, index) else {
        throw SystemError.current("read the state of line \(offset)")
      }
      defer { gpiod_line_info_free(info) }
      return GPIOLineInfo(
        offset: offset, name: gpiod_line_info_get_name(info).map { String(cString: $0) },
        direction: gpiod_line_info_get_direction(info) == GPIOD_LINE_DIRECTION_OUTPUT ? .output : .input,
        activeLow: gpiod_line_info_is_active_low(info), isUsed: gpiod_line_info_is_used(info),
        consumer: gpiod_line_info_get_consumer(info).map { String(cString: $0) })
    }

    /// The corresponding C function is `gpiod_chip_get_line_offset_from_name`.
    static func offset(of chip: Chip, lineNamed name: String) throws(SystemError) -> Int {
      let offset = gpiod_chip_get_line_offset_from_name(chip.pointer, name)
      guard offset >= 0 else { throw SystemError.current("find a line named '\(name)'") }
      return Int(offset)
    }

    /// The corresponding C functions are `gpiod_line_settings_*`, `gpiod_line_config_*`,
    /// `gpiod_request_config_*` and `gpiod_chip_request_lines`.
    static func request(_ chip: Chip, offset: Int, as settings: GPIOLineSettings, consumer: String)
      throws(SystemError) -> Request
    {
      guard var index = UInt32(exactly: offset) else {
        throw SystemError(code: EINVAL, operation: "request line \(offset)")
      }
      guard let lineSettings = gpiod_line_settings_new() else { throw SystemError.current("request line \(offset)") }
      defer { gpiod_line_settings_free(lineSettings) }
      var checks: [Int32] = []
      switch settings {
      case .input(let bias, let activeLow, let debounce):
        checks.append(gpiod_line_settings_set_direction(lineSettings, GPIOD_LINE_DIRECTION_INPUT))
        checks.append(gpiod_line_settings_set_edge_detection(lineSettings, GPIOD_LINE_EDGE_BOTH))
        let biasValue: gpiod_line_bias =
          switch bias {
          case .asIs: GPIOD_LINE_BIAS_AS_IS
          case .pullUp: GPIOD_LINE_BIAS_PULL_UP
          case .pullDown: GPIOD_LINE_BIAS_PULL_DOWN
          case .disable: GPIOD_LINE_BIAS_DISABLED
          }
        checks.append(gpiod_line_settings_set_bias(lineSettings, biasValue))
        gpiod_line_settings_set_active_low(lineSettings, activeLow)
        gpiod_line_settings_set_debounce_period_us(lineSettings, UInt(max(0, debounce.microseconds)))
        checks.append(gpiod_line_settings_set_event_clock(lineSettings, GPIOD_LINE_CLOCK_MONOTONIC))
      case .output(let activeLow, let initial):
        checks.append(gpiod_line_settings_set_direction(lineSettings, GPIOD_LINE_DIRECTION_OUTPUT))
        gpiod_line_settings_set_active_low(lineSettings, activeLow)
        checks.append(
          gpiod_line_settings_set_output_value(
            lineSettings, initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE))
      }
      guard checks.allSatisfy({ $0 == 0 }) else { throw SystemError.current("configure line \(offset)") }
      guard let lineConfig = gpiod_line_config_new() else { throw SystemError.current("request line \(offset)") }
      defer { gpiod_line_config_free(lineConfig) }
      guard gpiod_line_config_add_line_settings(lineConfig, &index, 1, lineSettings) == 0 else {
        throw SystemError.current("configure line \(offset)")
      }
      guard let requestConfig = gpiod_request_config_new() else { throw SystemError.current("request line \(offset)") }
      defer { gpiod_request_config_free(requestConfig) }
      gpiod_request_config_set_consumer(requestConfig, consumer)
      gpiod_request_config_set_event_buffer_size(requestConfig, capabilities.kernelQueuePerLine)
      guard let request = gpiod_chip_request_lines(chip.pointer, requestConfig, lineConfig) else {
        throw SystemError.current("request line \(offset)")
      }
      return Request(request: request, offset: index)
    }

    /// A requested line. `@unchecked Sendable`: `HardwareGPIO` uses it under its lock; the edge
    /// thread reads only its events.
    final class Request: GPIOLineRequest, @unchecked Sendable {
      fileprivate let request: OpaquePointer
      fileprivate let offset: UInt32
      private var released = false

      fileprivate init(request: OpaquePointer, offset: UInt32) {
        self.request = request
        self.offset = offset
      }

      deinit { release() }

      /// The corresponding C function is `gpiod_line_request_get_value`.
      func value() throws(SystemError) -> Bool {
        let value = gpiod_line_request_get_value(request, offset)
        guard value != GPIOD_LINE_VALUE_ERROR else { throw SystemError.current("read the line") }
        return value == GPIOD_LINE_VALUE_ACTIVE
      }

      /// The corresponding C function is `gpiod_line_request_set_value`.
      func setValue(_ value: Bool) throws(SystemError) {
        let level = value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE
        guard gpiod_line_request_set_value(request, offset, level) == 0 else {
          throw SystemError.current("drive the line")
        }
      }

      func edgeSource() throws(SystemError) -> any EdgeSource { try EdgeReader(request: self) }

      /// The corresponding C function is `gpiod_line_request_release`.
      func release() {
        guard !released else { return }
        released = true
        gpiod_line_request_release(request)
      }
    }

    /// A requested edge line as the edge thread reads it: its event descriptor and an event
    /// buffer allocated once. `@unchecked Sendable`: after `HardwareGPIO.start` hands it to
    /// the edge thread, only that thread uses it.
    final class EdgeReader: EdgeSource, @unchecked Sendable {
      let descriptor: Int32
      let capacity = 64
      private let request: Request
      private let buffer: OpaquePointer

      /// The corresponding C functions are `gpiod_line_request_get_fd` and
      /// `gpiod_edge_event_buffer_new`.
      init(request: Request) throws(SystemError) {
        let fd = gpiod_line_request_get_fd(request.request)
        guard fd >= 0 else { throw SystemError.current("get the line's event descriptor") }
        guard let buffer = gpiod_edge_event_buffer_new(64) else {
          throw SystemError.current("allocate an event buffer")
        }
        self.request = request
        self.buffer = buffer
        descriptor = fd
      }

      deinit { gpiod_edge_event_buffer_free(buffer) }

      /// Timestamps are CLOCK_MONOTONIC (requested so); each event carries the line's
      /// sequence number. The corresponding C functions are
      /// `gpiod_line_request_read_edge_events` and `gpiod_edge_event_get_*`.
      func readEdges(_ body: (_ edge: KernelEdge) -> Void) throws(SystemError) -> Int {
        let count = gpiod_line_request_read_edge_events(request.request, buffer, capacity)
        guard count >= 0 else { throw SystemError.current("read edge events") }
        for index in 0..<Int(count) {
          guard let event = gpiod_edge_event_buffer_get_event(buffer, UInt(index)) else { continue }
          body(
            KernelEdge(
              rising: gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE,
              kernelMicroseconds: Int64(gpiod_edge_event_get_timestamp_ns(event) / 1000),
              sequence: UInt64(gpiod_edge_event_get_line_seqno(event))))
        }
        return Int(count)
      }

      func currentValue() throws(SystemError) -> Bool { try request.value() }
    }
  }
#endif
