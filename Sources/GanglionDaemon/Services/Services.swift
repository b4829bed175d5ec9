import GanglionCore
import GanglionGPIO
import GanglionLog
import GanglionMQTT
import GanglionRules
import GanglionSystem
import Logging

/// What every service of one daemon run shares.
struct DaemonContext {
  let loaded: LoadedConfiguration
  let options: Daemon.Options
  let clock: SystemClock
  /// The zone local time follows (the config's `timezone:`, else the system's).
  let timeZone: DeviceTimeZone
  let logger: Logger
  let notifier: SystemdNotifier
  var config: Config { loaded.config }
}

/// The event log, opened (and recovered) first: everything after it records into it.
final class EventLogService: DaemonService {
  let name = "the event log"
  private let context: DaemonContext
  private(set) var log: EventLog!

  init(_ context: DaemonContext) { self.context = context }

  func start() throws {
    let directory = context.loaded.logDirectory
    let settings = context.config.log
    do {
      try FileSystem.makeDirectories(directory, permissions: 0o750)
      log = try EventLog.open(
        directory: directory,
        options: LogOptions(maxSize: settings.maxSize, segmentSize: settings.segmentSize, sync: settings.sync))
    } catch {
      throw DaemonStartError("cannot open the event log in \(directory): \(error)")
    }
    // A log belongs to one device: its events' ids say so. Another device's log is not
    // continued under a new name.
    let recorded = (try? DaemonStateFiles.recordedDevice(in: directory)) ?? nil
    if let recorded, recorded != context.config.device {
      try? log.close()
      throw DaemonStartError(
        "the event log in \(directory) belongs to device '\(recorded)', but the configuration says device "
          + "'\(context.config.device)': continuing it would relabel its history. Move the log folder away (or "
          + "point log.dir at a new one) to start a new log, or set `device: \(recorded)`")
    }
    if log.recovery.bytesCut > 0 {
      context.logger.warning("event log recovered: cut \(log.recovery.bytesCut) bytes of a torn or corrupt tail")
    }
    for stretch in log.recovery.skipped {
      context.logger.warning("event log: corrupt records in \(directory)/\(stretch)")
    }
  }

  /// The pipeline closes the log when its loop ends; this closes it when the loop never ran.
  func stop() { try? log.close() }
}

/// The GPIO lines, claimed at once: outputs driven to `initial` (or their persisted value),
/// then inputs read once.
final class GPIOService: DaemonService {
  let name = "the GPIO lines"
  private let context: DaemonContext
  private let logService: EventLogService
  let backend: any GPIOBackend
  /// The simulated board, with `--simulate`.
  let board: SimulatedBoard?
  private(set) var readings: [String: Bool] = [:]
  /// `persist: true` values from the log, outputs included: they are driven to the restored
  /// level when claimed, with no glitch through `initial`.
  private(set) var restored: [String: Value] = [:]

  init(_ context: DaemonContext, log: EventLogService) {
    self.context = context
    logService = log
    if context.options.simulate {
      let simulated = SimulatedBoard(
        clock: context.clock, chips: GPIOWiring.simulatedChips(context.config, profile: context.loaded.profile),
        lineNames: GPIOWiring.simulatedLineNames(context.loaded.profile), debounceTimer: .thread)
      backend = simulated
      board = simulated
    } else {
      backend = HardwareGPIO()
      board = nil
    }
  }

  func start() throws {
    let config = context.config
    let persisted = Set(config.signals.filter(\.persist).map(\.name))
    if !persisted.isEmpty {
      do {
        for (name, entry) in try logService.log.lastSignalValues(of: persisted) where !entry.value.isNull {
          restored[name] = entry.value
        }
      } catch {
        context.logger.error("cannot read persisted values from the log: \(error)")
      }
    }
    try backend.claim(inputs: GPIOWiring.inputs(config), outputs: GPIOWiring.outputs(config, restored: restored))
    readings = try backend.readInputs()
  }

  func stop() { backend.stop() }
}

/// The pipeline: records the start-up state; its loop runs once every service is up.
final class PipelineService: DaemonService {
  let name = "the pipeline"
  private let context: DaemonContext
  private let logService: EventLogService
  private let gpio: GPIOService
  private(set) var pipeline: Pipeline!

  init(_ context: DaemonContext, log: EventLogService, gpio: GPIOService) {
    self.context = context
    logService = log
    self.gpio = gpio
  }

  func start() throws {
    pipeline = Pipeline(
      settings: .init(
        loaded: context.loaded, simulate: context.options.simulate, printEvents: context.options.printEvents),
      clock: context.clock, logger: context.logger, log: logService.log, gpio: gpio.backend,
      watchdog: Watchdog(notifier: context.notifier))
    // The device's name travels with the log, so ids come out right from a copied folder.
    pipeline.stateFiles.recordDevice(context.config.device)
    pipeline.stateFiles.recordTimeZone(context.timeZone)
    pipeline.startUp(initialInputs: gpio.readings, restored: gpio.restored)
  }

  /// Says how many inputs arrived too late to be handled (the inputs are stopped by now).
  func stop() { pipeline.reportUnhandledInputs() }
}

/// Edges of the GPIO inputs, handed to the pipeline from the edge thread.
final class GPIOEdgeService: DaemonService {
  let name = "reading GPIO edges"
  private let gpio: GPIOService
  private let pipelineService: PipelineService

  init(_ context: DaemonContext, gpio: GPIOService, pipeline: PipelineService) {
    self.gpio = gpio
    pipelineService = pipeline
  }

  func start() throws {
    let pipeline = pipelineService.pipeline!
    try gpio.backend.start(
      onEdge: { edge in pipeline.submit(.gpioEdge(edge)) },
      onLostEdges: { lost in pipeline.submit(.gpioLostEdges(lost)) })
  }

  /// Edges stop with the lines (`GPIOService.stop`), which comes right after.
  func stop() { gpio.backend.stop() }
}

/// The MQTT client (with an `mqtt:` section): inbound messages to the pipeline, the outbox
/// to the broker; `offline` on a clean stop.
final class MQTTService: DaemonService {
  let name = "MQTT"
  private let context: DaemonContext
  private let pipelineService: PipelineService
  private var client: MQTTClient?

  init(_ context: DaemonContext, pipeline: PipelineService) {
    self.context = context
    pipelineService = pipeline
  }

  func start() throws {
    guard let settings = context.config.mqtt else { return }
    let pipeline = pipelineService.pipeline!
    let client = try MQTTClient(
      options: try Daemon.mqttOptions(
        settings, base: FileSystem.directory(of: context.loaded.configPath), filters: pipeline.mqttFilters),
      onMessage: { message in pipeline.handleOrQueue(mqtt: message) },
      onStateChange: { state in pipeline.submit(.mqttState(state)) },
      onAcknowledged: { id in
        pipeline.delivery?.acknowledgements.add(id)
        pipeline.inbox.wake()
      },
      onRefused: { id, error in
        pipeline.delivery?.acknowledgements.addRefused(id, reason: "\(error)")
        pipeline.inbox.wake()
      })
    pipeline.attach(publisher: client)
    try client.start()
    self.client = client
  }

  func stop() { client?.stop(finalMessage: pipelineService.pipeline.delivery?.offlineMessage) }
}

/// The reload thread: reads and compiles rules off the pipeline's thread for SIGHUP and
/// `POST /reload`, and hands the result to the pipeline.
final class ReloadService: DaemonService {
  let name = "the reload thread"
  private let pipelineService: PipelineService
  private(set) var reloader: RuleReloader!

  init(pipeline: PipelineService) { pipelineService = pipeline }

  func start() throws {
    reloader = pipelineService.pipeline.makeReloader()
    try reloader.start()
  }

  func stop() { reloader.stop() }
}

/// The HTTP API (`/status`, `/metrics`, `/events`, `/inject`, `/reload`), unless `http: off`.
final class HTTPService: DaemonService {
  let name = "the HTTP listener"
  private let context: DaemonContext
  private let pipelineService: PipelineService
  private let gpio: GPIOService
  private let reload: ReloadService
  private var server: HTTPServer?

  init(_ context: DaemonContext, pipeline: PipelineService, gpio: GPIOService, reload: ReloadService) {
    self.context = context
    pipelineService = pipeline
    self.gpio = gpio
    self.reload = reload
  }

  func start() throws {
    guard let settings = context.config.http else { return }
    let api = DaemonAPI(
      pipeline: pipelineService.pipeline, reloader: reload.reloader, board: gpio.board, config: context.config,
      clock: context.clock)
    let server = try HTTPServer(
      host: settings.host, port: settings.port,
      access: HTTPAccessPolicy(listenHost: settings.host, port: settings.port, token: context.loaded.apiToken),
      classify: DaemonAPI.classify
    ) { request, connection in
      api.handle(request, connection)
    }
    try server.start()
    self.server = server
  }

  func stop() { server?.stop() }
}

/// SIGTERM/SIGINT stop the pipeline's loop (`STOPPING=1` to systemd first); SIGHUP reloads.
///
/// A stop always ends the process within `stopTimeout`: if the clean stop (the loop ending,
/// the log synced, MQTT saying `offline`) has not finished by then, the process exits with
/// code 3 and says why; systemd's `TimeoutStopSec` (15 s) is longer.
final class SignalService: DaemonService {
  let name = "the signal listener"
  /// How long a clean stop may take before the process exits anyway.
  static let stopTimeout: Duration = .seconds(10)
  private let context: DaemonContext
  private let pipelineService: PipelineService
  private let reload: ReloadService

  init(_ context: DaemonContext, pipeline: PipelineService, reload: ReloadService) {
    self.context = context
    pipelineService = pipeline
    self.reload = reload
  }

  func start() throws {
    let pipeline = pipelineService.pipeline!
    let reloader = reload.reloader!
    let notifier = context.notifier
    let logger = context.logger
    try SignalTrap.startListening { signal in
      switch signal {
      case .terminate:
        guard !pipeline.isStopRequested else { return }
        notifier.notify("STOPPING=1")
        pipeline.requestStop()
        // This thread has nothing else to do: it is the stop's watchdog. When the clean
        // stop is done the process has exited before this sleep ends.
        sleepOnThisThread(Self.stopTimeout)
        logger.critical("the daemon did not stop within \(Self.stopTimeout); exiting without a clean stop")
        CurrentProcess.exit(GanglionExitCode.runtimeFailure.rawValue)
      case .reload:
        _ = reloader.request(pinned: true)
      }
    }
  }

  /// The listener thread lives until the process ends; signals after the loop stopped find
  /// a stopped pipeline.
  func stop() {}
}

/// Why a service could not start, in words.
struct DaemonStartError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
