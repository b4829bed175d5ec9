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

  /// Runs the daemon. Blocks the calling thread (call it from the main thread of
  /// `ganglion run`, which belongs to no task pool) until it stops.
  ///
  /// The services start in this order and stop in reverse: the event log; the GPIO lines
  /// (outputs driven, inputs read); the pipeline (the start-up state recorded); GPIO edges;
  /// MQTT; the reload thread; the HTTP listener; the signal listener. Then systemd hears `READY=1` and the
  /// pipeline's loop runs on this thread until SIGTERM or a failing log.
  /// - Returns: `.badUsageOrConfig` for a configuration with errors, `.runtimeFailure` when a
  ///   service cannot start or the log failed, else `.success`.
  public static func run(_ options: Options) -> GanglionExitCode {
    SignalTrap.blockTerminationSignals()
    let logger = Logger(label: "ganglion")
    let (loaded, diagnostics) = ConfigurationLoader.load(configPath: options.configPath)
    for diagnostic in diagnostics { printError(diagnostic.description) }
    guard let loaded else { return .badUsageOrConfig }
    let timeZone = loaded.timeZone ?? TimeZoneFiles.systemZone()
    let context = DaemonContext(
      loaded: loaded, options: options, clock: SystemClock(timeZone: timeZone.rules), timeZone: timeZone,
      logger: logger, notifier: SystemdNotifier())

    let log = EventLogService(context)
    let gpio = GPIOService(context, log: log)
    let pipeline = PipelineService(context, log: log, gpio: gpio)
    let reload = ReloadService(pipeline: pipeline)
    var services = ServiceGroup(
      [
        log, gpio, pipeline, GPIOEdgeService(context, gpio: gpio, pipeline: pipeline),
        MQTTService(context, pipeline: pipeline), reload,
        HTTPService(context, pipeline: pipeline, gpio: gpio, reload: reload),
        SignalService(context, pipeline: pipeline, reload: reload),
      ], logger: logger)
    guard services.start() else { return .runtimeFailure }

    let config = loaded.config
    logger.notice(
      "ganglion \(config.device) running: \(loaded.rules.names.count) rules, log \(loaded.logDirectory)\(options.simulate ? ", simulated board" : "")\(config.http.map { ", http \($0.host):\($0.port)" } ?? ""), local time \(timeZone.name)"
    )
    context.notifier.notify("READY=1")
    pipeline.pipeline.run()
    services.stop()
    if let failure = pipeline.pipeline.fatalFailure {
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
          ?? ConfigurationLoader.defaultCAFile,
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
