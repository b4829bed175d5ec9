import Logging

/// A part of the running daemon with a start and a stop (the swift-service-lifecycle shape,
/// on dedicated threads instead of tasks).
///
/// `Daemon.run` starts its services in the order it lists them, runs the pipeline's loop on
/// the calling thread, and stops the started services in reverse order: also when a later
/// one fails to start, so nothing is left claimed or open.
protocol DaemonService: AnyObject {
  /// What it is, for messages: `the event log`, `GPIO lines`, `MQTT`.
  var name: String { get }
  /// Starts the service. Blocking; called once, on the daemon's main thread.
  /// - Throws: an error whose description says what failed.
  func start() throws
  /// Undoes `start`. Called once, only after `start` returned.
  func stop()
}

/// Services started in order and stopped in reverse.
struct ServiceGroup {
  let services: [any DaemonService]
  let logger: Logger
  private(set) var started: [any DaemonService] = []

  init(_ services: [any DaemonService], logger: Logger) {
    self.services = services
    self.logger = logger
  }

  /// Starts every service in order. When one fails, says which and why, stops those
  /// already started (in reverse) and returns false.
  mutating func start() -> Bool {
    for service in services {
      do {
        try service.start()
        started.append(service)
      } catch {
        logger.critical("cannot start \(service.name): \(error)")
        stop()
        return false
      }
    }
    return true
  }

  /// Stops the started services, the last started first.
  mutating func stop() {
    while let service = started.popLast() { service.stop() }
  }
}
