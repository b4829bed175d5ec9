import GanglionCore
import GanglionLog
import GanglionRules
import Logging

/// What the daemon keeps beside the log so that a restart continues where it stopped: the
/// device name (`device`) and time zone (`timezone`, `timezone.tzif`), the MQTT outbox position (`mqtt-delivered.seq`) and the running
/// countdowns (`timers.json`). Each file is replaced whole and durably (`LogStateFile`).
///
/// Writes are spaced out: the countdowns whenever they changed, at most once per call of
/// `save` (the pipeline calls it once per sync interval); the outbox position at most every
/// `deliveredInterval` and at a clean stop (a stale position only means some events are
/// sent again, which subscribers dedupe, and it spares the SD card three fsyncs a second).
/// A failed write is logged once until a write works again; it is never fatal.
///
/// Not thread-safe; blocking (fsync): owned by the pipeline's thread.
final class DaemonStateFiles {
  private let deliveredFile: LogStateFile
  private let timersFile: LogStateFile
  private let deviceFile: LogStateFile
  private let clock: any MonotonicClock
  private let logger: Logger
  /// Microseconds between saves of the outbox position.
  let deliveredInterval: Int64
  private var savedDeliveredSeq: UInt64?
  private var lastDeliveredSave: Int64?
  private var savedTimerRevision: UInt64?
  /// The failure of the last save, so a full disk is reported once, not every interval.
  private var failure: String?

  private let directory: String

  init(directory: String, clock: any MonotonicClock, logger: Logger, deliveredInterval: Int64 = 30_000_000) {
    self.directory = directory
    deliveredFile = LogStateFile(directory: directory, name: "mqtt-delivered.seq")
    timersFile = LogStateFile(directory: directory, name: "timers.json")
    deviceFile = LogStateFile(directory: directory, name: "device")
    self.clock = clock
    self.logger = logger
    self.deliveredInterval = deliveredInterval
  }

  /// The device name recorded beside the log in `directory`, nil when none is.
  static func recordedDevice(in directory: String) throws -> String? {
    let text = try LogStateFile(directory: directory, name: "device").read()?.trimmingASCIIWhitespace()
    return text?.isEmpty == false ? text : nil
  }

  /// Records the device's name beside the log (so ids come out right from a copied folder),
  /// unless it is there already.
  func recordDevice(_ name: String) {
    guard (try? deviceFile.read())?.trimmingASCIIWhitespace() != name else { return }
    do {
      try deviceFile.write(name + "\n")
    } catch {
      logger.error("cannot record the device name beside the log: \(error)")
    }
  }

  /// Records the zone local time follows beside the log (so `replay` and `explain` read a
  /// copied log in the device's zone), unless it is there already.
  func recordTimeZone(_ zone: DeviceTimeZone) {
    do {
      try LogTimeZone.record(zone, directory: directory)
    } catch {
      logger.error("cannot record the time zone beside the log: \(error)")
    }
  }

  /// Every event up to this seq was acknowledged by the broker or dropped, as saved by an
  /// earlier run; nil when there is no record of it.
  func readDeliveredSeq() -> UInt64? {
    let saved = (try? deliveredFile.read()).flatMap { UInt64($0.trimmingASCIIWhitespace()) }
    if savedDeliveredSeq == nil { savedDeliveredSeq = saved }
    return saved
  }

  /// The countdowns that were running when the daemon stopped, empty when none were saved.
  /// - Throws: when the file exists but cannot be read or parsed.
  func readTimers() throws -> [PendingTimer] {
    guard let text = try timersFile.read(), case .array(let items) = try JSON.parse(text) else { return [] }
    return items.compactMap(PendingTimer.init(jsonValue:))
  }

  /// The timers' revision that is on file now (after `readTimers` and a restore, say).
  func noteTimersSaved(revision: UInt64) { savedTimerRevision = revision }

  /// Saves what changed: the countdowns when `timerRevision` moved, the outbox position when
  /// it moved and `deliveredInterval` passed (or `final`).
  func save(deliveredSeq: UInt64?, timerRevision: UInt64, timers: () -> [PendingTimer], final: Bool = false) {
    let now = clock.nowMicroseconds()
    let saveDelivered =
      deliveredSeq != nil && deliveredSeq != savedDeliveredSeq
      && (final || lastDeliveredSave.map { now - $0 >= deliveredInterval } ?? true)
    guard saveDelivered || timerRevision != savedTimerRevision else { return }
    var failure: String?
    if saveDelivered, let deliveredSeq {
      lastDeliveredSave = now
      do {
        try deliveredFile.write("\(deliveredSeq)\n")
        savedDeliveredSeq = deliveredSeq
      } catch {
        failure = "cannot save the MQTT outbox position: \(error)"
      }
    }
    if timerRevision != savedTimerRevision {
      do {
        try timersFile.write(JSON.encode(.array(timers().map(\.jsonValue))))
        savedTimerRevision = timerRevision
      } catch {
        failure = "cannot save the running countdowns: \(error)"
      }
    }
    if let failure, self.failure == nil {
      logger.error("\(failure) (reported once until it works again)")
    } else if failure == nil, self.failure != nil {
      logger.notice("state files beside the log are written again")
    }
    self.failure = failure
  }
}
