import GanglionLog
import GanglionMQTT
import GanglionRules
import GanglionSystem

/// The inline MQTT fast path, measured as a win (Benchmarks/README.md): a message that finds
/// the pipeline idle is handled on the MQTT network thread itself, and its answer is
/// published from the same libmosquitto callback, as a C relay does. That spares each
/// message two thread hand-offs (to the pipeline's thread, and back to the network thread to
/// publish). Everything else about a message is the same as on the pipeline's thread.
///
/// Rules that keep it correct:
/// - It never blocks on the pipeline: a busy pipeline (`worker` held) means queueing.
/// - It runs only when nothing is queued ahead of the message, so inputs keep their order
///   (the pipeline's thread takes inputs only while holding `worker`).
/// - The network thread never waits for the disk: with `log.sync: always`, or near a point
///   where the log must fdatasync (a seq block, a segment roll), the message is queued.
/// - It wakes the pipeline's thread when it changed what that thread waits for: a failure,
///   an earlier countdown, events to read back from the log.
extension Pipeline {
  /// Events (of 256 bytes) one MQTT message is assumed to log at most, for `syncIsNear`: an
  /// input with a few rules firing logs a handful, each record usually under 100 bytes.
  static let inlineEventMargin = 64

  /// For the MQTT network thread: handles `message` on the calling thread when the pipeline
  /// is idle and nothing is queued ahead of it; otherwise queues it like `submit`. Returns
  /// false (and counts) when the queue is full.
  @discardableResult
  func handleOrQueue(mqtt message: MQTTMessage) -> Bool {
    guard worker.tryLock() else { return queue(message) }
    guard inlineAllowed, fatalFailure == nil, inbox.isEmpty,
      !log.syncIsNear(events: Self.inlineEventMargin, bytes: Self.inlineEventMargin * 256)
    else {
      worker.unlock()
      return queue(message)
    }
    let deadlineBefore = engine.nextDeadline()
    handle(message)
    finishRound()
    let deadlineAfter = engine.nextDeadline()
    let wakePipeline =
      fatalFailure != nil || delivery?.wantsRefill == true
      || (deadlineAfter != nil && (deadlineBefore == nil || deadlineAfter! < deadlineBefore!))
    status.update { $0.counters.mqttMessagesInline += 1 }
    worker.unlock()
    if wakePipeline { inbox.wake() }
    return true
  }

  private func queue(_ message: MQTTMessage) -> Bool {
    guard submit(.mqttMessage(message)) else { return false }
    status.update { $0.counters.mqttMessagesQueued += 1 }
    return true
  }
}
