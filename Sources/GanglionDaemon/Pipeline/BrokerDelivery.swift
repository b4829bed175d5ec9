import GanglionCore
import GanglionLog
import GanglionMQTT
import Logging

/// Logged events on their way to the broker (events.md "Delivery and ordering"): each
/// event's messages (`EventPublication`) wait in the `Outbox`; what does not fit in memory
/// stays in the log and is read back from it here, oldest first.
///
/// QoS 0 promises at most once: such a message goes out only while the broker is there when
/// its event happens, never late after an outage or again after a restart (a rule's qos 0
/// `publish` must not fire minutes later). QoS 1 messages are kept until acknowledged.
///
/// Not thread-safe: owned by whoever holds the pipeline's lock. `refill` and
/// `enqueueBacklog` read files: call them from the pipeline's own thread.
final class BrokerDelivery {
  let outbox: Outbox
  private(set) var publication: EventPublication
  private(set) var publisher: (any MessagePublisher)?
  /// Broker acknowledgements, from libmosquitto's thread.
  let acknowledgements = AcknowledgementBox()
  private let log: EventLog
  private let logger: Logger
  /// The seq of each signal's newest event in this run (bounded by the config's signals).
  private var newestSignalSeq: [String: UInt64] = [:]
  /// Why the log could not be read last time (reported once).
  private var readFailure: String?
  /// Messages the client refused outside the outbox (`status`, retained state on connect).
  private(set) var refusedOutsideOutbox: UInt64 = 0

  /// - Parameter deliveredSeq: every event up to it reached the broker (from the state file;
  ///   without one, new events only: a broker added to the config must not be flooded with
  ///   old history).
  init(config: Config, log: EventLog, deliveredSeq: UInt64?, logger: Logger) {
    publication = EventPublication(config: config)
    outbox = Outbox(capacity: config.mqtt?.outbox ?? 10_000, deliveredSeq: deliveredSeq ?? (log.nextSeq - 1))
    self.log = log
    self.logger = logger
  }

  func attach(_ publisher: any MessagePublisher) { self.publisher = publisher }

  /// Events logged before a restart that the broker never acknowledged: announced to the
  /// outbox, which has them read back (`refill`) and sent again, oldest first (subscribers
  /// dedupe by `id`); while the broker is unreachable the newest `mqtt.outbox` are kept.
  func enqueueBacklog() {
    guard outbox.deliveredSeq + 1 < log.nextSeq else { return }
    // Counted by reading them: seqs have gaps (a crash skips the rest of a reserved block).
    var count = 0
    do {
      let cursor = try LogReader(directory: log.directory).cursor(
        fromSeq: outbox.deliveredSeq + 1, toSeq: log.nextSeq - 1)
      while let event = try cursor.next() {
        if !kept(publication.messages(for: event, isNewestOfSignal: false), live: false).isEmpty { count += 1 }
      }
    } catch {
      logger.error("cannot read unsent events from the log: \(error)")
      return
    }
    outbox.resume(fromSeq: outbox.deliveredSeq + 1, toSeq: log.nextSeq - 1, events: count)
    if count > 0 { logger.notice("\(count) logged events were not acknowledged by the broker; sending them again") }
  }

  /// Queues a just-recorded event's messages and hands what it can to the client.
  func enqueue(_ event: Event) {
    var isNewest = false
    if event.kind == .signal, let signal = event.signal {
      newestSignalSeq[signal] = event.seq
      isNewest = true
    }
    let messages = publication.messages(for: event, isNewestOfSignal: isNewest)
    outbox.enqueue(seq: event.seq, messages: kept(messages, live: publisher?.isConnected == true))
  }

  /// Hands waiting messages to the client (or, while disconnected, drops past capacity),
  /// after telling the outbox which records the log has settled.
  func pump() {
    settle()
    outbox.pump(publisher)
  }

  /// Which spilled events the log wrote (to be read back) or lost (to be kept in memory).
  private func settle() { outbox.settle(through: log.settledSeq, lost: log.takeLostSeqs()) }

  /// Takes the acknowledgements (and late refusals) that arrived; true when there were any.
  @discardableResult
  func takeAcknowledgements() -> Bool {
    let (acknowledged, refused) = acknowledgements.takeAll()
    for id in acknowledged { outbox.acknowledge(id) }
    for (id, reason) in refused { outbox.refuse(id, reason: reason) }
    return !acknowledged.isEmpty || !refused.isEmpty
  }

  /// Whether events wait in the log only and there is room to read them back.
  var wantsRefill: Bool { outbox.wantsRefill }

  /// Reads events that wait in the log only back into the outbox, then pumps. Reads files.
  func refill() {
    guard outbox.wantsRefill, let from = outbox.spilledFrom else { return }
    do {
      try log.writeBuffered()  // the newest records become readable, or are lost
      settle()
      let cursor = try LogReader(directory: log.directory).cursor(fromSeq: from, toSeq: log.nextSeq - 1)
      var batch: [(seq: UInt64, messages: [MQTTMessage])] = []
      let limit = outbox.refillLimit
      while batch.count < limit, let event = try cursor.next() {
        let isNewest = event.signal.map { newestSignalSeq[$0] == event.seq } ?? false
        batch.append((event.seq, kept(publication.messages(for: event, isNewestOfSignal: isNewest), live: false)))
      }
      // Caught up with the log when it had fewer than asked for.
      outbox.refill(batch, readUpTo: batch.count < limit ? log.nextSeq - 1 : nil)
    } catch {
      if readFailure == nil { logger.error("cannot read unsent events back from the log: \(error)") }
      readFailure = "\(error)"
      return
    }
    readFailure = nil
    pump()
  }

  /// The broker (re)connected: retained `status` says `online`, and retained state is
  /// published again (it may be stale or missing after a broker restart). A signal not known
  /// yet gets an empty retained message, which clears what an earlier run left there.
  func connected(currentValues: [String: Value], signals: [String]) {
    publishDirectly(publication.status(online: true))
    guard publication.mirrors.state else { return }
    for name in signals.sorted() {
      publishDirectly(publication.stateMessage(signal: name, value: currentValues[name]))
    }
  }

  /// The message `offline` on a clean stop.
  var offlineMessage: MQTTMessage { publication.status(online: false) }

  private func publishDirectly(_ message: MQTTMessage) {
    guard let publisher, publisher.isConnected else { return }
    do {
      _ = try publisher.publish(message)
    } catch {
      refusedOutsideOutbox += 1
    }
  }

  private func kept(_ messages: [MQTTMessage], live: Bool) -> [MQTTMessage] {
    live ? messages : messages.filter { $0.qos > 0 }
  }
}
