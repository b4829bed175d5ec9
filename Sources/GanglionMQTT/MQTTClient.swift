import GanglionCore
import GanglionSystem
import Synchronization

/// An MQTT client on libmosquitto with its own network thread, automatic reconnection
/// (exponential backoff with jitter) and re-subscription after every reconnect.
///
/// Thread safety: all methods may be called from any thread. `onMessage`, `onStateChange` and
/// `onAcknowledged` run on the client's network thread, one at a time: keep them short and
/// non-blocking.
///
/// Lifetime: after `start()` the network thread keeps the client alive until `stop()`.
///
/// Why not `mosquitto_loop_start`: with libmosquitto 2.0.11, if the first `connect_async`
/// fails (broker down; it returns MOSQ_ERR_ERRNO/ECONNREFUSED at once) the library's thread
/// never connects even after the broker comes up, its reconnect sleep (whole seconds, no
/// jitter) can't be interrupted by a stop, and a disconnect can't flush a final message. The
/// client runs `mosquitto_loop` on its own thread and schedules reconnects itself.
public final class MQTTClient: Sendable {
  /// `libmosquitto 2.0.11`: the library this process runs with.
  public static var libraryDescription: String { "libmosquitto \(MosquittoHandle.libraryVersion)" }

  public let options: MQTTClientOptions
  private let handle: MosquittoHandle
  private let keepaliveSeconds: Int
  private let onMessage: @Sendable (MQTTMessage) -> Void
  private let onStateChange: @Sendable (MQTTConnectionState) -> Void
  private let onAcknowledged: (@Sendable (Int32) -> Void)?
  private let status: Mutex<Status>
  /// Messages awaiting acknowledgement. Held across `mosquitto_publish` so that an
  /// acknowledgement can't arrive before its message id is recorded.
  private let acknowledgements = Mutex(Acknowledgements())
  /// `Phase` raw value: read by the network thread, written by `stop()`.
  private let phase = Atomic<UInt8>(Phase.running.rawValue)

  private enum Lifecycle { case idle, running, stopping, stopped }

  private enum Phase: UInt8 {
    /// Connect and reconnect.
    case running
    /// `stop()` is publishing its final message: keep serving the connection, don't reconnect.
    case flushing
    /// Disconnect and let the network thread end.
    case disconnecting
  }

  private struct Status {
    init(backoff: ReconnectBackoff) { self.backoff = backoff }

    var lifecycle = Lifecycle.idle
    var connection = MQTTConnectionState.disconnected(reason: "not started")
    var networkThread: ThreadID?
    var networkThreadExited = false
    var backoff: ReconnectBackoff
    /// Message id of the SUBSCRIBE sent after the current connection's CONNACK.
    var pendingSubscription: Int32?
    /// Until when the network thread waits for the final message's acknowledgement.
    var flushDeadline: ContinuousClock.Instant?
  }

  private struct Acknowledgements {
    /// libmosquitto message id -> the id `publish` returned, for QoS 1/2 messages in flight.
    var pending: [Int32: Int32] = [:]
    /// QoS 1/2 messages published before the network thread's first connect call, in order.
    /// libmosquitto 2.0.11 clears the retain flag of messages published before that call
    /// (its `retain_available` starts false), so they wait here and are handed over right
    /// after it.
    var early: [(id: Int32, message: MQTTMessage)] = []
    /// True once the first connect call was made: publish straight to libmosquitto.
    var handedOver = false
    /// libmosquitto's message id of `stop()`'s final message.
    var awaited: Int32?
    var awaitedAcknowledged = false
    var lastPublishID: Int32 = 0

    var count: Int { pending.count + early.count }

    /// 1, 2, ... Int32.max, then 1 again.
    mutating func nextPublishID() -> Int32 {
      lastPublishID = lastPublishID == .max ? 1 : lastPublishID + 1
      return lastPublishID
    }
  }

  /// Validates `options` and sets up libmosquitto (will, credentials, TLS); does not connect.
  /// `onAcknowledged` receives the id `publish` returned for each QoS 1/2 message once the
  /// broker has acknowledged it (not for `stop()`'s final message).
  /// Throws `invalidOptions`, `tls` (unreadable files) or `library`.
  public init(
    options: MQTTClientOptions, onMessage: @escaping @Sendable (MQTTMessage) -> Void,
    onStateChange: @escaping @Sendable (MQTTConnectionState) -> Void,
    onAcknowledged: (@Sendable (Int32) -> Void)? = nil
  ) throws(MQTTError) {
    keepaliveSeconds = try Self.validate(options)
    status = Mutex(
      Status(
        backoff: ReconnectBackoff(minimum: options.reconnectDelay.minimum, maximum: options.reconnectDelay.maximum)))
    self.options = options
    self.onMessage = onMessage
    self.onStateChange = onStateChange
    self.onAcknowledged = onAcknowledged
    handle = try MosquittoHandle(options: options)
    handle.setHandler(self)
  }

  deinit {
    // Reached only when the network thread is gone (it holds a reference while it runs).
    handle.destroy()
  }

  /// Starts connecting on a new network thread and returns at once. An unreachable broker is
  /// not an error: the client keeps retrying with backoff and reports `.disconnected(reason:)`.
  /// Calling it again while running does nothing. Throws `stopped` after `stop()`, `library`
  /// if the thread can't be created.
  public func start() throws(MQTTError) {
    let shouldStart = try status.withLock { status throws(MQTTError) -> Bool in
      switch status.lifecycle {
      case .idle:
        status.lifecycle = .running
        status.connection = .connecting
        return true
      case .running: return false
      case .stopping, .stopped: throw .stopped(broker: options.brokerAddress)
      }
    }
    guard shouldStart else { return }
    do {
      // The thread keeps the client alive until its loop ends.
      try PosixThread.detached(name: "MQTT network thread") { [self] in runNetworkThread() }
    } catch {
      status.withLock { $0.lifecycle = .stopped }
      throw .library(
        call: "pthread_create", code: -1, message: error.text,
        context: "the MQTT network thread for \(options.brokerAddress)")
    }
  }

  /// Queues `message` without blocking and returns its id: 1, 2, 3... in publish order for
  /// this client (wrapping after Int32.max), the id `onAcknowledged` reports.
  ///
  /// QoS 1/2 messages are queued while disconnected (also before `start()`) and sent in order
  /// after connecting, up to `maxPendingMessages` unacknowledged ones (then `queueFull`).
  /// QoS 0 messages are only sent while connected (`notConnected` otherwise). Throws `stopped`
  /// once `stop()` was called, `library` for invalid topics or QoS.
  @discardableResult
  public func publish(_ message: MQTTMessage) throws(MQTTError) -> Int32 {
    let stopped = status.withLock { $0.lifecycle == .stopping || $0.lifecycle == .stopped }
    if stopped { throw .stopped(broker: options.brokerAddress) }
    if message.qos == 0 {
      let id = acknowledgements.withLock { $0.nextPublishID() }
      _ = try handle.publish(message)
      return id
    }
    return try acknowledgements.withLock { acknowledgements throws(MQTTError) -> Int32 in
      guard acknowledgements.count < options.maxPendingMessages else {
        throw .queueFull(broker: options.brokerAddress, topic: message.topic, limit: options.maxPendingMessages)
      }
      guard acknowledgements.handedOver else {
        guard MQTTTopic.isValidTopicName(message.topic), (1...2).contains(message.qos) else {
          throw .invalidOptions("cannot publish to '\(message.topic)' with QoS \(message.qos)")
        }
        let id = acknowledgements.nextPublishID()
        acknowledgements.early.append((id, message))
        return id
      }
      let messageID = try handle.publish(message)
      let id = acknowledgements.nextPublishID()
      acknowledgements.pending[messageID] = id
      return id
    }
  }

  /// True while connected and subscribed.
  public var isConnected: Bool { state == .connected }

  /// The current connection state (the last one reported to `onStateChange`).
  public var state: MQTTConnectionState { status.withLock { $0.connection } }

  /// QoS 1/2 messages published and not yet acknowledged by the broker.
  public var pendingMessageCount: Int { acknowledgements.withLock { $0.count } }

  /// If connected, publishes `finalMessage` (with QoS 1; e.g. a retained "offline") and waits
  /// up to 1 s for the broker's acknowledgement; then disconnects cleanly (so the will is not
  /// published) and ends the network thread. Blocks the calling thread for up to about 3 s.
  /// From a callback it returns at once and the network thread does the same before it ends.
  /// Idempotent; after it, `publish` and `start` throw `stopped`.
  public func stop(finalMessage: MQTTMessage?) {
    enum Role { case notStarted, stopper, bystander }
    let (role, networkThread) = status.withLock { status -> (Role, ThreadID?) in
      switch status.lifecycle {
      case .idle:
        status.lifecycle = .stopped
        status.connection = .disconnected(reason: "stopped")
        return (.notStarted, nil)
      case .running:
        status.lifecycle = .stopping
        return (.stopper, status.networkThread)
      case .stopping, .stopped:
        return (.bystander, status.networkThread)
      }
    }
    let onNetworkThread = networkThread?.isCurrent ?? false
    switch role {
    case .notStarted: return
    case .bystander:
      if !onNetworkThread { waitUntilNetworkThreadExits(timeout: .seconds(5)) }
      return
    case .stopper: break
    }

    phase.store(Phase.flushing.rawValue, ordering: .sequentiallyConsistent)
    if var finalMessage, isConnected {
      finalMessage.qos = 1
      let queued = acknowledgements.withLock { acknowledgements -> Bool in
        guard let messageID = try? handle.publish(finalMessage) else { return false }
        acknowledgements.awaited = messageID
        return true
      }
      if queued, !onNetworkThread {
        waitOnThisThread(timeout: .seconds(1)) {
          acknowledgements.withLock { $0.awaitedAcknowledged } || status.withLock { $0.networkThreadExited }
        }
      }
    }
    status.withLock { $0.flushDeadline = ContinuousClock.now + .seconds(1) }
    phase.store(Phase.disconnecting.rawValue, ordering: .sequentiallyConsistent)
    if !onNetworkThread {
      // Wakes the network thread; from a callback, serveConnection disconnects after the flush
      // (a packet arriving after mosquitto_disconnect makes libmosquitto drop the socket).
      handle.disconnect()
      waitUntilNetworkThreadExits(timeout: .seconds(5))
    }
  }

  // MARK: - Network thread

  private func runNetworkThread() {
    status.withLock { $0.networkThread = .current }
    onStateChange(.connecting)
    var connectionInitiated = false
    var fatalError = false
    while currentPhase == .running {
      do throws(MQTTError) {
        if connectionInitiated {
          try handle.reconnectAsync()
        } else {
          try handle.connectAsync(host: options.host, port: options.port, keepaliveSeconds: keepaliveSeconds)
        }
        connectionInitiated = true
        handOverEarlyMessages()
        serveConnection()
      } catch {
        // connect_async stores host and port before it tries the network, so later attempts
        // can use reconnect_async; only argument errors (validated in init) stop that.
        if case .library(_, let code, _, _) = error, MosquittoHandle.isArgumentError(code) {
          report(.disconnected(reason: error.description))
          fatalError = true
          break
        }
        connectionInitiated = true
        handOverEarlyMessages()
        report(.disconnected(reason: "\(options.brokerAddress): \(Self.reasonText(error))"))
      }
      guard currentPhase == .running else { break }
      backOff()
    }
    status.withLock {
      $0.networkThreadExited = true
      $0.lifecycle = .stopped
    }
    if !fatalError { report(.disconnected(reason: "stopped")) }
  }

  private var currentPhase: Phase { Phase(rawValue: phase.load(ordering: .sequentiallyConsistent))! }

  /// Passes messages published before the first connect call to libmosquitto, in order.
  private func handOverEarlyMessages() {
    acknowledgements.withLock { acknowledgements in
      guard !acknowledgements.handedOver else { return }
      acknowledgements.handedOver = true
      for (id, message) in acknowledgements.early {
        // Validated when queued; a failure here can only be out of memory.
        if let messageID = try? handle.publish(message) { acknowledgements.pending[messageID] = id }
      }
      acknowledgements.early = []
    }
  }

  /// Runs the connection until it ends. During `stop()`: waits (bounded) for the final
  /// message's acknowledgement, disconnects, and gives up on a clean disconnect after 2 s.
  private func serveConnection() {
    var disconnectDeadline: ContinuousClock.Instant?
    while true {
      if let ended = handle.loop(timeoutMilliseconds: 1000) {
        // Keep the reason on_disconnect gave, if it gave one; otherwise this is the only word.
        if currentPhase == .running {
          report(.disconnected(reason: "\(options.brokerAddress): \(ended)"), unlessDisconnected: true)
        }
        return
      }
      guard currentPhase == .disconnecting else { continue }
      let now = ContinuousClock.now
      if let disconnectDeadline {
        if now >= disconnectDeadline { return }
        continue
      }
      let flushed = acknowledgements.withLock { $0.awaited == nil || $0.awaitedAcknowledged }
      let flushDeadline = status.withLock { $0.flushDeadline } ?? now
      if flushed || now >= flushDeadline {
        // Also covers a stop() whose disconnect came before this connection attempt began.
        handle.disconnect()
        disconnectDeadline = now + .seconds(2)
      }
    }
  }

  /// Sleeps the next backoff delay, waking early when `stop()` begins.
  private func backOff() {
    let random = Double.random(in: 0...1)
    let delay = status.withLock { $0.backoff.nextDelay(at: .now, random: random) }
    let deadline = ContinuousClock.now + delay
    while currentPhase == .running, ContinuousClock.now < deadline {
      sleepOnThisThread(min(.milliseconds(20), deadline - ContinuousClock.now))
    }
  }

  private func waitUntilNetworkThreadExits(timeout: Duration) {
    waitOnThisThread(timeout: timeout) { status.withLock { $0.networkThreadExited } }
  }

  private func waitOnThisThread(timeout: Duration, until condition: () -> Bool) {
    let deadline = ContinuousClock.now + timeout
    while !condition(), ContinuousClock.now < deadline { sleepOnThisThread(.milliseconds(1)) }
  }

  /// Notifies `onStateChange` if `state` differs from the current state.
  private func report(_ state: MQTTConnectionState, unlessDisconnected: Bool = false) {
    let changed = status.withLock { status -> Bool in
      if status.connection == state { return false }
      if unlessDisconnected, case .disconnected = status.connection { return false }
      status.connection = state
      return true
    }
    if changed { onStateChange(state) }
  }

  private static func reasonText(_ error: MQTTError) -> String {
    if case .library(_, _, let message, _) = error { return message }
    return error.description
  }

  private static func validate(_ options: MQTTClientOptions) throws(MQTTError) -> Int {
    guard !options.host.isEmpty else { throw .invalidOptions("the broker host is empty") }
    guard (1...65535).contains(options.port) else { throw .invalidOptions("port \(options.port) is not 1-65535") }
    guard !options.clientID.isEmpty, options.clientID.utf8.count <= 65535 else {
      throw .invalidOptions("the client id must be 1-65535 bytes")
    }
    let keepaliveMicroseconds = options.keepalive.microseconds
    let keepalive = Int((keepaliveMicroseconds + 999_999) / 1_000_000)
    guard (5...65535).contains(keepalive) else {
      throw .invalidOptions("keepalive \(options.keepalive) is not 5 s to 18 h")
    }
    for filter in options.subscriptions where !MQTTTopic.isValidFilter(filter) {
      throw .invalidOptions("'\(filter)' is not a valid topic filter")
    }
    if let will = options.will {
      guard MQTTTopic.isValidTopicName(will.topic) else {
        throw .invalidOptions("will topic '\(will.topic)' is not a valid topic name")
      }
      guard (0...2).contains(will.qos) else { throw .invalidOptions("will QoS \(will.qos) is not 0-2") }
    }
    let (minimum, maximum) = options.reconnectDelay
    guard minimum > .zero, maximum >= minimum else {
      throw .invalidOptions("reconnect delay needs 0 < minimum <= maximum")
    }
    // libmosquitto's message ids are 16 bits: more in flight would reuse one.
    guard (1...65535).contains(options.maxPendingMessages) else {
      throw .invalidOptions("maxPendingMessages must be 1-65535")
    }
    return keepalive
  }
}

extension MQTTClient: MosquittoEventHandler {
  func handle(_ event: MosquittoEvent) {
    switch event {
    case .connected:
      status.withLock { $0.backoff.connectionEstablished(at: .now) }
      if options.subscriptions.isEmpty {
        report(.connected)
      } else {
        do {
          let messageID = try handle.subscribe(options.subscriptions, qos: 1)
          status.withLock { $0.pendingSubscription = messageID }
        } catch {
          // The connection is going away under us; the disconnect callback follows.
          report(.disconnected(reason: error.description))
        }
      }
    case .subscribed(let messageID, _):
      let ours = status.withLock { status -> Bool in
        guard status.pendingSubscription == messageID else { return false }
        status.pendingSubscription = nil
        return true
      }
      if ours { report(.connected) }
    case .connectRefused(let reason):
      report(.disconnected(reason: "\(options.brokerAddress): connection refused: \(reason)"))
    case .disconnected(let reason, let requested):
      status.withLock { $0.pendingSubscription = nil }
      if requested {
        report(.disconnected(reason: "stopped"))
      } else {
        // Keep a more specific reason (a refused CONNACK) reported just before.
        report(.disconnected(reason: "\(options.brokerAddress): \(reason)"), unlessDisconnected: true)
      }
    case .published(let messageID):
      let id = acknowledgements.withLock { acknowledgements -> Int32? in
        if acknowledgements.awaited == messageID { acknowledgements.awaitedAcknowledged = true }
        return acknowledgements.pending.removeValue(forKey: messageID)
      }
      if let id { onAcknowledged?(id) }
    case .message(let message):
      onMessage(message)
    }
  }
}

/// Reconnect delays: the step doubles from `minimum` with each failed attempt up to
/// `maximum`, and the delay is drawn from the upper half of the step, so clients that lost
/// the broker together don't return together. Only a connection that stayed up for
/// `healthyConnection` resets the step: a broker that accepts and then drops us at once
/// (two devices with one client id take each other's session) is not retried at full speed.
struct ReconnectBackoff {
  var minimum: Duration
  var maximum: Duration
  var healthyConnection: Duration = .seconds(10)
  /// Attempts since the last healthy connection.
  private(set) var failures = 0
  private var connectedAt: ContinuousClock.Instant?

  init(minimum: Duration, maximum: Duration) {
    self.minimum = minimum
    self.maximum = maximum
  }

  mutating func connectionEstablished(at instant: ContinuousClock.Instant) { connectedAt = instant }

  /// The delay before the next attempt, when an attempt failed or a connection ended at `now`.
  mutating func nextDelay(at now: ContinuousClock.Instant, random: Double) -> Duration {
    if let connectedAt, now - connectedAt >= healthyConnection { failures = 0 }
    connectedAt = nil
    defer { failures += 1 }
    return delay(afterFailures: failures, random: random)
  }

  /// The delay before the next attempt after `failures` failed ones; `random` in 0...1.
  func delay(afterFailures failures: Int, random: Double) -> Duration {
    let step = failures >= 30 ? maximum : min(minimum * (1 << failures), maximum)
    return step * (0.5 + 0.5 * min(max(random, 0), 1))
  }
}
