import GanglionCore
import GanglionLog
import GanglionSystem
import Synchronization

/// What `/status` and `/metrics` show: a snapshot the pipeline thread updates and HTTP
/// threads read. Thread-safe; the pipeline never waits on a reader for longer than a copy.
final class StatusBoard: Sendable {
  struct SignalState: Sendable {
    var value: Value
    var time: Timestamp
    var seq: UInt64
  }

  /// What the log writer counts, copied after each turn of the pipeline.
  struct LogFigures: Sendable {
    var droppedRecords: UInt64 = 0
    var oversizedRecords: UInt64 = 0
    var writtenBytes: Int64 = 0
    var syncs: Int64 = 0
    var sizeBytes: Int64 = 0
    /// Why old segments cannot be deleted, while that lasts (the ring outgrows `max_size`).
    var retentionFailure: String?

    init() {}

    init(_ log: EventLog) {
      droppedRecords = log.droppedRecords
      oversizedRecords = log.oversizedRecords
      writtenBytes = log.writtenBytes
      syncs = log.syncCount
      sizeBytes = log.sizeBytes
      retentionFailure = log.retentionFailure.map { "\($0)" }
    }
  }

  struct Counters: Sendable {
    var events: UInt64 = 0
    /// Every rejected message, recorded or not.
    var deadLetters: UInt64 = 0
    /// Dead letters only counted, not recorded: their topic was flooding (`DeadLetterGate`).
    var deadLetterRecordsSuppressed: UInt64 = 0
    /// MQTT messages a `json:` signal left alone because they lack its field (one count per
    /// signal and message).
    var ignoredMessages: UInt64 = 0
    var inputQueueDrops: UInt64 = 0
    /// Readings of value signals replaced by a newer one while the input queue was full.
    var inputsCoalesced: UInt64 = 0
    /// Every message not sent because it was refused: by the MQTT client
    /// (`clientPublishRefusals`) or, for an invalid topic, by the rule engine.
    var mqttPublishFailures: UInt64 { clientPublishRefusals + invalidPublishTopics }
    var clientPublishRefusals: UInt64 = 0
    /// Rule `publish` actions whose rendered topic was invalid: nothing was sent.
    var invalidPublishTopics: UInt64 = 0
    var gpioWriteFailures: UInt64 = 0
    var ruleLoops: UInt64 = 0
    /// Rules paused by their firing-rate breaker.
    var ruleBreakerTrips: UInt64 = 0
    /// MQTT messages handled on the network thread (the pipeline was idle) or queued for the
    /// pipeline's thread (it was busy, or `sync: always`).
    var mqttMessagesInline: UInt64 = 0
    var mqttMessagesQueued: UInt64 = 0
    var firedByRule: [String: UInt64] = [:]
    /// GPIO edges the kernel dropped, by signal (exact counts: libgpiod 2.x).
    var gpioEdgesLost: [String: UInt64] = [:]
    /// Reads that found a GPIO input's kernel queue full (edges may have been lost), by signal.
    var gpioEdgeQueueFull: [String: UInt64] = [:]
  }

  struct Snapshot: Sendable {
    var device: String
    var startTime: Timestamp
    var simulated: Bool
    /// `libgpiod 1.6.3` (with hardware), `simulated board` (with `--simulate`).
    var gpioLibrary = ""
    var signals: [String: SignalState] = [:]
    /// Every signal the configuration declares: those without a value yet are listed as
    /// unknown.
    var declaredSignals: [String] = []
    var lastFired: [String: Timestamp] = [:]
    var rules: [String] = []
    var mqttURL: String?
    var mqttConnected = false
    var mqttLastError: String?
    var logDirectory: String
    var nextSeq: UInt64 = 1
    var logWriteFailure: String?
    var log = LogFigures()
    var rejectedReload: ReloadOutcome?
    /// Log lines about dropped inputs, at most one per 10 s.
    var inputDropLines = LogLineRateLimit()
    var outboxDepth = 0
    var outboxDropped: UInt64 = 0
    var outboxDroppedUnlogged: UInt64 = 0
    var outboxDroppedNotInLog: UInt64 = 0
    var deliveredSeq: UInt64 = 0
    var counters = Counters()
  }

  private let state: Mutex<Snapshot>

  init(_ initial: Snapshot) { state = Mutex(initial) }

  @discardableResult
  func update<T>(_ body: (inout Snapshot) -> T) -> T { state.withLock { body(&$0) } }

  var snapshot: Snapshot { state.withLock { $0 } }

  /// Records what an event tells the status page.
  func note(_ event: Event) {
    state.withLock { s in
      s.counters.events += 1
      s.nextSeq = max(s.nextSeq, event.seq + 1)
      switch event.kind {
      case .signal:
        if let signal = event.signal {
          s.signals[signal] = SignalState(value: event.value, time: event.time, seq: event.seq)
        }
      case .fired:
        if let rule = event.rule {
          s.lastFired[rule] = event.time
          s.counters.firedByRule[rule, default: 0] += 1
        }
      case .deadLetter:
        s.counters.deadLetters += 1
      case .system:
        if event.systemEventName == .ruleLoop { s.counters.ruleLoops += 1 }
        if event.systemEventName == .ruleBreaker { s.counters.ruleBreakerTrips += 1 }
      default:
        break
      }
    }
  }

  /// Everything dropped anywhere, by reason (`dropped` in `/status`,
  /// `ganglion_dropped_total{reason}` in `/metrics`): events or messages that were lost on
  /// their way, each counted once, at the place it was lost.
  static func dropped(_ s: Snapshot) -> [(reason: String, count: UInt64)] {
    [
      ("input_queue_full", s.counters.inputQueueDrops),
      ("input_coalesced", s.counters.inputsCoalesced),
      ("log_write_failed", s.log.droppedRecords),
      ("outbox_full", s.outboxDropped),
      ("outbox_unlogged_overflow", s.outboxDroppedUnlogged),
      ("outbox_not_in_log", s.outboxDroppedNotInLog),
      ("publish_refused", s.counters.clientPublishRefusals),
      ("publish_invalid_topic", s.counters.invalidPublishTopics),
      ("dead_letter_not_recorded", s.counters.deadLetterRecordsSuppressed),
    ]
  }
  /// What `simulated_lines` in `/status` holds.
  static let simulatedLinesMeaning =
    "line levels, not logical values: true = high; a signal with active_low: true reads the opposite under signals"

  /// `/status` as JSON.
  /// - Parameter extra: more top-level members (the simulated board's line levels).
  func statusJSON(now: Timestamp, extra: [String: Value] = [:]) -> String {
    let s = snapshot
    var signals: [String: Value] = [:]
    for name in s.declaredSignals where s.signals[name] == nil {
      signals[name] = .object(["value": .null, "time": .null, "seq": .null])
    }
    for (name, state) in s.signals {
      signals[name] = .object([
        "value": state.value, "time": .string(state.time.iso8601), "seq": .number(Double(state.seq)),
      ])
    }
    var rules: [String: Value] = [:]
    for name in s.rules {
      rules[name] = .object([
        "last_fired": s.lastFired[name].map { .string($0.iso8601) } ?? .null,
        "fired": .number(Double(s.counters.firedByRule[name] ?? 0)),
      ])
    }
    var document: [String: Value] = [
      "device": .string(s.device),
      "pid": .number(Double(CurrentProcess.id)),
      "started": .string(s.startTime.iso8601),
      "uptime_seconds": .number(Double((now - s.startTime).microseconds / 1_000_000)),
      "simulated": .bool(s.simulated),
      "gpio": .object([
        "library": .string(s.gpioLibrary),
        "edges_lost": .object(s.counters.gpioEdgesLost.mapValues { .number(Double($0)) }),
        "edge_queue_full": .object(s.counters.gpioEdgeQueueFull.mapValues { .number(Double($0)) }),
      ]),
      "signals": .object(signals),
      "rules": .object(rules),
      "mqtt": s.mqttURL.map { url in
        .object([
          "url": .string(url), "connected": .bool(s.mqttConnected),
          "last_error": s.mqttLastError.map(Value.string) ?? .null,
          "outbox": .number(Double(s.outboxDepth)), "outbox_dropped": .number(Double(s.outboxDropped)),
          "delivered_seq": .number(Double(s.deliveredSeq)),
        ])
      } ?? .null,
      "log": .object([
        "dir": .string(s.logDirectory), "next_seq": .number(Double(s.nextSeq)),
        "write_failure": s.logWriteFailure.map(Value.string) ?? .null,
        "dropped_records": .number(Double(s.log.droppedRecords)),
        "oversized_records": .number(Double(s.log.oversizedRecords)),
        "size_bytes": .number(Double(s.log.sizeBytes)),
        "retention_failure": s.log.retentionFailure.map(Value.string) ?? .null,
      ]),
      "counters": .object([
        "events": .number(Double(s.counters.events)),
        "dead_letters": .number(Double(s.counters.deadLetters)),
        "dead_letters_not_recorded": .number(Double(s.counters.deadLetterRecordsSuppressed)),
        "ignored_messages": .number(Double(s.counters.ignoredMessages)),
        "input_queue_drops": .number(Double(s.counters.inputQueueDrops)),
        "inputs_coalesced": .number(Double(s.counters.inputsCoalesced)),
        "mqtt_publish_failures": .number(Double(s.counters.mqttPublishFailures)),
        "invalid_publish_topics": .number(Double(s.counters.invalidPublishTopics)),
        "gpio_write_failures": .number(Double(s.counters.gpioWriteFailures)),
        "rule_loops": .number(Double(s.counters.ruleLoops)),
        "rule_breaker_trips": .number(Double(s.counters.ruleBreakerTrips)),
        "mqtt_messages_inline": .number(Double(s.counters.mqttMessagesInline)),
        "mqtt_messages_queued": .number(Double(s.counters.mqttMessagesQueued)),
      ]),
      "rejected_reload": .null,
      "dropped": .object(
        Dictionary(uniqueKeysWithValues: Self.dropped(s).map { ($0.reason, Value.number(Double($0.count))) })),
    ]
    if let rejected = s.rejectedReload {
      document["rejected_reload"] = .object([
        "time": .string(rejected.time.iso8601),
        "errors": .array(rejected.diagnostics.map { .string($0.description) }),
      ])
    }
    document.merge(extra) { _, added in added }
    if extra["simulated_lines"] != nil {
      // The simulated board reports electrical levels; say so where they are read.
      document["simulated_lines_are"] = .string(Self.simulatedLinesMeaning)
    }
    return JSON.encode(.object(document))
  }

  /// `/metrics` in the Prometheus text format.
  func metricsText() -> String {
    let s = snapshot
    var out = ""
    func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
      out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
      for (labels, value) in samples { out += "\(name)\(labels) \(Value.format(number: value))\n" }
    }
    metric("ganglion_events_total", "counter", "Events recorded.", [("", Double(s.counters.events))])
    metric(
      "ganglion_dead_letters_total", "counter", "Rejected inputs (bad payloads, bad commands).",
      [("", Double(s.counters.deadLetters))])
    metric(
      "ganglion_mqtt_ignored_messages_total", "counter",
      "MQTT messages a json: signal ignored because they lack its field (partial updates), one per signal and message.",
      [("", Double(s.counters.ignoredMessages))])
    metric(
      "ganglion_input_queue_drops_total", "counter", "Inputs dropped because the pipeline queue was full.",
      [("", Double(s.counters.inputQueueDrops))])
    metric(
      "ganglion_mqtt_publish_failures_total", "counter",
      "MQTT messages not sent: refused by the client, or a rule publish to an invalid topic.",
      [("", Double(s.counters.mqttPublishFailures))])
    metric(
      "ganglion_gpio_write_failures_total", "counter", "GPIO output writes that failed.",
      [("", Double(s.counters.gpioWriteFailures))])
    metric(
      "ganglion_rule_loops_total", "counter", "Rule chains stopped by loop protection.",
      [("", Double(s.counters.ruleLoops))])
    metric(
      "ganglion_rule_breaker_trips_total", "counter", "Rules paused for firing too often (a loop through the world).",
      [("", Double(s.counters.ruleBreakerTrips))])
    metric(
      "ganglion_mqtt_messages_total", "counter",
      "MQTT messages received, by where they were handled: inline on the network thread (the pipeline was idle) or queued.",
      [
        ("{path=\"inline\"}", Double(s.counters.mqttMessagesInline)),
        ("{path=\"queued\"}", Double(s.counters.mqttMessagesQueued)),
      ])
    metric(
      "ganglion_log_dropped_records_total", "counter",
      "Events that could not be written to the log (disk full, or larger than 16 MiB).",
      [("", Double(s.log.droppedRecords))])
    metric(
      "ganglion_log_oversized_records_total", "counter", "Events not logged because they encode to more than 16 MiB.",
      [("", Double(s.log.oversizedRecords))])
    metric(
      "ganglion_log_written_bytes_total", "counter", "Record bytes written to the log's segments.",
      [("", Double(s.log.writtenBytes))])
    metric("ganglion_log_syncs_total", "counter", "fdatasyncs of the log's segments.", [("", Double(s.log.syncs))])
    metric("ganglion_log_size_bytes", "gauge", "Bytes of the log's segment files.", [("", Double(s.log.sizeBytes))])
    metric(
      "ganglion_log_retention_failing", "gauge",
      "1 while old segments cannot be deleted (the ring grows past log.max_size).",
      [("", s.log.retentionFailure == nil ? 0 : 1)])
    metric("ganglion_mqtt_connected", "gauge", "1 while connected to the broker.", [("", s.mqttConnected ? 1 : 0)])
    metric(
      "ganglion_mqtt_outbox_events", "gauge", "Logged events not yet acknowledged by the broker.",
      [("", Double(s.outboxDepth))])
    metric(
      "ganglion_mqtt_outbox_dropped_total", "counter", "Events dropped from a full outbox (mqtt.outbox).",
      [("", Double(s.outboxDropped))])
    metric(
      "ganglion_dropped_total", "counter",
      "Events (or their MQTT messages) dropped anywhere, by reason (docs/events.md \"Dropped events\").",
      Self.dropped(s).map { ("{reason=\"\($0.reason)\"}", Double($0.count)) })
    metric("ganglion_log_next_seq", "gauge", "The seq the next event gets.", [("", Double(s.nextSeq))])
    metric(
      "ganglion_gpio_edges_lost_total", "counter",
      "GPIO edges the kernel dropped because they came faster than they were read (counted exactly with libgpiod 2.x).",
      s.counters.gpioEdgesLost.sorted { $0.key < $1.key }.map { ("{signal=\"\($0.key)\"}", Double($0.value)) })
    metric(
      "ganglion_gpio_edge_queue_full_total", "counter",
      "Reads that found a GPIO input's kernel edge queue full or skipped edges (edges may have been lost).",
      s.counters.gpioEdgeQueueFull.sorted { $0.key < $1.key }.map { ("{signal=\"\($0.key)\"}", Double($0.value)) })
    metric(
      "ganglion_rule_fired_total", "counter", "Rule firings.",
      s.rules.map { ("{rule=\"\($0)\"}", Double(s.counters.firedByRule[$0] ?? 0)) })
    return out
  }
}

/// Live tail subscribers (`GET /events`): each gets a bounded queue of JSON lines; a slow
/// client loses lines (counted in its stream as a gap) rather than slowing the pipeline.
final class LiveTail: Sendable {
  private let subscribers = Mutex<[Int: BoundedQueue<String>]>([:])
  private let nextID = Atomic<Int>(0)

  func subscribe() -> (id: Int, queue: BoundedQueue<String>) {
    let id = nextID.add(1, ordering: .relaxed).newValue
    let queue = BoundedQueue<String>(capacity: 1024)
    subscribers.withLock { $0[id] = queue }
    return (id, queue)
  }

  func unsubscribe(_ id: Int) {
    let queue = subscribers.withLock { $0.removeValue(forKey: id) }
    queue?.close()
  }

  var isEmpty: Bool { subscribers.withLock { $0.isEmpty } }

  func broadcast(_ line: String) {
    subscribers.withLock { all in
      for queue in all.values { queue.offer(line) }
    }
  }

  func closeAll() {
    subscribers.withLock { all in
      for queue in all.values { queue.close() }
      all.removeAll()
    }
  }
}
