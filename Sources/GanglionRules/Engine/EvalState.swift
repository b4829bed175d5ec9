import GanglionCore

/// The recent events of one signal, for window functions; a bounded ring, oldest first.
final class SignalHistory {
  /// At most this many events are kept per signal, however long the window.
  static let capacity = 100_000

  private(set) var times: [Int64] = []
  private(set) var values: [Value] = []
  private(set) var changes: [Bool] = []
  private var head = 0
  /// Events older than `now - retention` are dropped.
  var retention: Int64

  init(retention: Int64) { self.retention = retention }

  var count: Int { times.count - head }

  func append(time: Int64, value: Value, changed: Bool) {
    times.append(time)
    values.append(value)
    changes.append(changed)
    if count > SignalHistory.capacity { head += 1 }
    compactIfNeeded()
  }

  /// Drops events that no window can see any more at `now`.
  func prune(now: Int64) {
    while head < times.count, times[head] <= now - retention { head += 1 }
    compactIfNeeded()
  }

  private func compactIfNeeded() {
    if head > 1024, head * 2 > times.count {
      times.removeFirst(head)
      values.removeFirst(head)
      changes.removeFirst(head)
      head = 0
    }
  }

  /// Index of the first event inside the window `(now - window, now]`.
  func firstIndex(now: Int64, window: Int64) -> Int {
    let from = now - window
    var low = head
    var high = times.count
    while low < high {
      let mid = (low + high) / 2
      if times[mid] <= from { low = mid + 1 } else { high = mid }
    }
    return low
  }

  var endIndex: Int { times.count }

  /// When the oldest event still inside `(now - window, now]` leaves it, if any does.
  func nextExit(now: Int64, window: Int64) -> Int64? {
    let index = firstIndex(now: now, window: window)
    return index < times.count ? times[index] + window : nil
  }
}

/// The engine's state as expressions see it. Owned by one `Engine`; not thread-safe.
final class EvalState {
  @exclusivity(unchecked) var values: [Value]
  /// Time of each signal's last event (µs), `Int64.min` if none.
  @exclusivity(unchecked) var lastEventTime: [Int64]
  @exclusivity(unchecked) var histories: [SignalHistory?]
  /// The engine's current time, µs since the epoch.
  @exclusivity(unchecked) var now: Int64 = 0
  /// Bindings of an `on` rule's trigger event.
  @exclusivity(unchecked) var boundValue: Value = .null
  @exclusivity(unchecked) var boundPrevious: Value = .null
  @exclusivity(unchecked) var boundSignal: Value = .null
  @exclusivity(unchecked) var ruleName: String = ""
  let device: String
  let prefix: String
  let startTime: Int64
  let timeZone: any TimeZoneRules

  init(slotCount: Int, context: EngineContext) {
    values = Array(repeating: .null, count: slotCount)
    lastEventTime = Array(repeating: Int64.min, count: slotCount)
    histories = Array(repeating: nil, count: slotCount)
    device = context.device
    prefix = context.prefix
    startTime = context.startTime.microseconds
    timeZone = context.timeZone
    now = context.startTime.microseconds
  }

  /// Local seconds since midnight and weekday (0 = Monday) at `now`.
  var localTime: (secondOfDay: Int, weekday: Int) {
    let (day, second) = timeZone.localTime(atUTC: Timestamp(microseconds: now).seconds)
    return (second, CivilDate.weekday(days: day))
  }
}
