import GanglionCore
import GanglionGPIO
import GanglionLog
import GanglionMQTT
import GanglionRules
import GanglionSystem
import GanglionTestSupport
import Logging
import Synchronization

@testable import GanglionDaemon

/// A publisher that records what it is handed, for pipeline and outbox tests: connected or
/// not as the test says, refusing on demand, acknowledging only when the test says so.
final class RecordingPublisher: MessagePublisher, @unchecked Sendable {
  struct State {
    var connected = true
    var refuseTopics: Set<String> = []
    var published: [(id: Int32, message: MQTTMessage)] = []
    var acknowledged: Set<Int32> = []
    var nextID: Int32 = 1
  }

  let state = Mutex(State())

  var isConnected: Bool { state.withLock { $0.connected } }

  func publish(_ message: MQTTMessage) throws -> Int32 {
    try state.withLock { state in
      guard state.connected else { throw TestSupportError("not connected") }
      guard !state.refuseTopics.contains(message.topic) else { throw TestSupportError("refused \(message.topic)") }
      let id = state.nextID
      state.nextID += 1
      state.published.append((id, message))
      return id
    }
  }

  var messages: [MQTTMessage] { state.withLock { $0.published.map(\.message) } }

  func messages(on topic: String) -> [MQTTMessage] { messages.filter { $0.topic == topic } }

  /// QoS 1 messages handed over and not acknowledged yet.
  var unacknowledged: [Int32] {
    state.withLock { state in
      state.published.filter { $0.message.qos > 0 && !state.acknowledged.contains($0.id) }.map(\.id)
    }
  }

  /// Marks every handed-over message as acknowledged; returns their ids (for the pipeline).
  func acknowledgeAll() -> [Int32] {
    state.withLock { state in
      let ids = state.published.filter { $0.message.qos > 0 && !state.acknowledged.contains($0.id) }.map(\.id)
      state.acknowledged.formUnion(ids)
      return ids
    }
  }
}

/// Log lines a component writes, for tests that check what the daemon says.
struct RecordingLogHandler: LogHandler {
  final class Lines: Sendable {
    let all = Mutex<[(level: Logger.Level, text: String)]>([])
  }

  let lines: Lines
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .trace

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    lines.all.withLock { $0.append((event.level, event.message.description)) }
  }
}

/// A pipeline on virtual time: a `ManualClock` (wall and monotonic), the simulated board with
/// manual debounce, a recording publisher, and a real event log in a temporary folder. No
/// thread runs: `turn` is one pass of the daemon's loop, so a test runs in milliseconds.
final class PipelineHarness {
  let folder: TemporaryDirectory
  let clock = ManualClock(start: Timestamp(seconds: 1_767_225_600))
  let board: SimulatedBoard
  let publisher = RecordingPublisher()
  let logLines = RecordingLogHandler.Lines()
  let pipeline: Pipeline
  let log: EventLog

  static let defaultConfig = """
    device: test-pi
    rules: rules.yaml
    signals:
      hallway.motion:
        gpio: { chip: gpiochip0, line: 17 }
      hallway.light:
        gpio: { chip: gpiochip0, line: 27, output: true }
      hallway.lux:
        mqtt: { topic: sensors/hallway/lux, type: number }
    mqtt:
      url: mqtt://127.0.0.1:1883
    """

  static let defaultRules = """
    rules:
      - name: light-on
        when: hallway.motion
        if: hallway.lux < 40
        do:
          - set: { hallway.light: on }
      - name: light-off
        when: not hallway.motion
        for: 2m
        do:
          - set: { hallway.light: off }
    """

  /// - Parameters:
  ///   - config: the configuration text (`rules.yaml` beside it holds `rules`).
  ///   - connected: whether the publisher is attached and connected at start.
  init(config: String = PipelineHarness.defaultConfig, rules: String = PipelineHarness.defaultRules) throws {
    folder = try TemporaryDirectory(prefix: "ganglion-pipeline")
    try folder.write(rules, to: "rules.yaml")
    let configPath = try folder.write("log: { dir: log }\n" + config + "\n", to: "ganglion.yaml")
    let (loaded, diagnostics) = ConfigurationLoader.load(configPath: configPath)
    guard let loaded else { throw TestSupportError("the harness config: \(diagnostics)") }
    try FileSystem.makeDirectories(loaded.logDirectory)
    log = try EventLog.open(directory: loaded.logDirectory, options: LogOptions(sync: loaded.config.log.sync))
    board = SimulatedBoard(
      clock: clock, chips: GPIOWiring.simulatedChips(loaded.config, profile: loaded.profile), lineNames: [:],
      debounceTimer: .manual)
    try board.claim(inputs: GPIOWiring.inputs(loaded.config), outputs: GPIOWiring.outputs(loaded.config))
    let lines = logLines
    pipeline = Pipeline(
      settings: .init(loaded: loaded, simulate: true, printEvents: false), clock: clock, monotonic: clock,
      logger: Logger(label: "test") { _ in RecordingLogHandler(lines: lines) }, log: log, gpio: board)
    pipeline.attach(publisher: publisher)
    pipeline.worker.lock()
    pipeline.startUp(initialInputs: try board.readInputs(), restored: [:])
    pipeline.handle(.connected)
    let pipeline = pipeline
    try board.start(
      onEdge: { pipeline.submit(.gpioEdge($0)) }, onLostEdges: { pipeline.submit(.gpioLostEdges($0)) })
  }

  /// Turns the loop once for every input waiting in the pipeline's queue (board edges).
  func drainInbox() {
    while let input = pipeline.inbox.poll() { pipeline.turn(input) }
  }

  /// Drives a GPIO input of the simulated board (as the outside world would) and lets the
  /// pipeline take the edge.
  func drive(_ signal: String, _ value: Bool) throws {
    try board.drive(signal: signal, value: value)
    board.pump()
    drainInbox()
  }

  deinit { pipeline.worker.unlock() }

  /// One pass of the loop with `input`.
  func send(_ input: PipelineInput) { pipeline.turn(input) }

  func mqtt(_ topic: String, _ payload: String) {
    send(.mqttMessage(MQTTMessage(topic: topic, payload: Array(payload.utf8))))
  }

  func input(_ signal: String, _ value: Value) {
    send(.reading(Reading(signal: signal, value: value, time: clock.now(), source: .simulator)))
  }

  /// Moves virtual time on and runs one pass of the loop (timers due by then fire).
  func advance(by duration: Duration) {
    clock.advance(by: duration)
    pipeline.turn(nil)
  }

  /// The broker acknowledges everything handed over so far; one pass of the loop takes it in.
  func acknowledgeAll() {
    for id in publisher.acknowledgeAll() { pipeline.delivery?.acknowledgements.add(id) }
    pipeline.turn(nil)
  }

  func setConnected(_ connected: Bool) {
    publisher.state.withLock { $0.connected = connected }
    pipeline.turn(.mqttState(connected ? .connected : .disconnected(reason: "test")))
  }

  /// The logical level of a GPIO signal's line on the simulated board.
  func level(_ signal: String) -> Bool? {
    guard case .gpio(let gpio)? = pipeline.config.signals.first(where: { $0.name == signal })?.source,
      let address = GPIOWiring.address(gpio)
    else { return nil }
    return board.level(address)
  }

  /// Every event in the log, oldest first.
  func loggedEvents() throws -> [Event] {
    try log.writeBuffered()
    return Array(try LogReader(directory: log.directory).events(fromSeq: 0))
  }

  var warnings: [String] { logLines.all.withLock { $0.filter { $0.level >= .warning }.map(\.text) } }
}
