import GanglionCore
import GanglionGPIO
import GanglionLog
import GanglionRules
import GanglionSystem
import Logging
import Synchronization

/// The daemon's one-way flow: inputs -> engine -> (log, GPIO outputs, broker). It runs on one
/// dedicated thread (`run()`), which owns the engine and the log writer; other threads
/// `submit` inputs to its bounded queue. The one exception is the MQTT network thread, which
/// handles a message itself when the pipeline is idle (Pipeline+InlineMQTT.swift). Either
/// way one thread at a time holds `worker`, and inputs are handled in the order they arrived.
///
/// Its parts: `InboundMQTT` (what a message means), `EventPublication` (an event's
/// messages) and `BrokerDelivery`/`Outbox` (getting them to the broker), `DaemonStateFiles`
/// (what survives a restart beside the log), `StatusBoard` (`/status`, `/metrics`).
///
/// Test seam: `turn(_:)` is one pass of the loop without the wait, so a test drives the
/// pipeline on a `ManualClock` with a simulated board and a recording publisher, the way
/// NIOEmbedded drives a channel.
final class Pipeline: @unchecked Sendable {
  struct Settings {
    var loaded: LoadedConfiguration
    var simulate: Bool
    var printEvents: Bool
  }

  /// Inputs waiting for the pipeline; producers never block. When it is full, the newest
  /// reading of each value signal (and the connection's newest state) waits in a slot of its
  /// own, replacing older ones; other inputs are dropped and counted (`submit`). At most
  /// 4096 inputs plus one per signal wait.
  let inbox = CoalescingQueue<InputKey, PipelineInput>(capacity: 4096)
  /// The signals whose every event matters (an `on` rule fires on them): their readings are
  /// not coalesced. Changed by reloads, read by the input threads.
  let everyEventSignals: Mutex<Set<String>>
  let status: StatusBoard
  let tail = LiveTail()

  var settings: Settings
  var config: Config { settings.loaded.config }
  let clock: any WallClock
  let monotonic: any MonotonicClock
  let logger: Logger
  let engine: Engine
  let log: EventLog
  private let gpio: any GPIOBackend
  private let watchdog: Watchdog?
  /// Nil without an `mqtt:` section.
  let delivery: BrokerDelivery?
  let inbound: InboundMQTT
  let stateFiles: DaemonStateFiles
  let syncMode: LogSync
  /// Monotonic µs of the next look at the log's sync and the state files.
  var nextSyncCheck: Int64 = 0
  var nextStateSave: Int64 = 0
  var deadLetterLines = LogLineRateLimit()
  /// `--print-events`: the lines, which say when an event's time is out of order.
  var printedLines = EventLines()
  var lostEdgeLines = LogLineRateLimit()
  /// The pulse counters among the GPIO inputs, and the edges each counts.
  let gpioCounters: [String: GPIOEdgeCount]
  /// Pulses counted while the input queue was full, per counter, with the newest one's time:
  /// taken by `.gpioPulses`, so no pulse is lost to overload.
  let overflowPulses = Mutex<[String: (count: Int, time: Timestamp)]>([:])
  /// Which dead letters are recorded in the log (rate-limited per topic).
  var deadLetterGate = DeadLetterGate()
  /// Daemon log lines about refused publishes: per rule for invalid topics, one for the
  /// client's refusals (bounded by the rules' names).
  var publishRefusalLines: [String: LogLineRateLimit] = [:]
  var clientRefusalLines = LogLineRateLimit()
  /// Set while refusals are being recorded (recording one announces it, which pumps again).
  var recordingPublishFailures = false
  var reportedLogFailure = false
  var reportedRetentionFailure = false
  /// Held while the pipeline works: by its own thread for each turn, or by the MQTT thread
  /// for a message it runs inline. Everything the pipeline owns is touched only under it.
  let worker = WorkLock()
  /// True while `run()` is running and `sync` is not `always`.
  var inlineAllowed = false
  /// Set when the log became unusable (fsync error): the daemon exits non-zero.
  private(set) var fatalFailure: String?
  /// Set by `requestStop` (SIGTERM), from any thread: the loop ends at its next look, however
  /// full the queue.
  private let stopRequested = Atomic<Bool>(false)

  /// - Parameters:
  ///   - monotonic: for intervals and rate limits; `run()` also waits on the system's
  ///     monotonic clock, so only `SystemMonotonicClock` runs the loop (tests call `turn`).
  ///   - watchdog: nil when nothing pings systemd.
  init(
    settings: Settings, clock: any WallClock, monotonic: any MonotonicClock = SystemMonotonicClock(),
    logger: Logger, log: EventLog, gpio: any GPIOBackend, watchdog: Watchdog? = nil
  ) {
    self.settings = settings
    self.clock = clock
    self.monotonic = monotonic
    self.logger = logger
    self.log = log
    self.gpio = gpio
    self.watchdog = watchdog
    let config = settings.loaded.config
    stateFiles = DaemonStateFiles(directory: log.directory, clock: monotonic, logger: logger)
    delivery =
      config.mqtt == nil
      ? nil : BrokerDelivery(config: config, log: log, deliveredSeq: stateFiles.readDeliveredSeq(), logger: logger)
    inbound = InboundMQTT(config: config)
    var counters: [String: GPIOEdgeCount] = [:]
    for signal in config.signals {
      if case .gpio(let gpio) = signal.source, let count = gpio.count { counters[signal.name] = count }
    }
    gpioCounters = counters
    everyEventSignals = Mutex(settings.loaded.rules.signalsWithEveryEventRead)
    syncMode = config.log.sync
    let start = clock.now()
    engine = Engine(
      rules: settings.loaded.rules, signals: config.catalog,
      context: EngineContext(
        device: config.device, prefix: config.mqtt?.prefix, startTime: start, timeZone: clock.timeZone))
    status = StatusBoard(
      StatusBoard.Snapshot(
        device: config.device, startTime: start, simulated: settings.simulate,
        declaredSignals: config.signals.map(\.name), rules: settings.loaded.rules.names,
        mqttURL: config.mqtt.map { "\($0.useTLS ? "mqtts" : "mqtt")://\($0.host):\($0.port)" },
        logDirectory: settings.loaded.logDirectory, nextSeq: log.nextSeq))
    status.update { $0.gpioLibrary = settings.simulate ? "simulated board" : HardwareGPIO.libraryDescription }
  }

  /// Offers an input from any thread without blocking. When the queue is full, a reading of
  /// a value signal (an MQTT message is read into its readings first) waits in its signal's
  /// slot, where a newer one replaces it (counted in `inputsCoalesced`), and the connection's
  /// state in one of its own; a pulse counter's pulses add up until it has room again (none
  /// is lost); anything else, readings of signals an `on` rule fires on included, is
  /// dropped: false, counted, and said in the log at most every 10 s.
  @discardableResult
  func submit(_ input: PipelineInput) -> Bool {
    if case .gpioEdge(let edge) = input, let count = gpioCounters[edge.signal] {
      return submitPulse(edge, countedBy: count)
    }
    if inbox.offer(input) { return true }
    switch input {
    case .reading(let reading):
      return coalesce(reading)
    case .mqttMessage(let message):
      var kept = true
      for outcome in inbound.interpret(message, at: clock.now()) {
        switch outcome {
        case .reading(let reading): kept = coalesce(reading) && kept
        case .ignored: status.update { $0.counters.ignoredMessages += 1 }
        case .rejected:
          noteDroppedInput()
          kept = false
        }
      }
      return kept
    case .mqttState:
      return inbox.offer(input, coalescingBy: .connection) != .refused || noteDroppedInput()
    case .gpioEdge(let edge):
      // A signal an `on` rule fires on needs every edge: those are dropped and counted; a
      // plain GPIO input's newest level waits in its slot.
      if everyEventSignals.withLock({ $0.contains(edge.signal) }) { return noteDroppedInput() }
      switch inbox.offer(input, coalescingBy: .signal(edge.signal)) {
      case .queued: return true
      case .replaced:
        status.update { $0.counters.inputsCoalesced += 1 }
        return true
      case .refused: return noteDroppedInput()
      }
    case .gpioPulses, .gpioLostEdges, .applyRules, .stop:
      return noteDroppedInput()
    }
  }

  /// A pulse counter's edge: one input per counted edge while the queue has room; past that
  /// the pulses add up in `overflowPulses` and one `.gpioPulses` input waits in the counter's
  /// slot to take them. An edge the counter does not count is not queued.
  private func submitPulse(_ edge: GPIOEdge, countedBy count: GPIOEdgeCount) -> Bool {
    guard count.counts(changeTo: edge.value) else { return true }
    if inbox.offer(.gpioEdge(edge)) { return true }
    overflowPulses.withLock { pending in
      let waiting = pending[edge.signal]?.count ?? 0
      pending[edge.signal] = (waiting + 1, edge.time)
    }
    if inbox.offer(.gpioPulses(signal: edge.signal), coalescingBy: .signal(edge.signal)) == .replaced {
      status.update { $0.counters.inputsCoalesced += 1 }
    }
    // Refused only when the queue is closed (stopping) or out of slots: the pulses still
    // wait in `overflowPulses` for the counter's next input.
    return true
  }

  /// A reading offered to a full queue: it waits in its signal's slot, unless every event of
  /// the signal matters.
  private func coalesce(_ reading: Reading) -> Bool {
    if everyEventSignals.withLock({ $0.contains(reading.signal) }) { return noteDroppedInput() }
    switch inbox.offer(.reading(reading), coalescingBy: .signal(reading.signal)) {
    case .queued: return true
    case .replaced:
      status.update { $0.counters.inputsCoalesced += 1 }
      return true
    case .refused: return noteDroppedInput()
    }
  }

  /// Counts an input that could not be queued and says so at most every 10 s; false.
  @discardableResult
  private func noteDroppedInput() -> Bool {
    let now = monotonic.nowMicroseconds()
    let report = status.update { s -> UInt64? in
      s.counters.inputQueueDrops += 1
      return s.inputDropLines.admit(now: now).admitted ? s.counters.inputQueueDrops : nil
    }
    if let report {
      logger.warning(
        "the daemon is overloaded: its input queue (\(inbox.capacity)) is full, inputs are dropped (\(report) so far)")
    }
    return false
  }

  // MARK: The loop

  /// Asks the loop to end (SIGTERM), from any thread, without waiting for room in the queue:
  /// the loop handles the inputs queued by then and stops.
  func requestStop() {
    stopRequested.store(true, ordering: .sequentiallyConsistent)
    inbox.wake()
  }

  var isStopRequested: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

  /// Runs until `.stop` arrives, `requestStop` is called or the log fails. Blocks the calling
  /// (dedicated) thread.
  func run() {
    worker.lock()
    // With `sync: always` every event waits for an fdatasync, which must not hold up the MQTT
    // network thread; the hand-off to this thread costs nothing next to it.
    inlineAllowed = syncMode != .always
    while fatalFailure == nil {
      if isStopRequested {
        handleQueuedInputs()
        break
      }
      let wakeAt = nextWake()
      // Inline runs may happen while this thread waits; they wake it when they change what
      // it waits for (an earlier timer, a failure, events to read back).
      worker.unlock()
      let readiness = inbox.wait(until: wakeAt)
      worker.lock()
      if fatalFailure != nil { break }  // set by an inline run meanwhile
      if isStopRequested { continue }
      let input = inbox.poll()
      if case .stop? = input { break }
      if input == nil, readiness == .closed { break }
      turn(input)
    }
    inlineAllowed = false
    shutDown()
    worker.unlock()
  }

  /// After a stop request: handles the inputs that were queued when it came (they were
  /// accepted, an HTTP caller may have been told so), but no more than were there: a flood
  /// arriving meanwhile does not hold the stop up.
  private func handleQueuedInputs() {
    var remaining = inbox.depth
    while remaining > 0, fatalFailure == nil, let input = inbox.poll() {
      remaining -= 1
      if case .stop = input { return }
      turn(input)
    }
  }

  /// One pass of the loop, without the wait: the input (if any), then due timers, broker
  /// acknowledgements, events read back from the log, the log's sync and the state files,
  /// the watchdog. Call with `worker` held (tests: from one thread, `run()` not running).
  func turn(_ input: PipelineInput?) {
    if let input { handle(input) }
    finishRound()
    delivery?.refill()
    recordPublishFailures()
    noteProgress()
    let now = monotonic.nowMicroseconds()
    syncIfDue(now: now)
    watchdog?.progress(now: now)
  }

  /// When the loop must look again at the latest (monotonic µs): the log's sync, the
  /// watchdog, the engine's next timer.
  private func nextWake() -> Int64 {
    let now = monotonic.nowMicroseconds()
    var wakeAt = min(nextSyncCheck, watchdog?.nextPingDue(now: now) ?? .max)
    if let deadline = engine.nextDeadline() {
      wakeAt = min(wakeAt, now + max(0, (deadline - clock.now()).microseconds))
    }
    return wakeAt
  }

  private func handle(_ input: PipelineInput) {
    switch input {
    case .reading(let reading): ingest(reading)
    case .gpioEdge(let edge): if let reading = reading(for: edge) { ingest(reading) }
    case .gpioPulses(let signal): if let reading = overflowReading(of: signal) { ingest(reading) }
    case .gpioLostEdges(let lost): handle(lost)
    case .mqttMessage(let message): handle(message)
    case .mqttState(let state): handle(state)
    case .applyRules(let prepared, let ticket):
      // A reload its callers gave up on (timed out) is cancelled: not applied late.
      if ticket.beginApplying() { ticket.finish(apply(prepared)) }
    case .stop: break
    }
  }

  /// After an input or a wake-up: due timers, broker acknowledgements, the outbox.
  func finishRound() {
    fireDueTimers()
    delivery?.takeAcknowledgements()
    delivery?.pump()
    recordPublishFailures()
  }

  /// Call after `run()` returned and the inputs (MQTT, GPIO) stopped: what arrived after the
  /// stop request is not handled (the log is closed); this says how many instead of losing
  /// them silently.
  func reportUnhandledInputs() {
    inbox.close()
    var count = 0
    while let input = inbox.poll() {
      switch input {
      case .reading, .mqttMessage, .gpioEdge, .gpioPulses, .gpioLostEdges: count += 1
      case .applyRules(_, let ticket):
        if ticket.beginApplying() {
          ticket.finish(
            ReloadOutcome(
              accepted: false, ruleCount: settings.loaded.rules.names.count,
              diagnostics: [Diagnostic(.error, at: nil, "the daemon stopped before the reload was applied")],
              time: clock.now()))
        }
      case .mqttState, .stop: break  // the connection closing, nothing a user sent
      }
    }
    if count > 0 {
      logger.notice(
        "\(count) input\(count == 1 ? "" : "s") arrived while stopping and \(count == 1 ? "was" : "were") not handled")
    }
  }

  // MARK: The engine

  func ingest(_ reading: Reading) {
    var recorded: [Event] = []
    let effects = engine.ingest(reading) { event in
      self.record(&event)
      recorded.append(event)
    }
    act(on: effects, recorded: recorded)
  }

  private func fireDueTimers() {
    let now = clock.now()
    guard let deadline = engine.nextDeadline(), deadline <= now else { return }
    var recorded: [Event] = []
    let effects = engine.advance(to: now) { event in
      self.record(&event)
      recorded.append(event)
    }
    act(on: effects, recorded: recorded)
  }

  /// After the engine: make the log durable if `sync: always`, drive the outputs the
  /// engine's `drive` effects name, and let the recorded events out (the broker, `/events`,
  /// the console). Rule `publish` actions reach MQTT as their recorded `publish` events,
  /// through the outbox, in seq order with everything else.
  private func act(on effects: [Effect], recorded: [Event]) {
    syncIfAlways()
    for case .drive(let signal, .bool(let on), _) in effects {
      do {
        try gpio.set(signal: signal, value: on)
      } catch {
        status.update { $0.counters.gpioWriteFailures += 1 }
        logger.error("cannot drive \(signal): \(error)")
      }
    }
    announce(recorded)
  }

  /// Lets recorded events out: to the broker, the status page, the live tail, the console.
  /// With `sync: always`, nothing leaves before it is on disk.
  func announce(_ events: [Event]) {
    syncIfAlways()
    for event in events {
      status.note(event)
      delivery?.enqueue(event)
      switch event.kind {
      case .log: logger.info("rule \(event.rule ?? "?"): \(event.value.plainText)")
      case .publish where event.publishRefusal != nil: notePublishRefusedByRule(event)
      case .system where event.systemEventName == .ruleLoop:
        logger.warning("rule loop stopped: \(JSON.encode(event.value))")
      case .system where event.systemEventName == .ruleBreaker:
        if case .ruleBreaker(let rule, let firings, let within, let paused)? = event.systemEvent {
          let hint = "a loop through the broker, such as a publish to the daemon's own set/ topic?"
          logger.warning("rule \(rule) fired \(firings) times within \(within) s: paused for \(paused) s (\(hint))")
        }
      default: break
      }
      if !tail.isEmpty { tail.broadcast(event.json(device: config.device)) }
      if settings.printEvents { print(printedLines.line(event)) }
    }
    if settings.printEvents { CurrentProcess.flushStandardOutput() }
    delivery?.pump()
    recordPublishFailures()
    noteProgress()
  }

  /// A rule's publish whose topic was invalid (nothing was sent): counted, and said in the
  /// daemon log at most once per 10 s per rule.
  private func notePublishRefusedByRule(_ event: Event) {
    status.update { $0.counters.invalidPublishTopics += 1 }
    let rule = event.rule ?? "?"
    let (admitted, heldBack) = publishRefusalLines[rule, default: LogLineRateLimit()].admit(
      now: monotonic.nowMicroseconds())
    guard admitted else { return }
    let held = heldBack > 0 ? " (\(heldBack) more since the last report)" : ""
    logger.warning(
      "rule \(rule): publish to \"\(TopicName.display(event.value["topic"]?.stringValue ?? ""))\" not sent (event #\(event.seq)): \(event.publishRefusal ?? "")\(held)"
    )
  }

  /// Records a `publish failed` system event for every message the MQTT client refused (its
  /// `cause` is the event whose message it was), so the log never says a refused message was
  /// sent; says so in the daemon log at most once per 10 s.
  func recordPublishFailures() {
    guard let delivery, !recordingPublishFailures else { return }
    recordingPublishFailures = true
    defer { recordingPublishFailures = false }
    while case let refusals = delivery.outbox.takeRefusals(), !refusals.isEmpty {
      for refusal in refusals {
        var event = Event(
          time: clock.now(), system: .publishFailed(topic: refusal.topic, error: refusal.reason), cause: refusal.seq)
        record(&event)
        announce([event])
        let (admitted, heldBack) = clientRefusalLines.admit(now: monotonic.nowMicroseconds())
        guard admitted else { continue }
        let held = heldBack > 0 ? " (\(heldBack) more since the last report)" : ""
        logger.warning(
          "the MQTT client refused a message of event #\(refusal.seq) to \"\(TopicName.display(refusal.topic))\": \(refusal.reason)\(held)"
        )
      }
    }
  }

  func fail(_ message: String) {
    guard fatalFailure == nil else { return }
    logger.critical("\(message); stopping so that systemd restarts the daemon")
    fatalFailure = message
  }

  private func shutDown() {
    record(system: .stop)
    delivery?.pump()
    saveState(final: true)
    do {
      try log.close()
    } catch {
      fail("cannot close the event log: \(error)")
    }
    tail.closeAll()
  }
}
