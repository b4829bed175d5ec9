import GanglionCore
import GanglionGPIO
import GanglionLog
import GanglionMQTT
import GanglionRules
import GanglionSystem
import Logging

/// The daemon's one-way flow: inputs -> engine -> (log, GPIO outputs, MQTT). It runs on one
/// dedicated thread (`run()`), which owns the engine and the log writer; other threads
/// `submit` inputs to its bounded queue. The one exception is the MQTT network thread, which
/// runs a message itself (`handleOrQueue`) when the pipeline is idle and nothing is queued, so
/// that an answer leaves in the same thread that received the question. Either way one
/// thread at a time holds `worker`, and inputs are handled in the order they arrived.
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

  private var settings: Settings
  private var config: Config { settings.loaded.config }
  private let clock: any WallClock
  private let logger: Logger
  private let engine: Engine
  private let log: EventLog
  private let gpio: any GPIOBackend
  private var mqtt: MQTTClient?
  private let routing: MQTTRouting
  private let prefix: String
  private let qos: Int
  private let device: String
  /// Whether the config has an `mqtt:` section (read per event, so kept apart from `config`).
  private let mqttEnabled: Bool
  /// `<prefix>/set/` when `mqtt.commands` is on.
  private let commandPrefix: String?
  private let syncMode: LogSyncMode
  /// `mqtt.publish`: which mirror topics each event goes to.
  private let mirrors: MQTTPublishedTopics
  /// Topics per signal and per rule; bounded by the config's signals and the rules' names.
  private var signalTopicCache: [String: (events: String, state: String)] = [:]
  private var firedTopicCache: [String: String] = [:]
  private var lastDeadLetterLog: Int64 = 0
  private var suppressedDeadLetterLogs = 0
  private var reportedLogFailure = false
  private let watchdog: Watchdog
  /// Logged events on their way to the broker.
  let outbox: Outbox
  /// Broker acknowledgements, from libmosquitto's thread.
  let acknowledgements = AcknowledgementBox()
  private let deliveredFile: LogStateFile
  private let timersFile: LogStateFile
  private var savedDeliveredSeq: UInt64
  /// Held while the pipeline works: by its own thread for each round, or by the MQTT thread
  /// for a message it runs inline (`handleOrQueue`). Everything below is touched only under it.
  private let worker = WorkLock()
  /// True while `run()` is running and `sync` is not `always`.
  private var inlineAllowed = false
  /// The seq of each signal's newest event in this run (bounded by the config's signals).
  private var latestSignalSeq: [String: UInt64] = [:]
  /// Why the outbox could not read the log last time (reported once).
  private var outboxReadFailure: String?
  private var savedTimerRevision: UInt64 = 0
  private var lastDeliveredSave: Int64 = 0
  /// The state file that failed last, so a full disk is reported once, not every sync.
  private var stateFileFailure: String?
  /// Set when the log became unusable (fsync error): the daemon exits non-zero.
  private(set) var fatalFailure: String?

  init(
    settings: Settings, clock: any WallClock, logger: Logger, log: EventLog, gpio: any GPIOBackend,
    watchdog: Watchdog
  ) {
    self.settings = settings
    self.clock = clock
    self.logger = logger
    self.log = log
    self.gpio = gpio
    self.watchdog = watchdog
    let config = settings.loaded.config
    deliveredFile = LogStateFile(directory: log.directory, name: "mqtt-delivered.seq")
    timersFile = LogStateFile(directory: log.directory, name: "timers.json")
    // Without a record of what the broker has, start with new events only (a broker added
    // to the config must not be flooded with old history).
    let delivered = (try? deliveredFile.read()).flatMap { UInt64($0.trimmingASCIIWhitespace()) }
    savedDeliveredSeq = delivered ?? (log.nextSeq - 1)
    outbox = Outbox(capacity: config.mqtt?.outbox ?? 10_000, deliveredSeq: savedDeliveredSeq)
    prefix = config.mqtt?.prefix ?? "ganglion/\(config.device)"
    qos = config.mqtt?.qos ?? 1
    device = config.device
    mqttEnabled = config.mqtt != nil
    commandPrefix = config.mqtt?.commands == true ? "\(prefix)/set/" : nil
    syncMode = config.log.sync
    mirrors = config.mqtt?.publish ?? MQTTPublishedTopics()
    routing = MQTTRouting(config: config)
    let start = clock.now()
    engine = Engine(
      rules: settings.loaded.rules, signals: config.catalog,
      context: EngineContext(
        device: config.device, prefix: prefix, startTime: start,
        utcOffset: { [clock] in clock.utcOffsetSeconds(at: $0) }))
    status = StatusBoard(
      StatusBoard.Snapshot(
        device: config.device, startTime: start, simulated: settings.simulate,
        rules: settings.loaded.rules.names,
        mqttURL: config.mqtt.map { "\($0.useTLS ? "mqtts" : "mqtt")://\($0.host):\($0.port)" },
        logDirectory: settings.loaded.logDirectory, nextSeq: log.nextSeq))
  }

  /// Offers an input; false (and counted) when the queue is full.
  @discardableResult
  func submit(_ input: PipelineInput) -> Bool {
    if inbox.offer(input) { return true }
    let now = SystemMonotonicClock.nowMicroseconds()
    let report = status.update { s -> UInt64? in
      s.counters.inputQueueDrops += 1
      // Said in the log at most every 10 s, with the total so far.
      guard now - s.lastInputDropReport >= 10_000_000 else { return nil }
      s.lastInputDropReport = now
      return s.counters.inputQueueDrops
    }
    if let report {
      logger.warning(
        "the daemon is overloaded: its input queue (\(inbox.capacity)) is full, inputs are dropped (\(report) so far)")
    }
    return false
  }

  // MARK: Start-up

  /// Records the start-up state without firing rules (rules.md "Restart is not a trigger"):
  /// the `start` event, restored `persist` values, outputs at `initial`, inputs read once.
  func startUp(initialInputs: [String: Bool], restored: [String: Value]) {
    enqueueBacklog()
    let now = clock.now()
    recordSystem([
      "event": "start", "simulated": .bool(settings.simulate),
      "rules": .number(Double(settings.loaded.rules.names.count)),
    ])
    // Outputs were driven first (to `initial`, or their persisted value), then inputs read.
    let order: [SignalRole] = [.output, .input, .virtual]
    for role in order {
      for signal in config.signals where signal.role == role {
        let value: Value?
        if let persisted = restored[signal.name] {
          value = persisted
        } else if case .gpio(let gpio) = signal.source {
          value = gpio.isOutput ? .bool(gpio.initial) : initialInputs[signal.name].map(Value.bool)
        } else {
          value = signal.initial
        }
        guard let value else { continue }
        engine.restore(signal: signal.name, value: value, time: now)
        var event = Event(time: now, kind: .signal, signal: signal.name, value: value, source: .system)
        record(&event)
        afterRecording([event])
      }
    }
    resumeTimers()
    syncIfAlways()
  }

  /// Events logged before a restart that the broker never acknowledged: they are read back
  /// from the log and sent again, oldest first (subscribers dedupe by `id`); while the broker
  /// is unreachable the newest `mqtt.outbox` of them are kept.
  private func enqueueBacklog() {
    guard config.mqtt != nil, outbox.deliveredSeq + 1 < log.nextSeq else { return }
    // Counted by reading them: seqs have gaps (a crash skips the rest of a reserved block).
    var count = 0
    do {
      let cursor = try LogReader(directory: log.directory).cursor(
        fromSeq: outbox.deliveredSeq + 1, toSeq: log.nextSeq - 1)
      while let event = try cursor.next() {
        if !keptForBroker(messages(for: event), live: false).isEmpty { count += 1 }
      }
    } catch {
      logger.error("cannot read unsent events from the log: \(error)")
      return
    }
    outbox.resume(fromSeq: outbox.deliveredSeq + 1, toSeq: log.nextSeq - 1, events: count)
    if count > 0 { logger.notice("\(count) logged events were not acknowledged by the broker; sending them again") }
  }

  /// Reads events that wait in the log only back into the outbox (on the pipeline's own
  /// thread: it reads files).
  private func refillOutbox() {
    guard outbox.wantsRefill, let from = outbox.spilledFrom else { return }
    do {
      try log.writeBuffered()  // the newest records become readable
      let cursor = try LogReader(directory: log.directory).cursor(fromSeq: from, toSeq: log.nextSeq - 1)
      var batch: [(seq: UInt64, messages: [MQTTMessage])] = []
      let limit = outbox.refillLimit
      while batch.count < limit, let event = try cursor.next() {
        batch.append((event.seq, keptForBroker(messages(for: event), live: false)))
      }
      // Caught up with the log when it had fewer than asked for.
      outbox.refill(batch, readUpTo: batch.count < limit ? log.nextSeq - 1 : nil)
    } catch {
      if outboxReadFailure == nil { logger.error("cannot read unsent events back from the log: \(error)") }
      outboxReadFailure = "\(error)"
      return
    }
    outboxReadFailure = nil
    outbox.pump(mqtt)
    noteProgress()
  }

  /// Resumes the `for`/`after` countdowns that were running when the daemon stopped
  /// (rules.md: a countdown whose deadline passed fires now, with `late: true`).
  private func resumeTimers() {
    do {
      guard let text = try timersFile.read(), case .array(let items) = try JSON.parse(text) else { return }
      let saved = items.compactMap(PendingTimer.init(jsonValue:))
      for timer in engine.restoreTimers(saved) {
        logger.notice("the countdown of rule \(timer.rule) was not resumed: the rule changed or is gone")
      }
      savedTimerRevision = engine.timerRevision
    } catch {
      logger.error("cannot read the saved countdowns: \(error)")
    }
  }

  /// Saves what must survive a restart beside the log: the running countdowns (whenever they
  /// change) and the outbox position (at most every 30 s, and at a clean stop: a stale
  /// position only means some events are sent again, which subscribers dedupe, and it
  /// spares the SD card three fsyncs a second). Called when the log syncs; failures are
  /// logged, not fatal.
  private func saveState(final: Bool = false) {
    var failure: String?
    let now = SystemMonotonicClock.nowMicroseconds()
    let saveDelivered =
      outbox.deliveredSeq != savedDeliveredSeq && (final || now - lastDeliveredSave >= 30_000_000)
    let attempted = saveDelivered || engine.timerRevision != savedTimerRevision
    guard attempted else { return }
    if saveDelivered {
      lastDeliveredSave = now
      do {
        try deliveredFile.write("\(outbox.deliveredSeq)\n")
        savedDeliveredSeq = outbox.deliveredSeq
      } catch {
        failure = "cannot save the MQTT outbox position: \(error)"
      }
    }
    if engine.timerRevision != savedTimerRevision {
      do {
        try timersFile.write(JSON.encode(.array(engine.pendingTimers.map(\.jsonValue))))
        savedTimerRevision = engine.timerRevision
      } catch {
        failure = "cannot save the running countdowns: \(error)"
      }
    }
    if let failure, stateFileFailure == nil {
      logger.error("\(failure) (reported once until it works again)")
    } else if failure == nil, stateFileFailure != nil {
      logger.notice("state files beside the log are written again")
    }
    stateFileFailure = failure
  }

  // MARK: The loop

  /// Runs until `.stop` arrives or the log fails. Blocks the calling (dedicated) thread.
  func run() {
    var nextSync = SystemMonotonicClock.nowMicroseconds() + syncInterval
    worker.lock()
    // With `sync: always` every event waits for an fdatasync, which must not hold up the MQTT
    // network thread; the hand-off to this thread costs nothing next to it.
    inlineAllowed = syncMode != .always
    loop: while fatalFailure == nil {
      let monotonicNow = SystemMonotonicClock.nowMicroseconds()
      var wakeAt = min(nextSync, watchdog.nextPingDue(now: monotonicNow))
      if let deadline = engine.nextDeadline {
        let wallDelta = (deadline - clock.now()).microseconds
        wakeAt = min(wakeAt, monotonicNow + max(0, wallDelta))
      }
      // Inline runs (`handleOrQueue`) may happen while this thread waits; they wake it when
      // they change what it waits for (an earlier timer, a failure).
      worker.unlock()
      let readiness = inbox.wait(until: wakeAt)
      worker.lock()
      if fatalFailure != nil { break loop }  // set by an inline run meanwhile
      if let input = inbox.poll() {
        if case .stop = input { break loop }
        handle(input)
      } else if readiness == .closed {
        break loop
      }
      finishRound()
      refillOutbox()
      let now = SystemMonotonicClock.nowMicroseconds()
      if now >= nextSync {
        syncLog()
        nextSync = now + syncInterval
      }
      watchdog.progress(now: now)
    }
    inlineAllowed = false
    shutDown()
    worker.unlock()
  }

  /// For the MQTT network thread: handles `message` on the calling thread when the pipeline
  /// is idle and nothing is queued ahead of it, which spares each message two thread
  /// hand-offs (to this pipeline's thread and back to the network thread to publish);
  /// otherwise queues it like `submit`. Never blocks on the pipeline: a busy pipeline means
  /// queueing. Returns false (and counts) when the queue is full.
  @discardableResult
  func handleOrQueue(mqtt message: MQTTMessage) -> Bool {
    guard worker.tryLock() else { return queue(message) }
    // The pipeline's thread takes inputs only while holding `worker`, so an empty queue here
    // means no earlier input can be overtaken. Near a point where the log must fdatasync
    // (a seq block, a segment roll), the pipeline's thread does the work: the network
    // thread must not wait for the disk.
    guard inlineAllowed, fatalFailure == nil, inbox.isEmpty,
      !log.syncIsNear(events: Self.inlineEventMargin, bytes: Self.inlineEventMargin * 256)
    else {
      worker.unlock()
      return queue(message)
    }
    let deadlineBefore = engine.nextDeadline
    handle(message)
    finishRound()
    let deadlineAfter = engine.nextDeadline
    // The pipeline's thread must look again: a failure, an earlier countdown, or unsent
    // events to read back from the log.
    let wakePipeline =
      fatalFailure != nil || outbox.wantsRefill
      || (deadlineAfter != nil && (deadlineBefore == nil || deadlineAfter! < deadlineBefore!))
    status.update { $0.counters.mqttMessagesInline += 1 }
    worker.unlock()
    if wakePipeline { inbox.wake() }
    return true
  }

  /// Events (of 256 bytes) one MQTT message is assumed to log at most, for `syncIsNear`: an
  /// input with a few rules firing logs a handful, each record usually under 100 bytes.
  private static let inlineEventMargin = 64

  private func queue(_ message: MQTTMessage) -> Bool {
    guard submit(.mqttMessage(message)) else { return false }
    status.update { $0.counters.mqttMessagesQueued += 1 }
    return true
  }

  /// Call after `run()` returned and the inputs (MQTT, GPIO) stopped: what arrived after the
  /// stop request is not handled (the log is closed); this says how many instead of losing
  /// them silently.
  func reportUnhandledInputs() {
    inbox.close()
    var count = 0
    while let input = inbox.poll() {
      switch input {
      case .reading, .mqttMessage: count += 1
      case .mqttState, .reload, .stop: break  // the connection closing, nothing a user sent
      }
    }
    if count > 0 {
      logger.notice(
        "\(count) input\(count == 1 ? "" : "s") arrived while stopping and \(count == 1 ? "was" : "were") not handled")
    }
  }

  /// After an input or a wake-up: due timers, broker acknowledgements, the outbox.
  private func finishRound() {
    fireDueTimers()
    let acknowledged = acknowledgements.take()
    for id in acknowledged { outbox.acknowledge(id) }
    outbox.pump(mqtt)
    // Acknowledgements change what /status and /metrics say is still on its way.
    if !acknowledged.isEmpty { noteProgress() }
  }

  private var syncInterval: Int64 {
    if case .interval(let interval) = syncMode { return max(1000, interval.microseconds) }
    return 1_000_000
  }

  private func handle(_ input: PipelineInput) {
    switch input {
    case .reading(let reading):
      ingest(reading)
    case .mqttMessage(let message):
      handle(message)
    case .mqttState(let state):
      handle(state)
    case .reload(let reply):
      reply.put(reload())
    case .stop:
      break
    }
  }

  private func ingest(_ reading: Reading) {
    var recorded: [Event] = []
    let effects = engine.ingest(reading) { event in
      self.record(&event)
      recorded.append(event)
    }
    finish(recorded: recorded, effects: effects)
  }

  private func fireDueTimers() {
    let now = clock.now()
    guard let deadline = engine.nextDeadline, deadline <= now else { return }
    var recorded: [Event] = []
    let effects = engine.advance(to: now) { event in
      self.record(&event)
      recorded.append(event)
    }
    finish(recorded: recorded, effects: effects)
  }

  /// After the engine: make the log durable if `sync: always`, then act in the world. The
  /// engine's `drive` effects set GPIO outputs (for rule sets and commands alike); its
  /// `publish` effects are not used here, because each has a `publish` event that reaches MQTT
  /// through the outbox, in seq order with everything else.
  private func finish(recorded: [Event], effects: [Effect]) {
    syncIfAlways()
    for case .drive(let signal, .bool(let on), _) in effects {
      drive(signal, on)
    }
    afterRecording(recorded)
  }

  /// Publishes events to MQTT, updates the status page, the live tail and the console.
  private func afterRecording(_ events: [Event]) {
    // `sync: always`: nothing leaves the daemon (MQTT, live tail) before it is on disk.
    syncIfAlways()
    for event in events {
      status.note(event)
      if event.kind == .signal, let signal = event.signal { latestSignalSeq[signal] = event.seq }
      if mqttEnabled {
        outbox.enqueue(seq: event.seq, messages: keptForBroker(messages(for: event), live: mqtt?.isConnected == true))
      }
      switch event.kind {
      case .log:
        logger.info("rule \(event.rule ?? "?"): \(event.value.plainText)")
      case .system:
        if event.value["event"] == "rule loop" {
          logger.warning("rule loop stopped: \(JSON.encode(event.value))")
        }
      default:
        break
      }
      if !tail.isEmpty { tail.broadcast(event.json(device: device)) }
      if settings.printEvents { print(EventFormatter.line(event)) }
    }
    if settings.printEvents { CurrentProcess.flushStandardOutput() }
    outbox.pump(mqtt)
    noteProgress()
  }

  /// Copies the log's and the outbox's figures to the status page.
  private func noteProgress() {
    status.update { s in
      s.nextSeq = log.nextSeq
      s.logDroppedRecords = log.droppedRecords
      s.outboxDepth = outbox.depth
      s.outboxDropped = outbox.dropped
      s.deliveredSeq = outbox.deliveredSeq
    }
  }

  /// The MQTT messages that tell the world about an event (events.md "MQTT topics").
  func messages(for event: Event) -> [MQTTMessage] {
    switch event.kind {
    case .signal:
      guard let signal = event.signal else { return [] }
      let topics = signalTopics(signal)
      var messages: [MQTTMessage] = []
      if mirrors.events {
        var json: [UInt8] = []
        event.writeJSON(device: device, to: &json)
        messages.append(MQTTMessage(topic: topics.events, payload: json, qos: qos))
      }
      // Retained state/ must end at the current value: an event read back late (after a
      // burst, an outage or a restart) that is no longer its signal's newest in this run does
      // not send its value again; the newer event's message follows it in order.
      if mirrors.state, latestSignalSeq[signal] == event.seq {
        var state: [UInt8] = []
        event.value.writePlainText(to: &state)
        messages.append(MQTTMessage(topic: topics.state, payload: state, qos: qos, retain: true))
      }
      return messages
    case .fired:
      guard mirrors.fired, let rule = event.rule else { return [] }
      var json: [UInt8] = []
      event.writeJSON(device: device, to: &json)
      return [MQTTMessage(topic: firedTopic(rule), payload: json, qos: qos)]
    case .publish:
      guard case .object(let fields) = event.value, case .string(let topic)? = fields["topic"],
        case .string(let payload)? = fields["payload"]
      else { return [] }
      let qos = Int(fields["qos"]?.numberValue ?? 0)
      return [MQTTMessage(topic: topic, payload: Array(payload.utf8), qos: qos, retain: fields["retain"] == true)]
    case .deadLetter:
      // events.md's keys, in its order: {"topic", "payload" (base64 if not UTF-8), "reason", "time"}.
      let payload = event.value["payload"] ?? .null
      var json: [UInt8] = Array(#"{"topic":"#.utf8)
      JSON.write(event.value["topic"] ?? .null, to: &json)
      json.append(contentsOf: #","payload":"#.utf8)
      JSON.write(payload["base64"] ?? payload, to: &json)
      json.append(contentsOf: #","reason":"#.utf8)
      JSON.write(event.value["reason"] ?? .null, to: &json)
      json.append(contentsOf: #","time":""#.utf8)
      event.time.writeISO8601(to: &json)
      json.append(contentsOf: #""}"#.utf8)
      return [MQTTMessage(topic: "\(prefix)/dead_letter", payload: json, qos: qos)]
    case .log, .system:
      return []
    }
  }

  /// The messages the outbox keeps for the broker. QoS 0 promises at most once: such a
  /// message goes out only while the broker is there when its event happens (`live`), never
  /// late after an outage or again after a restart (a rule's qos 0 `publish` must not fire
  /// minutes later). QoS 1 messages are kept until acknowledged.
  private func keptForBroker(_ messages: [MQTTMessage], live: Bool) -> [MQTTMessage] {
    live ? messages : messages.filter { $0.qos > 0 }
  }

  /// `<prefix>/events/<signal>` and `<prefix>/state/<signal>`, built once per signal: they
  /// are on every event's path.
  private func signalTopics(_ signal: String) -> (events: String, state: String) {
    if let topics = signalTopicCache[signal] { return topics }
    let topics = (events: "\(prefix)/events/\(signal)", state: "\(prefix)/state/\(signal)")
    signalTopicCache[signal] = topics
    return topics
  }

  /// `<prefix>/fired/<rule>`, built once per rule name.
  private func firedTopic(_ rule: String) -> String {
    if let topic = firedTopicCache[rule] { return topic }
    let topic = "\(prefix)/fired/\(rule)"
    firedTopicCache[rule] = topic
    return topic
  }

  // MARK: The log

  private func record(_ event: inout Event) {
    do {
      try log.append(&event)
    } catch {
      fail("cannot append to the event log: \(error)")
    }
    noteLogHealth()
  }

  private func recordSystem(_ fields: [String: Value]) {
    var event = Event(time: clock.now(), kind: .system, value: .object(fields), source: .system)
    record(&event)
    afterRecording([event])
  }

  private func syncIfAlways() {
    if case .always = syncMode { syncLog() }
  }

  private func syncLog() {
    if case .never = syncMode {
      saveState()
      return
    }
    do {
      try log.sync()
    } catch {
      fail("cannot sync the event log: \(error)")
    }
    noteLogHealth()
    saveState()
  }

  /// Disk full and read-only disks are reported once, not per event, and when they clear.
  private func noteLogHealth() {
    if let failure = log.writeFailure {
      if !reportedLogFailure {
        reportedLogFailure = true
        logger.error("event log writes failing, events are kept in memory only until it recovers: \(failure)")
        status.update { $0.logWriteFailure = "\(failure)" }
      }
    } else if reportedLogFailure {
      reportedLogFailure = false
      logger.notice("event log writes resumed (\(log.droppedRecords) records could not be written)")
      status.update { $0.logWriteFailure = nil }
    }
  }

  private func fail(_ message: String) {
    guard fatalFailure == nil else { return }
    logger.critical("\(message); stopping so that systemd restarts the daemon")
    fatalFailure = message
  }

  // MARK: Outputs

  private func drive(_ signal: String, _ value: Bool) {
    do {
      try gpio.set(signal: signal, value: value)
    } catch {
      status.update { $0.counters.gpioWriteFailures += 1 }
      logger.error("cannot drive \(signal): \(error)")
    }
  }

  private func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) {
    guard let mqtt, mqtt.isConnected else { return }
    do {
      try mqtt.publish(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
    } catch {
      status.update { $0.counters.mqttPublishFailures += 1 }
    }
  }

  // MARK: MQTT

  func attach(mqtt client: MQTTClient) { mqtt = client }

  var mqttFilters: [String] {
    var filters = routing.filters
    if let commandPrefix { filters.append("\(commandPrefix)#") }
    return filters
  }

  private func handle(_ message: MQTTMessage) {
    if message.payload.count > MQTTRouting.maximumPayloadBytes {
      // Only the start is kept: a flood of huge payloads must not fill the log's ring.
      var kept = MQTTMessage(topic: message.topic, payload: Array(message.payload.prefix(1024)))
      for cut in 0..<4 where String(validating: kept.payload.dropLast(cut), as: UTF8.self) != nil {
        kept.payload.removeLast(cut)  // end on a whole UTF-8 character when it is text
        break
      }
      deadLetter(
        kept, signal: nil,
        reason:
          "payload of \(message.payload.count) bytes is over the 256 KiB limit (its first \(kept.payload.count) bytes are kept here)"
      )
      return
    }
    if let commandPrefix, message.topic.hasPrefix(commandPrefix) {
      command(String(message.topic.dropFirst(commandPrefix.count)), message)
      return
    }
    for route in routing.routes(for: message.topic) {
      switch MQTTRouting.parse(payload: message.payload, as: route.type, jsonPath: route.jsonPath) {
      case .value(let value):
        ingest(Reading(signal: route.signal, value: value, time: clock.now(), source: .mqtt))
      case .rejected(let reason):
        deadLetter(message, signal: route.signal, reason: "\(route.signal): \(reason)")
      }
    }
  }

  private func command(_ name: String, _ message: MQTTMessage) {
    guard let signal = config.catalog[name] else {
      deadLetter(
        message, signal: nil,
        reason: "unknown signal '\(name)'\(Spelling.suggestion(for: name, in: config.catalog.names))")
      return
    }
    guard signal.isSettable else {
      deadLetter(message, signal: name, reason: "\(name) is an input; only outputs and virtual signals can be set")
      return
    }
    switch MQTTRouting.parse(payload: message.payload, as: signal.type, jsonPath: nil) {
    case .value(let value):
      ingest(Reading(signal: name, value: value, time: clock.now(), source: .command))
    case .rejected(let reason):
      deadLetter(message, signal: name, reason: "\(name): \(reason)")
    }
  }

  private func deadLetter(_ message: MQTTMessage, signal: String?, reason: String) {
    let now = clock.now()
    let payload: Value =
      if let text = String(validating: message.payload, as: UTF8.self) { .string(text) } else {
        .object(["base64": .string(Base64.encode(message.payload))])
      }
    var event = Event(
      time: now, kind: .deadLetter, signal: signal,
      value: .object(["topic": .string(message.topic), "payload": payload, "reason": .string(reason)]), source: .mqtt)
    record(&event)
    afterRecording([event])
    // Rate-limited: at most one log line per 10 s, with a count of what was held back.
    let monotonic = SystemMonotonicClock.nowMicroseconds()
    if monotonic - lastDeadLetterLog >= 10_000_000 {
      let held = suppressedDeadLetterLogs > 0 ? " (\(suppressedDeadLetterLogs) more since the last report)" : ""
      logger.warning("dead letter on \(message.topic): \(reason)\(held)")
      lastDeadLetterLog = monotonic
      suppressedDeadLetterLogs = 0
    } else {
      suppressedDeadLetterLogs += 1
    }
  }

  private func handle(_ state: MQTTConnectionState) {
    switch state {
    case .connected:
      status.update {
        $0.mqttConnected = true
        $0.mqttLastError = nil
      }
      logger.notice("connected to the MQTT broker")
      publish(topic: "\(prefix)/status", payload: Array("online".utf8), qos: 1, retain: true)
      // Retained state may be stale or missing after a broker restart: publish it again. A
      // signal not known yet gets an empty retained message, which clears what an earlier run
      // left there (events.md: state/ is the current value).
      if mirrors.state {
        let known = status.snapshot.signals
        for name in config.catalog.names.sorted() {
          let text = known[name]?.value.plainText ?? ""
          publish(topic: signalTopics(name).state, payload: Array(text.utf8), qos: qos, retain: true)
        }
      }
    case .disconnected(let reason):
      let before = status.snapshot
      status.update {
        $0.mqttConnected = false
        $0.mqttLastError = reason
      }
      if before.mqttConnected {
        logger.warning("lost the MQTT broker: \(reason); reconnecting")
      } else if before.mqttLastError != reason {
        // A broker that refuses us (TLS, credentials) or is not there: say so once per reason,
        // not once per retry.
        logger.warning("cannot connect to the MQTT broker \(before.mqttURL ?? ""): \(reason); retrying with backoff")
      }
    case .connecting:
      break
    }
  }

  // MARK: Reload and stop

  private func reload() -> ReloadOutcome {
    var diagnostics = DiagnosticCollector()
    let sources = ConfigurationLoader.readRules(
      of: config, configPath: settings.loaded.configPath, diagnostics: &diagnostics)
    let (rules, ruleDiagnostics) = RuleCompiler.compile(sources, signals: config.catalog)
    diagnostics.append(contentsOf: ruleDiagnostics)
    let now = clock.now()
    guard !diagnostics.hasErrors, let rules else {
      let outcome = ReloadOutcome(
        accepted: false, ruleCount: settings.loaded.rules.names.count, diagnostics: diagnostics.diagnostics, time: now)
      status.update { $0.rejectedReload = outcome }
      for diagnostic in diagnostics.diagnostics { logger.error("reload rejected: \(diagnostic)") }
      recordSystem(["event": "reload rejected", "errors": .number(Double(diagnostics.diagnostics.count))])
      return outcome
    }
    for timer in engine.replaceRules(rules) {
      logger.notice("reload cancelled the running countdown of rule \(timer.rule)")
    }
    settings.loaded.rules = rules
    settings.loaded.ruleSources = sources
    status.update {
      $0.rejectedReload = nil
      $0.rules = rules.names
    }
    logger.notice("reloaded \(rules.names.count) rules")
    recordSystem(["event": "reload", "rules": .number(Double(rules.names.count))])
    return ReloadOutcome(accepted: true, ruleCount: rules.names.count, diagnostics: diagnostics.diagnostics, time: now)
  }

  private func shutDown() {
    recordSystem(["event": "stop"])
    outbox.pump(mqtt)
    saveState(final: true)
    do {
      try log.close()
    } catch {
      fail("cannot close the event log: \(error)")
    }
    tail.closeAll()
  }
}
