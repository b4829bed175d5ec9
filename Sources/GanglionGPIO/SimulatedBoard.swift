import GanglionCore
import GanglionSystem
import Synchronization

/// The in-process GPIO board that `ganglion run --simulate` and tests use (what NIOEmbedded is
/// to NIOPosix): chips with numbered (optionally named) lines, no kernel. Inputs are driven
/// with `drive`, outputs are observed with `level`. Same claim rules, errors and debounce as
/// `HardwareGPIO`.
///
/// Physical model: a line nobody drives reads high when its claimed input asks for a pull-up,
/// low otherwise (pull-down, as-is, disable, unclaimed). A level set with `drive` stays until
/// driven again, across `stop`/`claim` (it is the outside world). A claimed output reads as
/// the level it drives.
///
/// Time: edges carry `clock.now()` at the moment of the (first) edge. Debounced changes wait
/// for a deadline (see `EdgeDebouncer`); who runs deadlines is chosen at init:
/// - `.manual` (default, deterministic): the owner calls `pump()` after moving its clock
///   (tests with `ManualClock`); a later edge on the same line also settles a due change.
/// - `.thread`: a dedicated thread sleeps until `nextDeadline` (measured on `clock`) and
///   pumps; for real-time use with a system clock.
///
/// Delivery: `onEdge` is called on the thread that calls `drive`, `pump` or `start` (edges
/// from before `start` are queued and delivered by `start`), or on the timer thread; never
/// while the board's lock is held, so `onEdge` may call back into the board. Edges are
/// delivered in order. A call racing with `stop` on another thread may still deliver an edge
/// it had already taken.
///
/// Thread safety: all methods may be called from any thread.
public final class SimulatedBoard: GPIOBackend {
  /// Who runs debounce deadlines.
  public enum DebounceTimer: Sendable, Hashable {
    /// The owner calls `pump()`.
    case manual
    /// A dedicated thread, started by `start` and ended by `stop`.
    case thread
  }

  private let clock: any WallClock
  private let chips: [String: Int]
  private let lineNames: [String: [Int: String]]
  private let debounceTimer: DebounceTimer
  private let state = Mutex(State())

  /// - Parameters:
  ///   - chips: chip name -> number of lines. A chip is also found by `/dev/<name>` and, for
  ///     `gpiochipN`, by `N`.
  ///   - lineNames: chip name -> offset -> line name, for `GPIOLineID.name`.
  ///   - debounceTimer: see the type's documentation.
  public init(
    clock: any WallClock, chips: [String: Int] = ["gpiochip0": 28], lineNames: [String: [Int: String]] = [:],
    debounceTimer: DebounceTimer = .manual
  ) {
    self.clock = clock
    self.chips = chips
    self.lineNames = lineNames
    self.debounceTimer = debounceTimer
  }

  deinit { stop() }

  // MARK: GPIOBackend

  public func claim(inputs: [GPIOInputRequest], outputs: [GPIOOutputRequest]) throws(GPIOError) {
    let requests = LineRequest.all(inputs: inputs, outputs: outputs)
    var problems = LineClaims.duplicateSignals(requests)
    var resolved: [(request: LineRequest, line: ResolvedLine)] = []
    for request in requests {
      switch resolve(request.address) {
      case .success(let line): resolved.append((request, line))
      case .failure(let reason):
        problems.append(
          .init(reason.kind, signal: request.signal, address: request.address, LineClaims.prefix(request) + reason.text)
        )
      }
    }
    problems += LineClaims.duplicateLines(resolved)
    guard problems.isEmpty else { throw GPIOError(problems) }

    try state.withLock { (state) throws(GPIOError) in
      guard state.phase == .idle else {
        throw GPIOError(.init(.wrongState, "GPIO lines are already claimed; stop before claiming again"))
      }
      for (request, line) in resolved {
        switch request {
        case .input(let input):
          let level = state.driven[line] ?? (input.bias == .pullUp)
          let claimed = Input(
            signal: input.signal, activeLow: input.activeLow, bias: input.bias,
            debouncer: EdgeDebouncer(period: input.debounce, initial: level != input.activeLow))
          state.claims[line] = .input(claimed)
        case .output(let output):
          state.claims[line] = .output(
            Output(signal: output.signal, activeLow: output.activeLow, level: output.initial != output.activeLow))
        }
        state.lineOfSignal[request.signal] = line
      }
      state.phase = .claimed
    }
  }

  public func readInputs() throws(GPIOError) -> [String: Bool] {
    try state.withLock { (state) throws(GPIOError) in
      guard state.phase != .idle else { throw GPIOError(.init(.wrongState, "no GPIO lines are claimed")) }
      var values: [String: Bool] = [:]
      for (line, claim) in state.claims {
        guard case .input(let input) = claim else { continue }
        values[input.signal] = state.physicalLevel(line) != input.activeLow
      }
      return values
    }
  }

  public func set(signal: String, value: Bool) throws(GPIOError) {
    try state.withLock { (state) throws(GPIOError) in
      guard let line = state.lineOfSignal[signal], case .output(var output) = state.claims[line] else {
        throw GPIOError(.init(.unknownSignal, signal: signal, "signal '\(signal)' is not a claimed GPIO output"))
      }
      output.level = value != output.activeLow
      state.claims[line] = .output(output)
    }
  }

  /// Delivers queued edges before returning; with `.thread` also starts the timer thread.
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
      if debounceTimer == .thread {
        do throws(SystemError) {
          state.timer = try startTimerThread()
        } catch {
          throw GPIOError(
            .init(.system, errno: error.code, "cannot start the simulated board's timer thread: \(error)"))
        }
      }
      state.phase = .started
      state.onEdge = onEdge
      state.onLostEdges = onLostEdges
    }
    flush()
  }

  /// Reports `count` edges of input `signal` as lost, as a kernel whose queue overflowed
  /// would (nil: unknown how many, as libgpiod 1.x reports it). For tests of what the daemon
  /// does with lost edges. Throws for a signal that is not a claimed input.
  public func loseEdges(signal: String, count: Int?) throws(GPIOError) {
    let report = try state.withLock { (state) throws(GPIOError) -> (@Sendable (GPIOLostEdges) -> Void)? in
      guard let line = state.lineOfSignal[signal], case .input = state.claims[line] else {
        throw GPIOError(.init(.unknownSignal, signal: signal, "signal '\(signal)' is not a claimed GPIO input"))
      }
      return state.onLostEdges
    }
    report?(GPIOLostEdges(signal: signal, count: count, time: clock.now()))
  }

  public func stop() {
    let timer = state.withLock { state in
      defer {
        state.phase = .idle
        state.claims = [:]
        state.lineOfSignal = [:]
        state.outbox = []
        state.onEdge = nil
        state.onLostEdges = nil
        state.timer = nil
      }
      return state.timer
    }
    timer?.stop()
  }

  // MARK: Driving and observing

  /// Drives the line claimed by input `signal` so that it reads `value` (logical: for an
  /// active-low input `true` drives it low). Produces an edge if the level changes (through
  /// debounce). This is what `ganglion inject` does. Throws for a signal that is not a claimed
  /// input.
  public func drive(signal: String, value: Bool) throws(GPIOError) {
    try state.withLock { (state) throws(GPIOError) in
      guard let line = state.lineOfSignal[signal], case .input(let input) = state.claims[line] else {
        throw GPIOError(.init(.unknownSignal, signal: signal, "signal '\(signal)' is not a claimed GPIO input"))
      }
      state.drive(line, level: value != input.activeLow, at: clock.now())
    }
    afterDrive()
  }

  /// Drives a line to a physical level, claimed or not (an unclaimed line keeps the level for
  /// a later claim). Throws for an unknown chip or line, and for a line claimed as an output
  /// (the board drives that one).
  public func drive(address: GPIOLineAddress, level: Bool) throws(GPIOError) {
    let line: ResolvedLine
    switch resolve(address) {
    case .success(let resolved): line = resolved
    case .failure(let reason): throw GPIOError(.init(reason.kind, address: address, "\(address): \(reason.text)"))
    }
    try state.withLock { (state) throws(GPIOError) in
      if case .output(let output) = state.claims[line] {
        throw GPIOError(
          .init(
            .wrongState, signal: output.signal, address: address,
            "\(address) is an output claimed by '\(output.signal)'; it cannot be driven from outside"))
      }
      state.drive(line, level: level, at: clock.now())
    }
    afterDrive()
  }

  /// The physical level of a line: for a claimed output what it drives, otherwise what an
  /// input would read (see the physical model above). Nil for an unknown chip or line.
  public func level(_ address: GPIOLineAddress) -> Bool? {
    guard case .success(let line) = resolve(address) else { return nil }
    return state.withLock { $0.physicalLevel(line) }
  }

  /// The earliest debounce deadline waiting, if any: when `pump()` next has work.
  public var nextDeadline: Timestamp? {
    state.withLock { state in state.nextDeadline }
  }

  /// Settles the debounced changes due at `clock.now()` and delivers them (if started).
  /// Call it after moving a `ManualClock` forward; the `.thread` timer calls it itself.
  public func pump() {
    let now = clock.now()
    state.withLock { state in
      for (line, claim) in state.claims {
        guard case .input(var input) = claim, input.debouncer.deadline.map({ $0 <= now }) == true else { continue }
        if let change = input.debouncer.due(now: now) {
          state.outbox.append(GPIOEdge(signal: input.signal, value: change.value, time: change.time))
        }
        state.claims[line] = .input(input)
      }
      // Several lines may settle in one pump: deliver in the order the changes happened.
      state.outbox.sort { $0.time < $1.time }
    }
    flush()
  }

  // MARK: Internals

  private struct Input: Sendable {
    var signal: String
    var activeLow: Bool
    var bias: GPIOBiasSetting
    var debouncer: EdgeDebouncer
  }

  private struct Output: Sendable {
    var signal: String
    var activeLow: Bool
    /// The physical level driven.
    var level: Bool
  }

  private enum Claim: Sendable {
    case input(Input)
    case output(Output)
  }

  private enum Phase: Sendable {
    case idle, claimed, started
  }

  private struct State: Sendable {
    var phase = Phase.idle
    /// Levels set from outside with `drive`; a line not here is undriven.
    var driven: [ResolvedLine: Bool] = [:]
    var claims: [ResolvedLine: Claim] = [:]
    var lineOfSignal: [String: ResolvedLine] = [:]
    var onEdge: (@Sendable (GPIOEdge) -> Void)?
    var onLostEdges: (@Sendable (GPIOLostEdges) -> Void)?
    /// Edges waiting for delivery: those since `claim` until `start`, and those another
    /// thread is delivering. Bounded: past `outboxLimit` the oldest are dropped (the
    /// kernel's event queue is bounded too).
    var outbox: [GPIOEdge] = []
    var delivering = false
    /// The `.thread` timer while started.
    var timer: TimerLoop?

    static let outboxLimit = 4096

    func physicalLevel(_ line: ResolvedLine) -> Bool {
      switch claims[line] {
      case .output(let output): return output.level
      case .input(let input): return driven[line] ?? (input.bias == .pullUp)
      case nil: return driven[line] ?? false
      }
    }

    var nextDeadline: Timestamp? {
      claims.values.compactMap { claim -> Timestamp? in
        guard case .input(let input) = claim else { return nil }
        return input.debouncer.deadline
      }.min()
    }

    /// Sets an outside level; a change on a claimed input feeds its debouncer.
    mutating func drive(_ line: ResolvedLine, level: Bool, at now: Timestamp) {
      let before = physicalLevel(line)
      driven[line] = level
      guard level != before, case .input(var input) = claims[line] else { return }
      if let change = input.debouncer.edge(to: level != input.activeLow, at: now) {
        outbox.append(GPIOEdge(signal: input.signal, value: change.value, time: change.time))
        if outbox.count > Self.outboxLimit { outbox.removeFirst(outbox.count - Self.outboxLimit) }
      }
      claims[line] = .input(input)
    }
  }

  /// A resolution failure: its kind and the reason, without the signal/address prefix.
  private struct Unresolved: Error {
    var kind: GPIOError.Problem.Kind
    var text: String
  }

  private func chipName(for description: String) -> String? {
    if chips[description] != nil { return description }
    if description.hasPrefix("/dev/"), chips[String(description.dropFirst(5))] != nil {
      return String(description.dropFirst(5))
    }
    if let number = Int(description), number >= 0, chips["gpiochip\(number)"] != nil { return "gpiochip\(number)" }
    return nil
  }

  private func resolve(_ address: GPIOLineAddress) -> Result<ResolvedLine, Unresolved> {
    guard let chip = chipName(for: address.chip), let count = chips[chip] else {
      let known = chips.keys.sorted()
      return .failure(
        Unresolved(
          kind: .unknownChip,
          text: "no such chip; the simulated board has \(known.isEmpty ? "no chips" : known.joined(separator: ", "))"
            + Spelling.suggestion(for: address.chip, in: known)))
    }
    switch address.line {
    case .offset(let offset):
      guard offset >= 0, offset < count else {
        return .failure(
          Unresolved(kind: .unknownLine, text: "no such line; \(chip) has lines 0-\(count - 1)"))
      }
      return .success(ResolvedLine(chipName: chip, offset: offset))
    case .name(let name):
      let names = lineNames[chip] ?? [:]
      guard let offset = names.filter({ $0.value == name && $0.key < count }).keys.min() else {
        return .failure(
          Unresolved(
            kind: .unknownLine,
            text: "no line named '\(name)' on \(chip)" + Spelling.suggestion(for: name, in: names.values)))
      }
      return .success(ResolvedLine(chipName: chip, offset: offset))
    }
  }

  /// Delivers queued edges in order, outside the lock. One caller delivers at a time;
  /// others (including `onEdge` calling back into the board) only queue.
  private func flush() {
    while true {
      let next = state.withLock { state -> (GPIOEdge, @Sendable (GPIOEdge) -> Void)? in
        guard state.phase == .started, !state.delivering, !state.outbox.isEmpty, let onEdge = state.onEdge else {
          return nil
        }
        state.delivering = true
        return (state.outbox.removeFirst(), onEdge)
      }
      guard let (edge, onEdge) = next else { return }
      onEdge(edge)
      state.withLock { $0.delivering = false }
    }
  }

  private func afterDrive() {
    flush()
    state.withLock { $0.timer }?.waker.wake()
  }

  /// Called with the state locked: the thread's first look at `nextDeadline` waits for it.
  private func startTimerThread() throws(SystemError) -> TimerLoop {
    let loop = try TimerLoop()
    let clock = self.clock
    try loop.run { [weak self] () -> Int32 in
      guard let self, let deadline = self.nextDeadline else { return -1 }
      let wait = (deadline - clock.now()).microseconds
      return wait <= 0 ? 0 : Int32(clamping: (wait + 999) / 1000)
    } onWake: { [weak self] in
      self?.pump()
    }
    return loop
  }
}

/// The simulated board's `.thread` timer: a thread that polls a wake pipe with the timeout
/// its owner computes, then calls `onWake`, until stopped.
final class TimerLoop: Sendable {
  private let worker: StoppableThread
  var waker: WakePipe { worker.waker }

  init() throws(SystemError) { worker = try StoppableThread(name: "simulated board timer") }

  func run(
    timeoutMilliseconds: @escaping @Sendable () -> Int32, onWake: @escaping @Sendable () -> Void
  ) throws(SystemError) {
    let worker = self.worker
    try worker.start {
      var pollSet = PollSet(descriptors: [worker.waker.readDescriptor])
      while !worker.isStopping {
        // A poll failure here can only be a programming error (EFAULT/EINVAL); stop the timer.
        guard (try? pollSet.wait(timeoutMilliseconds: timeoutMilliseconds())) != nil else { return }
        worker.waker.drain()
        if worker.isStopping { return }
        onWake()
      }
    }
  }

  /// Ends the thread: joins it, unless called from it (then it ends after `onWake` returns).
  func stop() { worker.stop() }
}
