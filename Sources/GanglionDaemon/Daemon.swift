import GanglionCore
import GanglionGPIO
import GanglionLog
import GanglionMQTT
import GanglionRules
import GanglionSystem
import Logging

/// `ganglion run`: builds the daemon from a configuration and runs it on the calling
/// thread until SIGTERM/SIGINT, or until the event log fails.
public enum Daemon {
  public struct Options: Sendable {
    public var configPath: String
    public var simulate: Bool
    public var printEvents: Bool

    public init(configPath: String, simulate: Bool, printEvents: Bool) {
      self.configPath = configPath
      self.simulate = simulate
      self.printEvents = printEvents
    }
  }

  /// Exit codes of cli.md.
  public enum ExitCode: Int32 {
    case success = 0
    case badConfig = 2
    case runtimeFailure = 3
  }

  /// Runs the daemon. Blocks the calling thread (call it from the main thread of
  /// `ganglion run`, which belongs to no task pool) until it stops.
  public static func run(_ options: Options) -> ExitCode {
    SignalTrap.blockTerminationSignals()
    let logger = Logger(label: "ganglion")
    let (loaded, diagnostics) = ConfigurationLoader.load(configPath: options.configPath)
    for diagnostic in diagnostics { printError(diagnostic.description) }
    guard let loaded else { return .badConfig }
    let config = loaded.config
    let clock = SystemClock()
    let notifier = SystemdNotifier()

    let log: EventLog
    do {
      try FileSystem.makeDirectories(loaded.logDirectory)
      log = try EventLog.open(
        directory: loaded.logDirectory,
        options: LogOptions(
          maxSize: config.log.maxSize, segmentSize: config.log.segmentSize, sync: config.log.sync))
    } catch {
      logger.critical("cannot open the event log in \(loaded.logDirectory): \(error)")
      return .runtimeFailure
    }
    if log.recovery.bytesCut > 0 {
      logger.warning("event log recovered: cut \(log.recovery.bytesCut) bytes of a torn or corrupt tail")
    }

    let gpio: any GPIOBackend
    let board: SimulatedBoard?
    if options.simulate {
      let simulated = SimulatedBoard(
        clock: clock, chips: GPIOWiring.simulatedChips(config, profile: loaded.profile),
        lineNames: GPIOWiring.simulatedLineNames(loaded.profile), debounceTimer: .thread)
      gpio = simulated
      board = simulated
    } else {
      gpio = HardwareGPIO()
      board = nil
    }
    // `persist: true` values come back from the log, outputs included: they are driven to
    // the restored level when claimed, with no glitch through `initial`.
    var restored: [String: Value] = [:]
    let persisted = Set(config.signals.filter(\.persist).map(\.name))
    if !persisted.isEmpty {
      do {
        for (name, entry) in try log.lastSignalValues(of: persisted) where !entry.value.isNull {
          restored[name] = entry.value
        }
      } catch {
        logger.error("cannot read persisted values from the log: \(error)")
      }
    }
    let readings: [String: Bool]
    do {
      try gpio.claim(inputs: GPIOWiring.inputs(config), outputs: GPIOWiring.outputs(config, restored: restored))
      readings = try gpio.readInputs()
    } catch {
      logger.critical("cannot claim the GPIO lines: \(error)")
      return .runtimeFailure
    }

    let watchdog = Watchdog(notifier: notifier)
    let pipeline = Pipeline(
      settings: .init(loaded: loaded, simulate: options.simulate, printEvents: options.printEvents), clock: clock,
      logger: logger, log: log, gpio: gpio, watchdog: watchdog)
    // The device's name travels with the log, so ids come out right from a copied folder.
    pipeline.stateFiles.recordDevice(config.device)
    pipeline.startUp(initialInputs: readings, restored: restored)

    let edgeSource: EventSource = options.simulate ? .simulator : .gpio
    do {
      try gpio.start { [pipeline] edge in
        pipeline.submit(
          .reading(Reading(signal: edge.signal, value: .bool(edge.value), time: edge.time, source: edgeSource)))
      }
    } catch {
      logger.critical("cannot start reading GPIO edges: \(error)")
      return .runtimeFailure
    }

    var mqtt: MQTTClient?
    if let settings = config.mqtt {
      do {
        let client = try MQTTClient(
          options: try mqttOptions(
            settings, base: FileSystem.directory(of: loaded.configPath), filters: pipeline.mqttFilters),
          onMessage: { [pipeline] message in pipeline.handleOrQueue(mqtt: message) },
          onStateChange: { [pipeline] state in pipeline.submit(.mqttState(state)) },
          onAcknowledged: { [pipeline] id in
            pipeline.delivery?.acknowledgements.add(id)
            pipeline.inbox.wake()
          })
        pipeline.attach(publisher: client)
        try client.start()
        mqtt = client
      } catch {
        logger.critical("cannot set up MQTT: \(error)")
        return .runtimeFailure
      }
    }

    var http: HTTPServer?
    if let settings = config.http {
      do {
        let api = DaemonAPI(pipeline: pipeline, board: board, config: config, clock: clock)
        let server = try HTTPServer(host: settings.host, port: settings.port) { request, connection in
          api.handle(request, connection)
        }
        try server.start()
        http = server
      } catch {
        logger.critical("cannot start the HTTP listener: \(error)")
        return .runtimeFailure
      }
    }

    do {
      try SignalTrap.startListening { [pipeline] signal in
        switch signal {
        case .terminate:
          notifier.notify("STOPPING=1")
          while !pipeline.inbox.offer(.stop) { sleepOnThisThread(.milliseconds(1)) }
        case .reload:
          pipeline.submit(.reload(ReplyBox()))
        }
      }
    } catch {
      logger.critical("cannot listen for signals: \(error)")
      return .runtimeFailure
    }
    logger.notice(
      "ganglion \(config.device) running: \(loaded.rules.names.count) rules, log \(loaded.logDirectory)\(options.simulate ? ", simulated board" : "")\(config.http.map { ", http \($0.host):\($0.port)" } ?? "")"
    )
    notifier.notify("READY=1")

    pipeline.run()

    http?.stop()
    mqtt?.stop(finalMessage: pipeline.delivery?.offlineMessage)
    gpio.stop()
    pipeline.reportUnhandledInputs()
    if let failure = pipeline.fatalFailure {
      logger.critical("stopped: \(failure)")
      return .runtimeFailure
    }
    logger.notice("stopped")
    return .success
  }

  static func mqttOptions(_ settings: MQTTConfig, base: String, filters: [String]) throws -> MQTTClientOptions {
    var password: String?
    if let file = settings.passwordFile {
      let path = FileSystem.resolve(file, relativeTo: base)
      password = try FileSystem.readText(path, limit: 4096).trimmingASCIIWhitespace()
    }
    var tls: TLSOptions?
    if settings.useTLS {
      tls = TLSOptions(
        caFile: settings.caFile.map { FileSystem.resolve($0, relativeTo: base) }
          ?? "/etc/ssl/certs/ca-certificates.crt",
        certFile: settings.certFile.map { FileSystem.resolve($0, relativeTo: base) },
        keyFile: settings.keyFile.map { FileSystem.resolve($0, relativeTo: base) })
    }
    return MQTTClientOptions(
      host: settings.host, port: settings.port, clientID: settings.clientID, keepalive: settings.keepalive,
      username: settings.username, password: password, tls: tls,
      will: MQTTMessage(topic: "\(settings.prefix)/status", payload: Array("offline".utf8), qos: 1, retain: true),
      subscriptions: filters)
  }
}

/// Writes a line to stderr.
public func printError(_ line: String) {
  CurrentProcess.writeToStandardError(line + "\n")
}
