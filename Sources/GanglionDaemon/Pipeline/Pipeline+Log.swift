import GanglionCore
import GanglionLog
import GanglionRules
import Logging

/// The event log on the pipeline: every event is appended before anything acts on it; the
/// log syncs on its configured schedule (`log.sync`), the state files beside it are saved once
/// per interval, and a failing disk is reported once, not per event.
extension Pipeline {
  func record(_ event: inout Event) {
    do {
      try log.append(&event)
    } catch {
      fail("cannot append to the event log: \(error)")
    }
    noteLogHealth()
  }

  /// Records a system event at `time` (default: now).
  func record(system happening: SystemEvent, at time: Timestamp? = nil) {
    var event = Event(time: time ?? clock.now(), system: happening)
    record(&event)
    announce([event])
  }

  var syncInterval: Int64 {
    if case .interval(let interval) = syncMode { return max(1000, interval.microseconds) }
    return 1_000_000
  }

  func syncIfAlways() {
    guard case .always = syncMode else { return }
    do {
      try log.sync()
    } catch {
      fail("cannot sync the event log: \(error)")
    }
    noteLogHealth()
  }

  /// The log syncs when its interval says so (`EventLog.syncIfDue`); the loop looks at least
  /// once per interval, so records an inline run appended wait at most about that long. The
  /// state files are saved once per interval.
  func syncIfDue(now: Int64) {
    do {
      let due = try log.syncIfDue(nowMicroseconds: now)
      nextSyncCheck = min(due ?? .max, now + syncInterval)
    } catch {
      fail("cannot sync the event log: \(error)")
    }
    noteLogHealth()
    if now >= nextStateSave {
      saveState()
      nextStateSave = now + syncInterval
    }
  }

  func saveState(final: Bool = false) {
    stateFiles.save(
      deliveredSeq: delivery?.outbox.deliveredSeq, timerRevision: engine.timerRevision,
      timers: { engine.pendingTimers }, final: final)
  }

  /// Disk full and read-only disks are reported once, not per event, and when they clear;
  /// so is a ring that cannot delete its oldest segments.
  func noteLogHealth() {
    if (log.retentionFailure != nil) != reportedRetentionFailure {
      reportedRetentionFailure.toggle()
      if let failure = log.retentionFailure {
        logger.error("cannot delete old event log segments; the log grows past log.max_size: \(failure)")
      } else {
        logger.notice("old event log segments are deleted again; the log is back within log.max_size")
      }
    }
    if let failure = log.writeFailure {
      guard !reportedLogFailure else { return }
      reportedLogFailure = true
      logger.error("event log writes failing, events are kept in memory only until it recovers: \(failure)")
      status.update { $0.logWriteFailure = "\(failure)" }
    } else if reportedLogFailure {
      reportedLogFailure = false
      logger.notice("event log writes resumed (\(log.droppedRecords) records could not be written)")
      status.update { $0.logWriteFailure = nil }
    }
  }

  /// Copies the log's and the outbox's figures to the status page.
  func noteProgress() {
    status.update { s in
      s.nextSeq = log.nextSeq
      s.log = StatusBoard.LogFigures(log)
      if let delivery {
        s.outboxDepth = delivery.outbox.depth
        s.outboxDropped = delivery.outbox.dropped
        s.outboxDroppedUnlogged = delivery.outbox.droppedUnlogged
        s.outboxDroppedNotInLog = delivery.outbox.droppedNotInLog
        s.deliveredSeq = delivery.outbox.deliveredSeq
        s.counters.clientPublishRefusals = delivery.outbox.refused + delivery.refusedOutsideOutbox
      }
    }
  }
}
