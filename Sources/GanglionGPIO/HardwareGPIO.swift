import GanglionCore
import GanglionSystem
import Synchronization

/// GPIO through the Linux character device with libgpiod, v1 or v2 (`GPIOLibrary`; the build
/// picks the installed one). Each claimed input is requested for edge events on both edges
/// with its bias and active-low flags (so the kernel applies active_low) and, with libgpiod
/// 2.x, its debounce period (the kernel debounces); each output is requested as an output
/// driven to its initial value in the same request.
///
/// Chips are found by path (`/dev/gpiochip0`), number (`0`), name (`gpiochip0`) or label
/// (`pinctrl-rp1`: the way to name a chip whose number changed across kernels); lines by
/// offset or by the name the device tree gives them (`GPIO17`). Both libgpiod versions
/// resolve them the same way here.
///
/// Edges: `start` spawns one dedicated thread (never Swift's cooperative pool) that `poll`s the
/// lines' event descriptors and a wake pipe, drains ready lines into preallocated buffers,
/// debounces (unless the kernel does) on the kernel's CLOCK_MONOTONIC timestamps, finds lost
/// edges (exactly with v2's sequence numbers, as a full queue with v1), and calls `onEdge`
/// on that thread with the time converted to wall-clock time. Edges between `claim` and
/// `start` wait in the kernel's queue and are delivered after `start`.
///
/// A line that fails while running is dropped from the loop and recorded in `edgeFailure`;
/// the other lines keep working.
///
/// Thread safety: all methods may be called from any thread. `deinit` stops and releases.
public final class HardwareGPIO: GPIOBackend {
  private let consumer: String
  private let state = Mutex(State())

  /// `libgpiod 1.6.3`, `libgpiod 2.1.3`: the library this build runs with.
  public static var libraryDescription: String { "libgpiod \(LibGPIOD.version)" }

  /// The library's version string (`1.6.3`).
  public static var libraryVersion: String { LibGPIOD.version }

  /// - Parameter consumer: the name the kernel shows as the lines' user (`gpioinfo`).
  public init(consumer: String = "ganglion") {
    self.consumer = consumer
  }

  deinit { stop() }

  /// The first failure of the running edge thread (a line that stopped delivering, or a
  /// failing `poll`), if any; nil while all is well. Cleared by `stop`.
  public var edgeFailure: GPIOError? {
    state.withLock { $0.loop?.failure }
  }

  // MARK: GPIOBackend

  public func claim(inputs: [GPIOInputRequest], outputs: [GPIOOutputRequest]) throws(GPIOError) {
    try state.withLock { (state) throws(GPIOError) in
      guard state.phase == .idle else {
        throw GPIOError(.init(.wrongState, "GPIO lines are already claimed; stop before claiming again"))
      }
      let claimed = try claimLines(LineRequest.all(inputs: inputs, outputs: outputs))
      state.chips = claimed.chips
      state.inputs = claimed.inputs
      state.outputs = claimed.outputs
      state.phase = .claimed
    }
  }

  public func readInputs() throws(GPIOError) -> [String: Bool] {
    try state.withLock { (state) throws(GPIOError) in
      guard state.phase != .idle else { throw GPIOError(.init(.wrongState, "no GPIO lines are claimed")) }
      var values: [String: Bool] = [:]
      var problems: [GPIOError.Problem] = []
      for input in state.inputs {
        do throws(SystemError) {
          values[input.signal] = try input.request.value()
        } catch {
          problems.append(
            .init(
              .ioFailed, signal: input.signal, address: input.address, errno: error.code,
              "signal '\(input.signal)': \(input.resolved): cannot read the line: \(error.text)"))
        }
      }
      guard problems.isEmpty else { throw GPIOError(problems) }
      return values
    }
  }

  public func set(signal: String, value: Bool) throws(GPIOError) {
    try state.withLock { (state) throws(GPIOError) in
      guard let output = state.outputs[signal] else {
        throw GPIOError(.init(.unknownSignal, signal: signal, "signal '\(signal)' is not a claimed GPIO output"))
      }
      do throws(SystemError) {
        try output.request.setValue(value)
      } catch {
        throw GPIOError(
          .init(
            .ioFailed, signal: signal, address: output.address, errno: error.code,
            "signal '\(signal)': \(output.resolved): cannot drive the line \(value ? "on" : "off"): \(error.text)"))
      }
    }
  }

  public func start(
    onEdge: @escaping @Sendable (GPIOEdge) -> Void, onLostEdges: @escaping @Sendable (GPIOLostEdges) -> Void
  ) throws(GPIOError) {
    try state.withLock { (state) throws(GPIOError) in
      guard state.phase == .claimed else {
        throw GPIOError(
          .init(
            .wrongState,
            state.phase == .idle ? "no GPIO lines are claimed; claim before start" : "GPIO edges are already started"))
      }
      let kernelDebounces = LibGPIOD.capabilities.kernelDebounce
      var watched: [EdgeLoop.WatchedLine] = []
      var problems: [GPIOError.Problem] = []
      for input in state.inputs {
        do throws(SystemError) {
          watched.append(
            EdgeLoop.WatchedLine(
              signal: input.signal, line: input.resolved.description, source: try input.request.edgeSource(),
              debouncer: EdgeDebouncer(period: kernelDebounces ? .zero : input.debounce, initial: input.initialValue),
              kernelDebounce: kernelDebounces ? input.debounce : .zero))
        } catch {
          problems.append(
            .init(
              .ioFailed, signal: input.signal, address: input.address, errno: error.code,
              "signal '\(input.signal)': \(input.resolved): no event descriptor: \(error.text)"))
        }
      }
      guard problems.isEmpty else { throw GPIOError(problems) }
      if !watched.isEmpty {
        do throws(SystemError) {
          state.loop = try EdgeLoop.start(lines: watched, onEdge: onEdge, onLostEdges: onLostEdges)
        } catch {
          throw GPIOError(.init(.system, errno: error.code, "cannot start the GPIO edge thread: \(error)"))
        }
      }
      state.phase = .started
    }
  }

  public func stop() {
    // Stop the thread first (outside the lock: `onEdge` may be calling `set`), then release.
    let loop = state.withLock { state in
      defer { state.loop = nil }
      return state.loop
    }
    loop?.stop()
    state.withLock { state in
      for input in state.inputs { input.request.release() }
      for output in state.outputs.values { output.request.release() }
      for chip in state.chips { LibGPIOD.close(chip) }
      state = State()
    }
  }

  // MARK: Claiming

  private struct ClaimedInput: Sendable {
    var signal: String
    var address: GPIOLineAddress
    var resolved: ResolvedLine
    var request: LibGPIOD.Request
    var debounce: Duration
    /// The logical value read right after the request: the debounce's starting point.
    var initialValue: Bool
  }

  private struct ClaimedOutput: Sendable {
    var address: GPIOLineAddress
    var resolved: ResolvedLine
    var request: LibGPIOD.Request
  }

  private enum Phase: Sendable {
    case idle, claimed, started
  }

  private struct State: Sendable {
    var phase = Phase.idle
    var chips: [LibGPIOD.Chip] = []
    var inputs: [ClaimedInput] = []
    var outputs: [String: ClaimedOutput] = [:]
    var loop: EdgeLoop?
  }

  /// Resolves and requests every line, reads the inputs' initial values. All or nothing: on
  /// any problem everything acquired is released and every problem thrown.
  private func claimLines(
    _ requests: [LineRequest]
  ) throws(GPIOError) -> (chips: [LibGPIOD.Chip], inputs: [ClaimedInput], outputs: [String: ClaimedOutput]) {
    var opened = ChipSet()
    let (resolved, resolveProblems) = opened.resolve(requests)
    var problems = resolveProblems
    var requested: [LibGPIOD.Request] = []
    func releaseAll() {
      for request in requested { request.release() }
      opened.closeAll()
    }
    guard problems.isEmpty else {
      releaseAll()
      throw GPIOError(problems)
    }

    var inputs: [ClaimedInput] = []
    var outputs: [String: ClaimedOutput] = [:]
    for line in resolved {
      let settings: GPIOLineSettings
      switch line.request {
      case .input(let input):
        settings = .input(bias: input.bias, activeLow: input.activeLow, debounce: input.debounce)
      case .output(let output):
        settings = .output(activeLow: output.activeLow, initial: output.initial)
      }
      let handle: LibGPIOD.Request
      do throws(SystemError) {
        handle = try LibGPIOD.request(line.chip, offset: line.resolved.offset, as: settings, consumer: consumer)
      } catch {
        problems.append(requestProblem(line, error: error))
        continue
      }
      requested.append(handle)
      switch line.request {
      case .input(let input):
        do throws(SystemError) {
          inputs.append(
            ClaimedInput(
              signal: input.signal, address: input.address, resolved: line.resolved, request: handle,
              debounce: input.debounce, initialValue: try handle.value()))
        } catch {
          problems.append(
            .init(
              .ioFailed, signal: input.signal, address: input.address, errno: error.code,
              LineClaims.prefix(line.request) + "cannot read \(line.resolved): \(error.text)"))
        }
      case .output(let output):
        outputs[output.signal] = ClaimedOutput(address: output.address, resolved: line.resolved, request: handle)
      }
    }
    guard problems.isEmpty else {
      releaseAll()
      throw GPIOError(problems)
    }
    return (opened.openChips, inputs, outputs)
  }

  private func requestProblem(_ line: ChipSet.Resolved, error: SystemError) -> GPIOError.Problem {
    var reason = "the kernel refused \(line.resolved): \(error.text)"
    if error.isBusy {
      reason += Self.holderText(chip: line.chip, offset: line.resolved.offset)
    } else if error.isPermissionDenied {
      reason += "; the daemon's user needs read and write access to \(line.resolved.chipName) (e.g. the 'gpio' group)"
    } else if error.isInvalidArgument, case .input(let input) = line.request, input.bias != .asIs {
      reason += "; bias settings need Linux 5.5 or later and a driver that supports them"
    }
    return .init(
      .requestFailed, signal: line.request.signal, address: line.request.address, errno: error.code,
      LineClaims.prefix(line.request) + reason)
  }

  /// `; it is in use by 'gpioset'`, or nothing when the kernel does not say who.
  fileprivate static func holderText(chip: LibGPIOD.Chip, offset: Int) -> String {
    guard let info = try? LibGPIOD.lineInfo(of: chip, offset: offset), info.isUsed else { return "" }
    if let consumer = info.consumer, !consumer.isEmpty { return "; it is in use by '\(consumer)'" }
    return "; it is in use by another program"
  }

  // MARK: Inspecting (no claim)

  /// Every GPIO chip of this machine with its lines, as the kernel reports them now, for
  /// `ganglion gpio list`. Chips that cannot be opened are listed with the error instead.
  public static func inventory() -> [(chip: GPIOChipInfo, lines: [GPIOLineInfo], error: SystemError?)] {
    GPIOChips.deviceNames().map { name -> (chip: GPIOChipInfo, lines: [GPIOLineInfo], error: SystemError?) in
      let path = "/dev/\(name)"
      let chip: LibGPIOD.Chip
      do throws(SystemError) {
        chip = try LibGPIOD.openChip(path: path)
      } catch {
        return (GPIOChipInfo(name: name, label: "", path: path, lineCount: 0), [], error)
      }
      defer { LibGPIOD.close(chip) }
      let info = LibGPIOD.info(of: chip)
      let lines = (0..<info.lineCount).compactMap { try? LibGPIOD.lineInfo(of: chip, offset: $0) }
      return (info, lines, nil)
    }
  }

  /// What would stop `claim` from working, found without requesting or driving any line
  /// (`ganglion check --hardware`): chips that are missing or not accessible, lines that do
  /// not exist, lines claimed twice, and lines another program holds. Empty when all is well.
  public static func inspect(inputs: [GPIOInputRequest], outputs: [GPIOOutputRequest]) -> [GPIOError.Problem] {
    var opened = ChipSet()
    defer { opened.closeAll() }
    let (resolved, problems) = opened.resolve(LineRequest.all(inputs: inputs, outputs: outputs))
    return problems
      + resolved.compactMap { line in
        guard let info = try? LibGPIOD.lineInfo(of: line.chip, offset: line.resolved.offset), info.isUsed else {
          return nil
        }
        let holder = info.consumer.flatMap { $0.isEmpty ? nil : "'\($0)'" } ?? "another program"
        return .init(
          .requestFailed, signal: line.request.signal, address: line.request.address, errno: SystemError.busy,
          LineClaims.prefix(line.request) + "\(line.resolved) is in use by \(holder)")
      }
  }
}

/// The chips of one claim or inspection, opened once each, and the requests resolved to
/// their lines.
private struct ChipSet {
  struct Resolved {
    var request: LineRequest
    var chip: LibGPIOD.Chip
    var resolved: ResolvedLine
  }

  private var chips: [String: Result<LibGPIOD.Chip, SystemError>] = [:]

  var openChips: [LibGPIOD.Chip] { chips.values.compactMap { try? $0.get() } }

  mutating func closeAll() {
    for chip in openChips { LibGPIOD.close(chip) }
    chips = [:]
  }

  /// Resolves every request's chip and line; duplicate signals and lines are problems too.
  mutating func resolve(_ requests: [LineRequest]) -> (resolved: [Resolved], problems: [GPIOError.Problem]) {
    var problems = LineClaims.duplicateSignals(requests)
    var resolved: [Resolved] = []
    for request in requests {
      let description = request.address.chip
      if chips[description] == nil { chips[description] = Result { () throws(SystemError) in try open(description) } }
      switch chips[description]! {
      case .failure(let error):
        problems.append(
          .init(
            .unknownChip, signal: request.signal, address: request.address, errno: error.code,
            LineClaims.prefix(request) + chipProblem(description, error)))
      case .success(let chip):
        let info = LibGPIOD.info(of: chip)
        switch line(request, on: chip, info: info) {
        case .success(let offset):
          resolved.append(
            Resolved(request: request, chip: chip, resolved: ResolvedLine(chipName: info.name, offset: offset)))
        case .failure(let problem):
          problems.append(problem)
        }
      }
    }
    problems += LineClaims.duplicateLines(resolved.map { ($0.request, $0.resolved) })
    return (resolved, problems)
  }

  /// Opens a chip by path (`/dev/gpiochip0`), number (`0`), name (`gpiochip0`) or label
  /// (`pinctrl-rp1`), in that order of guessing. ENOENT when nothing matches.
  private func open(_ description: String) throws(SystemError) -> LibGPIOD.Chip {
    // An empty name would become the path "/dev/" (EISDIR): say "no such chip" instead.
    guard !description.isEmpty else { throw SystemError(code: SystemError.noSuchEntry) }
    if description.hasPrefix("/") { return try LibGPIOD.openChip(path: description) }
    if let number = UInt32(description) { return try LibGPIOD.openChip(path: "/dev/gpiochip\(number)") }
    let names = GPIOChips.deviceNames()
    if names.contains(description) { return try LibGPIOD.openChip(path: "/dev/\(description)") }
    var firstError: SystemError?
    for name in names {
      let chip: LibGPIOD.Chip
      do throws(SystemError) {
        chip = try LibGPIOD.openChip(path: "/dev/\(name)")
      } catch {
        if firstError == nil { firstError = error }
        continue
      }
      if LibGPIOD.info(of: chip).label == description { return chip }
      LibGPIOD.close(chip)
    }
    // A chip we could not open may be the one: say why rather than "no such chip".
    throw firstError.map { SystemError(code: $0.code) } ?? SystemError(code: SystemError.noSuchEntry)
  }

  /// `cannot open chip 'x': reason; chips here: gpiochip0 (pinctrl-rp1), ...`
  private func chipProblem(_ description: String, _ error: SystemError) -> String {
    let chips = HardwareGPIO.inventory().map { entry in
      entry.chip.label.isEmpty ? entry.chip.name : "\(entry.chip.name) (\(entry.chip.label))"
    }
    var text = "cannot open chip '\(description)': \(error.text)"
    text += chips.isEmpty ? "; this system has no GPIO chips" : "; chips here: \(chips.joined(separator: ", "))"
    if error.isPermissionDenied {
      text += "; the daemon's user needs read and write access to /dev/gpiochip* (e.g. the 'gpio' group)"
    }
    return text
  }

  private func line(_ request: LineRequest, on chip: LibGPIOD.Chip, info: GPIOChipInfo)
    -> Result<Int, GPIOError.Problem>
  {
    switch request.address.line {
    case .offset(let offset):
      guard offset >= 0, offset < info.lineCount else {
        return .failure(
          .init(
            .unknownLine, signal: request.signal, address: request.address,
            LineClaims.prefix(request) + "no such line; \(info.name) has lines 0-\(info.lineCount - 1)"))
      }
      return .success(offset)
    case .name(let name):
      do throws(SystemError) {
        return .success(try LibGPIOD.offset(of: chip, lineNamed: name))
      } catch {
        let reason =
          error.isNoSuchEntry
          ? "no line named '\(name)' on \(info.name)" : "cannot look up line '\(name)' on \(info.name): \(error.text)"
        return .failure(
          .init(
            .unknownLine, signal: request.signal, address: request.address, errno: error.code,
            LineClaims.prefix(request) + reason))
      }
    }
  }
}

/// The GPIO character devices of this machine.
enum GPIOChips {
  /// Names of the GPIO character devices in /dev (`gpiochip0`...), sorted by number; empty
  /// when there are none or /dev cannot be read.
  static func deviceNames() -> [String] {
    let names = ((try? FileSystem.list("/dev")) ?? []).filter {
      $0.hasPrefix("gpiochip") && Int($0.dropFirst(8)) != nil
    }
    return names.sorted { Int($0.dropFirst(8))! < Int($1.dropFirst(8))! }
  }
}
