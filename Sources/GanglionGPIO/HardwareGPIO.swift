import GanglionCore
import GanglionSystem
import Synchronization

/// GPIO through the Linux character device with libgpiod 1.6 (v1 API): each claimed input is
/// requested for edge events on both edges (with its bias and active-low flags, so the kernel
/// applies active_low), each output as an output driven to its initial value.
///
/// Edges: `start` spawns one dedicated thread (never Swift's cooperative pool) that `poll`s the
/// lines' event descriptors and a wake pipe, drains ready lines into a preallocated buffer
/// (`gpiod_line_event_read_multiple`), runs the shared `EdgeDebouncer` on the kernel
/// timestamps (on CLOCK_MONOTONIC, so wall-clock steps cannot stretch a debounce) with the
/// nearest debounce deadline as the poll timeout, and calls `onEdge` on that thread with the
/// time converted to wall-clock time. Edges that happen between `claim` and `start` are
/// queued by the kernel (up to its per-line limit) and delivered after `start`.
///
/// A line that fails while running (its descriptor reports an error, or a read fails) is
/// dropped from the loop and recorded in `edgeFailure`; the other lines keep working.
///
/// Thread safety: all methods may be called from any thread. `deinit` stops and releases.
public final class HardwareGPIO: GPIOBackend {
  private let consumer: String
  private let state = Mutex(State())

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
          values[input.signal] = try LibGPIOD.value(of: input.line)
        } catch {
          problems.append(
            .init(
              .ioFailed, signal: input.signal, address: input.address, errno: error.code,
              "signal '\(input.signal)': \(input.resolved): cannot read the line: \(error)"))
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
        try LibGPIOD.setValue(of: output.line, to: value)
      } catch {
        throw GPIOError(
          .init(
            .ioFailed, signal: signal, address: output.address, errno: error.code,
            "signal '\(signal)': \(output.resolved): cannot drive the line \(value ? "on" : "off"): \(error)"))
      }
    }
  }

  public func start(onEdge: @escaping @Sendable (GPIOEdge) -> Void) throws(GPIOError) {
    try state.withLock { (state) throws(GPIOError) in
      guard state.phase == .claimed else {
        throw GPIOError(
          .init(
            .wrongState,
            state.phase == .idle ? "no GPIO lines are claimed; claim before start" : "GPIO edges are already started"))
      }
      var watched: [EdgeLoop.WatchedLine] = []
      var problems: [GPIOError.Problem] = []
      for input in state.inputs {
        do throws(SystemError) {
          watched.append(
            EdgeLoop.WatchedLine(
              signal: input.signal, line: input.resolved.description, source: try GPIODEdgeSource(line: input.line),
              debouncer: EdgeDebouncer(period: input.debounce, initial: input.initialValue)))
        } catch {
          problems.append(
            .init(
              .ioFailed, signal: input.signal, address: input.address, errno: error.code,
              "signal '\(input.signal)': \(input.resolved): no event descriptor: \(error)"))
        }
      }
      guard problems.isEmpty else { throw GPIOError(problems) }
      if !watched.isEmpty {
        do throws(SystemError) {
          state.loop = try EdgeLoop.start(lines: watched, onEdge: onEdge)
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
      for input in state.inputs { LibGPIOD.release(input.line) }
      for output in state.outputs.values { LibGPIOD.release(output.line) }
      for chip in state.chips { LibGPIOD.close(chip) }
      state = State()
    }
  }

  // MARK: Claiming

  private struct ClaimedInput: Sendable {
    var signal: String
    var address: GPIOLineAddress
    var resolved: ResolvedLine
    var line: GPIODLine
    var debounce: Duration
    /// The logical value read right after the request: the debounce's starting point.
    var initialValue: Bool
  }

  private struct ClaimedOutput: Sendable {
    var address: GPIOLineAddress
    var resolved: ResolvedLine
    var line: GPIODLine
  }

  private enum Phase: Sendable {
    case idle, claimed, started
  }

  private struct State: Sendable {
    var phase = Phase.idle
    var chips: [GPIODChip] = []
    var inputs: [ClaimedInput] = []
    var outputs: [String: ClaimedOutput] = [:]
    var loop: EdgeLoop?
  }

  /// Opens the chips, resolves and requests every line, reads the inputs' initial values.
  /// All or nothing: on any problem everything acquired is released and every problem thrown.
  private func claimLines(
    _ requests: [LineRequest]
  ) throws(GPIOError) -> (chips: [GPIODChip], inputs: [ClaimedInput], outputs: [String: ClaimedOutput]) {
    var problems = LineClaims.duplicateSignals(requests)
    var chips: [String: Result<GPIODChip, SystemError>] = [:]
    var requested: [GPIODLine] = []
    func releaseAll() {
      for line in requested { LibGPIOD.release(line) }
      for case .success(let chip) in chips.values { LibGPIOD.close(chip) }
    }

    // 1. Resolve every address to an open chip's line.
    var resolved: [(request: LineRequest, line: ResolvedLine, handle: GPIODLine)] = []
    for request in requests {
      let chipDescription = request.address.chip
      if chips[chipDescription] == nil {
        chips[chipDescription] = Result { () throws(SystemError) in try LibGPIOD.openChip(chipDescription) }
      }
      switch chips[chipDescription]! {
      case .failure(let error):
        let existing = GPIOChips.deviceNames()
        var known =
          existing.isEmpty ? "this system has no GPIO chips" : "chips here: \(existing.joined(separator: ", "))"
        if error.isPermissionDenied {
          known += "; the daemon's user needs read and write access to the chip (e.g. the 'gpio' group)"
        }
        problems.append(
          .init(
            .unknownChip, signal: request.signal, address: request.address, errno: error.code,
            LineClaims.prefix(request) + "cannot open chip '\(chipDescription)': \(error); \(known)"))
      case .success(let chip):
        switch resolveLine(request, on: chip) {
        case .success(let handle):
          let line = ResolvedLine(chipName: LibGPIOD.name(of: chip), offset: LibGPIOD.offset(of: handle))
          resolved.append((request, line, handle))
        case .failure(let problem): problems.append(problem)
        }
      }
    }
    problems += LineClaims.duplicateLines(resolved.map { ($0.request, $0.line) })
    guard problems.isEmpty else {
      releaseAll()
      throw GPIOError(problems)
    }

    // 2. Request the lines and read the inputs.
    var inputs: [ClaimedInput] = []
    var outputs: [String: ClaimedOutput] = [:]
    for (request, line, handle) in resolved {
      let kind: GPIODRequest
      switch request {
      case .input(let input): kind = .edges(bias: input.bias, activeLow: input.activeLow)
      case .output(let output): kind = .output(activeLow: output.activeLow, initial: output.initial)
      }
      do throws(SystemError) {
        try LibGPIOD.request(handle, as: kind, consumer: consumer)
      } catch {
        problems.append(requestProblem(request, line: line, handle: handle, error: error))
        continue
      }
      requested.append(handle)
      switch request {
      case .input(let input):
        do throws(SystemError) {
          let value = try LibGPIOD.value(of: handle)
          inputs.append(
            ClaimedInput(
              signal: input.signal, address: input.address, resolved: line, line: handle, debounce: input.debounce,
              initialValue: value))
        } catch {
          problems.append(
            .init(
              .ioFailed, signal: input.signal, address: input.address, errno: error.code,
              LineClaims.prefix(request) + "cannot read \(line): \(error)"))
        }
      case .output(let output):
        outputs[output.signal] = ClaimedOutput(address: output.address, resolved: line, line: handle)
      }
    }
    guard problems.isEmpty else {
      releaseAll()
      throw GPIOError(problems)
    }
    let openChips = chips.values.compactMap { try? $0.get() }
    return (openChips, inputs, outputs)
  }

  private func resolveLine(_ request: LineRequest, on chip: GPIODChip) -> Result<GPIODLine, GPIOError.Problem> {
    let chipName = LibGPIOD.name(of: chip)
    do throws(SystemError) {
      switch request.address.line {
      case .offset(let offset):
        let count = LibGPIOD.lineCount(of: chip)
        guard offset >= 0, offset < count else {
          return .failure(
            .init(
              .unknownLine, signal: request.signal, address: request.address,
              LineClaims.prefix(request) + "no such line; \(chipName) has lines 0-\(count - 1)"))
        }
        return .success(try LibGPIOD.line(of: chip, offset: offset))
      case .name(let name):
        return .success(try LibGPIOD.line(of: chip, named: name))
      }
    } catch {
      let reason: String
      if case .name(let name) = request.address.line, error.isNoSuchEntry {
        reason = "no line named '\(name)' on \(chipName)"
      } else {
        reason = "cannot get the line from \(chipName): \(error)"
      }
      return .failure(
        .init(
          .unknownLine, signal: request.signal, address: request.address, errno: error.code,
          LineClaims.prefix(request) + reason))
    }
  }

  private func requestProblem(
    _ request: LineRequest, line: ResolvedLine, handle: GPIODLine, error: SystemError
  ) -> GPIOError.Problem {
    var reason = "the kernel refused \(line): \(error)"
    if error.isBusy, let holder = LibGPIOD.consumer(of: handle), !holder.isEmpty {
      reason += "; it is in use by '\(holder)'"
    } else if error.isInvalidArgument, case .input(let input) = request, input.bias != .asIs {
      reason += "; bias settings need Linux 5.5 or later and a driver that supports them"
    }
    return .init(
      .requestFailed, signal: request.signal, address: request.address, errno: error.code,
      LineClaims.prefix(request) + reason)
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
