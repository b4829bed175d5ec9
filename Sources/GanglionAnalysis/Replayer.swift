import GanglionCore
import GanglionLog
import GanglionRules

/// What replaying a stretch of the log found.
public struct ReplayReport: Sendable {
  /// One event only one side has: the log (`-`) or the replay (`+`).
  public struct Difference: Sendable, Equatable {
    public enum Side: String, Sendable {
      case onlyLogged = "-"
      case onlyReplayed = "+"
    }
    public var side: Side
    /// The logged event (its real seq), or the replayed one (seq from `Replayer.replayedSeqBase`).
    public var event: Event
    /// The seq of the logged input (or daemon start) the event followed, nil before the first one.
    public var afterInput: UInt64? { after?.seq }
    /// That logged input (or daemon start).
    public var after: Event?
  }

  /// Events read from the log, selected or not.
  public var eventsRead = 0
  /// Logged inputs fed to the engine.
  public var inputs = 0
  /// What the rules did in the replay, in order: `fired`, rule-made `signal`, `publish`,
  /// `log` events and rule-loop stops. Their seqs are `Replayer.replayedSeqBase + n`; a
  /// `cause` below that base is the seq of a logged input. Empty unless events are retained.
  public var replayed: [Event] = []
  /// The same kinds of events as logged in the selection. Empty unless events are retained.
  public var logged: [Event] = []
  /// Where the replay and the log differ, in order. Empty unless events are retained.
  public var differences: [Difference] = []
  public var replayedCount = 0
  public var loggedCount = 0
  /// Events both had.
  public var matched = 0
  public var onlyLogged = 0
  public var onlyReplayed = 0

  public var differenceCount: Int { onlyLogged + onlyReplayed }
}

/// What a replay reports as it goes.
public enum ReplayOutput: Sendable {
  /// An event the rules made in the replay.
  case replayed(Event)
  /// A place where the replay and the log differ (reported when the input group closes).
  case difference(ReplayReport.Difference)
}

/// Feeds the logged input events of a log through rules on a virtual clock (the events' own
/// times), touching no hardware and no broker, and compares what the rules did with what
/// was logged.
///
/// Faithful to the daemon: the signal values as logged just before the first replayed event
/// are restored without firing; a logged daemon `start` starts a fresh engine whose timers
/// count from the `start` event's time, as the daemon's did (timers do not survive a
/// restart); start-up values (`system` signal events) are restored, not fired; timers fire
/// between inputs, in deadline order, as they did in the daemon. Each run of the daemon ends
/// at its last logged event, and the replay ends at the end of the log or at `until`: timers
/// due after the last input fire up to there, and none beyond it, so unchanged rules replay
/// to no differences.
///
/// Comparison: derived events are grouped by the input they followed (timers that ran out
/// before the next input belong to the previous one's group, as in the log); within a
/// group, events are matched in order by kind, rule, signal and value (not by time or seq).
public struct Replayer: Sendable {
  /// Replayed events get seqs from here up, so they never look like logged ones.
  public static let replayedSeqBase: UInt64 = 1 << 62

  public let rules: RuleSet
  public let signals: SignalCatalog
  public let device: String
  public let prefix: String?
  /// The device's zone (recorded beside its log), for the rules' local time.
  public let timeZone: any TimeZoneRules

  public init(
    rules: RuleSet, signals: SignalCatalog, device: String, prefix: String? = nil,
    timeZone: any TimeZoneRules = FixedOffsetZone.utc
  ) {
    self.rules = rules
    self.signals = signals
    self.device = device
    self.prefix = prefix
    self.timeZone = timeZone
  }

  /// Whether an event was made by rules (what replay reproduces and compares).
  public static func isDerived(_ event: Event) -> Bool {
    if event.source == .rule { return true }
    return event.systemEventName == .ruleLoop
  }

  /// Replays the selected events. Blocks on file I/O; `progress` gets the count of events
  /// read every `progressInterval` events. `emit` gets each replayed event and each
  /// difference as soon as it is known; with `retainEvents` false the report keeps only
  /// counts, so memory stays bounded by the busiest input's chain, not the log's length.
  /// - Throws: the log's read errors.
  public func run(
    reader: LogReader, selection: EventSelection, retainEvents: Bool = true, progressInterval: Int = 100_000,
    progress: ((Int) -> Void)? = nil, emit: ((ReplayOutput) -> Void)? = nil
  ) throws(LogError) -> ReplayReport {
    var run = Run(replayer: self, retainEvents: retainEvents, emit: emit)
    let cursor = try reader.cursor(fromSeq: 0, toSeq: selection.toSeq)
    while let event = try cursor.next() {
      run.report.eventsRead += 1
      if let progress, run.report.eventsRead % progressInterval == 0 { progress(run.report.eventsRead) }
      if selection.contains(event) {
        run.replay(event)
      } else if run.engine == nil {
        run.remember(event)
      }
      run.lastEventTime = max(run.lastEventTime ?? event.time, event.time)
    }
    // The end of the log (of what was read), or `--until` when that comes first.
    if let end = run.lastEventTime {
      run.finish(at: selection.until.map { min(end, Timestamp(microseconds: $0.microseconds - 1)) } ?? end)
    }
    return run.report
  }

  /// The state of one replay.
  private struct Run {
    let replayer: Replayer
    var report = ReplayReport()
    var engine: Engine?
    /// Before the first replayed event: the values as logged, and the last daemon start.
    var values: [String: (value: Value, time: Timestamp)] = [:]
    var valueOrder: [String] = []
    var lastStart: Timestamp?
    /// The time of the latest event read so far (selected or not): where a daemon run that
    /// the next `start` ends, ended; where the replay ends.
    var lastEventTime: Timestamp?
    var firstSelectedSeq: UInt64?
    var nextReplayedSeq = Replayer.replayedSeqBase
    var group: Event?
    var groupLogged: [Event] = []
    var groupReplayed: [Event] = []

    let retainEvents: Bool
    let emit: ((ReplayOutput) -> Void)?

    init(replayer: Replayer, retainEvents: Bool, emit: ((ReplayOutput) -> Void)?) {
      self.replayer = replayer
      self.retainEvents = retainEvents
      self.emit = emit
    }

    mutating func remember(_ event: Event) {
      if Self.isStart(event) {
        values = [:]
        valueOrder = []
        lastStart = event.time
      } else if event.kind == .signal, let signal = event.signal {
        if values[signal] == nil { valueOrder.append(signal) }
        values[signal] = (event.value, event.time)
      }
    }

    static func isStart(_ event: Event) -> Bool {
      event.source == .system && event.systemEventName == .start
    }

    func makeEngine(startTime: Timestamp) -> Engine {
      Engine(
        rules: replayer.rules, signals: replayer.signals,
        context: EngineContext(
          device: replayer.device, prefix: replayer.prefix, startTime: startTime, timeZone: replayer.timeZone))
    }

    mutating func replay(_ event: Event) {
      if firstSelectedSeq == nil { firstSelectedSeq = event.seq }
      if Self.isStart(event) {
        // The daemon's previous run ended with its last logged event: its timers stopped there.
        if let end = lastEventTime { advance(to: min(end, event.time)) }
        closeGroup()
        group = event
        engine = makeEngine(startTime: event.time)
        return
      }
      let engine = startedEngine(at: event)
      if Replayer.isDerived(event) {
        // The consequence of an event before the replay started: nothing to compare it with.
        if let cause = event.cause, let first = firstSelectedSeq, cause < first { return }
        groupLogged.append(event)
        report.loggedCount += 1
        if retainEvents { report.logged.append(event) }
        return
      }
      guard let reading = Reading(event: event) else { return }
      advance(to: event.time)
      if reading.source == .system {
        engine.restore(signal: reading.signal, value: reading.value, time: reading.time)
        return
      }
      closeGroup()
      group = event
      report.inputs += 1
      var awaitingInput = true
      var derived: [Event] = []
      var nextSeq = nextReplayedSeq
      _ = engine.ingest(reading) { recorded in
        if awaitingInput, recorded.kind == .signal, recorded.source == reading.source,
          recorded.signal == reading.signal
        {
          awaitingInput = false
          recorded.seq = event.seq
          return
        }
        recorded.seq = nextSeq
        nextSeq += 1
        derived.append(recorded)
      }
      nextReplayedSeq = nextSeq
      add(derived)
    }

    /// The engine, made (with the values as logged so far) at the first replayed event.
    mutating func startedEngine(at event: Event) -> Engine {
      if let engine { return engine }
      let engine = makeEngine(startTime: lastStart ?? event.time)
      // Timers of the daemon's run that fell before the replay (`every`, `at`) ran then:
      // catch up silently so that the next ones are due when they were in the daemon.
      if let lastStart, lastStart < event.time {
        _ = engine.advance(to: Timestamp(microseconds: event.time.microseconds - 1)) { _ in }
      }
      for signal in valueOrder {
        let (value, time) = values[signal]!
        engine.restore(signal: signal, value: value, time: time)
      }
      values = [:]
      valueOrder = []
      self.engine = engine
      return engine
    }

    mutating func advance(to time: Timestamp) {
      guard let engine else { return }
      var derived: [Event] = []
      var nextSeq = nextReplayedSeq
      _ = engine.advance(to: time) { recorded in
        recorded.seq = nextSeq
        nextSeq += 1
        derived.append(recorded)
      }
      nextReplayedSeq = nextSeq
      add(derived)
    }

    mutating func add(_ derived: [Event]) {
      groupReplayed += derived
      report.replayedCount += derived.count
      if retainEvents { report.replayed += derived }
      if let emit { for event in derived { emit(.replayed(event)) } }
    }

    /// Runs the timers due up to `end`, and compares the last group.
    mutating func finish(at end: Timestamp) {
      advance(to: end)
      closeGroup()
    }

    /// Compares the current group's logged and replayed events, in order.
    mutating func closeGroup() {
      defer {
        groupLogged = []
        groupReplayed = []
      }
      let steps = ReplayDiff.align(groupLogged.map(Self.key), groupReplayed.map(Self.key))
      var i = 0
      var j = 0
      for step in steps {
        switch step {
        case .same:
          report.matched += 1
          i += 1
          j += 1
        case .onlyFirst:
          report.onlyLogged += 1
          note(.init(side: .onlyLogged, event: groupLogged[i], after: group))
          i += 1
        case .onlySecond:
          report.onlyReplayed += 1
          note(.init(side: .onlyReplayed, event: groupReplayed[j], after: group))
          j += 1
        }
      }
    }

    mutating func note(_ difference: ReplayReport.Difference) {
      if retainEvents { report.differences.append(difference) }
      emit?(.difference(difference))
    }

    /// What the comparison looks at: not seq, time or cause.
    static func key(_ event: Event) -> String {
      "\(event.kind.rawValue) \(event.rule ?? "") \(event.signal ?? "") \(JSON.encode(event.value))"
    }
  }
}

/// An in-order alignment of two sequences (longest common subsequence).
enum ReplayDiff {
  enum Step: Equatable { case same, onlyFirst, onlySecond }

  /// Above this many cells the table is not built: the sequences are compared position by
  /// position (a group this large means a rule loop or a very busy input).
  static let maximumCells = 4_000_000

  static func align(_ a: [String], _ b: [String]) -> [Step] {
    let n = a.count
    let m = b.count
    if n == 0 { return Array(repeating: .onlySecond, count: m) }
    if m == 0 { return Array(repeating: .onlyFirst, count: n) }
    guard n * m <= maximumCells else {
      var steps: [Step] = []
      for k in 0..<max(n, m) {
        if k < n, k < m, a[k] == b[k] {
          steps.append(.same)
        } else {
          if k < n { steps.append(.onlyFirst) }
          if k < m { steps.append(.onlySecond) }
        }
      }
      return steps
    }
    // lengths[i][j]: LCS of a[i...] and b[j...].
    var lengths = [Int](repeating: 0, count: (n + 1) * (m + 1))
    for i in stride(from: n - 1, through: 0, by: -1) {
      for j in stride(from: m - 1, through: 0, by: -1) {
        lengths[i * (m + 1) + j] =
          a[i] == b[j]
          ? lengths[(i + 1) * (m + 1) + j + 1] + 1
          : max(lengths[(i + 1) * (m + 1) + j], lengths[i * (m + 1) + j + 1])
      }
    }
    var steps: [Step] = []
    var i = 0
    var j = 0
    while i < n, j < m {
      if a[i] == b[j] {
        steps.append(.same)
        i += 1
        j += 1
      } else if lengths[(i + 1) * (m + 1) + j] >= lengths[i * (m + 1) + j + 1] {
        steps.append(.onlyFirst)
        i += 1
      } else {
        steps.append(.onlySecond)
        j += 1
      }
    }
    steps += Array(repeating: .onlyFirst, count: n - i)
    steps += Array(repeating: .onlySecond, count: m - j)
    return steps
  }
}

extension ReplayReport {
  /// `#seq` for a logged event, `rN` for the N-th replayed one.
  public static func label(_ seq: UInt64) -> String {
    seq >= Replayer.replayedSeqBase ? "r\(seq - Replayer.replayedSeqBase + 1)" : "#\(seq)"
  }

  /// One line per event, as `log tail` shows them, with replayed seqs and causes as `rN`.
  public static func line(_ event: Event) -> String {
    var shown = event
    shown.cause = nil
    var text = EventFormatter.line(shown)
    if let space = text.firstIndex(of: " ") { text = String(text[text.index(after: space)...]) }
    if let cause = event.cause { text += " (cause \(label(cause)))" }
    return "\(label(event.seq)) \(text)"
  }

  /// The event JSON with `seq` and `cause` as labels (`"r3"`) where they are replayed ones.
  public static func json(_ event: Event, device: String) -> Value {
    guard case .object(var object)? = try? JSON.parse(event.json(device: device)) else { return .null }
    if event.seq >= Replayer.replayedSeqBase {
      object["seq"] = .null
      object["id"] = .null
      object["replayed"] = .string(label(event.seq))
    }
    if let cause = event.cause, cause >= Replayer.replayedSeqBase { object["cause"] = .string(label(cause)) }
    return .object(object)
  }

  var inputsText: String { "\(inputs) input\(inputs == 1 ? "" : "s") replayed" }

  /// The closing line of `replay --diff`.
  public var summaryLine: String {
    if differenceCount == 0 {
      return "no differences: \(matched) rule event\(matched == 1 ? "" : "s") match (\(inputsText))"
    }
    return
      "\(differenceCount) difference\(differenceCount == 1 ? "" : "s"): \(onlyLogged) only in the log (-), \(onlyReplayed) only in the replay (+); \(matched) match (\(inputsText))"
  }

  /// Human output of a retained report: see `ReplayPrinter`.
  public func lines(diff: Bool) -> [String] { printed(ReplayPrinter(diff: diff, json: false, device: "")) }

  /// JSON lines of a retained report: see `ReplayPrinter`.
  public func jsonLines(device: String, diff: Bool) -> [String] {
    printed(ReplayPrinter(diff: diff, json: true, device: device))
  }

  private func printed(_ printer: ReplayPrinter) -> [String] {
    var printer = printer
    var out: [String] = []
    for event in replayed { out += printer.lines(for: .replayed(event)) }
    for difference in differences { out += printer.lines(for: .difference(difference)) }
    return out + printer.closingLines(self)
  }
}

/// The output of `replay`, line by line as the replay goes.
///
/// Human: each replayed event (`ReplayReport.line`), then `N inputs replayed: N rule events`;
/// with `diff`, the differences (`-`/`+` lines, under an `@ after <logged event>` line naming
/// the input they followed), then `ReplayReport.summaryLine`. JSON: each replayed event (or,
/// with `diff`, `{"diff": "+"|"-", "after": seq, "event": {...}}`), then `{"summary": {...}}`.
public struct ReplayPrinter {
  public let diff: Bool
  public let json: Bool
  public let device: String
  private var group: UInt64?? = .none

  public init(diff: Bool, json: Bool, device: String) {
    self.diff = diff
    self.json = json
    self.device = device
  }

  public mutating func lines(for output: ReplayOutput) -> [String] {
    switch output {
    case .replayed(let event):
      guard !diff else { return [] }
      return [json ? JSON.encode(ReplayReport.json(event, device: device)) : ReplayReport.line(event)]
    case .difference(let difference):
      guard diff else { return [] }
      if json {
        return [
          JSON.encode(
            .object([
              "diff": .string(difference.side.rawValue),
              "after": difference.afterInput.map { .number(Double($0)) } ?? .null,
              "event": ReplayReport.json(difference.event, device: device),
            ]))
        ]
      }
      var out: [String] = []
      if group != .some(difference.afterInput) {
        group = .some(difference.afterInput)
        out.append("@ after \(difference.after.map(EventFormatter.line) ?? "the start of the replay")")
      }
      out.append("\(difference.side.rawValue) \(ReplayReport.line(difference.event))")
      return out
    }
  }

  public func closingLines(_ report: ReplayReport) -> [String] {
    if json {
      return [
        JSON.encode(
          .object([
            "summary": .object([
              "inputs": .number(Double(report.inputs)), "replayed": .number(Double(report.replayedCount)),
              "logged": .number(Double(report.loggedCount)), "matched": .number(Double(report.matched)),
              "only_logged": .number(Double(report.onlyLogged)),
              "only_replayed": .number(Double(report.onlyReplayed)),
            ])
          ]))
      ]
    }
    if diff { return [report.summaryLine] }
    return [
      "\(report.inputsText): \(report.replayedCount) rule event\(report.replayedCount == 1 ? "" : "s")"
    ]
  }
}
