import GanglionCore
import GanglionGPIO
import GanglionLog
import GanglionRules
import GanglionSystem
import Logging

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

  /// Inputs waiting for the pipeline; producers never block (a full queue drops and counts).
  let inbox = BoundedQueue<PipelineInput>(capacity: 4096)
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
  var reportedLogFailure = false
  var reportedRetentionFailure = false
  /// Held while the pipeline works: by its own thread for each turn, or by the MQTT thread
  /// for a message it runs inline. Everything the pipeline owns is touched only under it.
  let worker = WorkLock()
  /// True while `run()` is running and `sync` is not `always`.
  var inlineAllowed = false
  /// Set when the log became unusable (fsync error): the daemon exits non-zero.
  private(set) var fatalFailure: String?

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

  /// Offers an input from any thread; false (and counted, and said in the log at most every
  /// 10 s) when the queue is full.
  @discardableResult
  func submit(_ input: PipelineInput) -> Bool {
    if inbox.offer(input) { return true }
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

  /// Runs until `.stop` arrives or the log fails. Blocks the calling (dedicated) thread.
  func run() {
    worker.lock()
    // With `sync: always` every event waits for an fdatasync, which must not hold up the MQTT
    // network thread; the hand-off to this thread costs nothing next to it.
    inlineAllowed = syncMode != .always
    while fatalFailure == nil {
      let wakeAt = nextWake()
      // Inline runs may happen while this thread waits; they wake it when they change what
      // it waits for (an earlier timer, a failure, events to read back).
      worker.unlock()
      let readiness = inbox.wait(until: wakeAt)
      worker.lock()
      if fatalFailure != nil { break }  // set by an inline run meanwhile
      let input = inbox.poll()
      if case .stop? = input { break }
      if input == nil, readiness == .closed { break }
      turn(input)
    }
    inlineAllowed = false
    shutDown()
    worker.unlock()
  }

  /// One pass of the loop, without the wait: the input (if any), then due timers, broker
  /// acknowledgements, events read back from the log, the log's sync and the state files,
  /// the watchdog. Call with `worker` held (tests: from one thread, `run()` not running).
  func turn(_ input: PipelineInput?) {
    if let input { handle(input) }
    finishRound()
    delivery?.refill()
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
    case .gpioLostEdges(let lost): handle(lost)
    case .mqttMessage(let message): handle(message)
    case .mqttState(let state): handle(state)
    case .reload(let reply): reply.put(reload())
    case .stop: break
    }
  }

  /// After an input or a wake-up: due timers, broker acknowledgements, the outbox.
  func finishRound() {
    fireDueTimers()
    delivery?.takeAcknowledgements()
    delivery?.pump()
  }

  /// Call after `run()` returned and the inputs (MQTT, GPIO) stopped: what arrived after the
  /// stop request is not handled (the log is closed); this says how many instead of losing
  /// them silently.
  func reportUnhandledInputs() {
    inbox.close()
    var count = 0
    while let input = inbox.poll() {
      switch input {
      case .reading, .mqttMessage, .gpioEdge, .gpioLostEdges: count += 1
      case .mqttState, .reload, .stop: break  // the connection closing, nothing a user sent
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
      case .system where event.systemEventName == .ruleLoop:
        logger.warning("rule loop stopped: \(JSON.encode(event.value))")
      default: break
      }
      if !tail.isEmpty { tail.broadcast(event.json(device: config.device)) }
      if settings.printEvents { print(printedLines.line(event)) }
    }
    if settings.printEvents { CurrentProcess.flushStandardOutput() }
    delivery?.pump()
    noteProgress()
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
