import GanglionCore

struct Scheduled {
  var deadline: Int64
  var generation: UInt64
}

struct PendingHold {
  var deadline: Int64
  var generation: UInt64
  var cause: UInt64?
  /// Restored after a restart with its deadline already past.
  var late = false
}

struct PendingAfter {
  var deadline: Int64
  var generation: UInt64
  var firing: Firing
  var late = false
}

struct RuleState {
  var whenTrue = false
  var hold: PendingHold?
  var afters: [Int: PendingAfter] = [:]
  var periodic: Scheduled?
  var recheck: Scheduled?
  var breaker = FiringBreaker()
}

/// A rule's firing-rate breaker (rules.md "Loops are stopped"): more than
/// `Engine.breakerFirings` firings within `Engine.breakerWindow` pause the rule for
/// `Engine.breakerPause`. On the engine's clock.
struct FiringBreaker {
  /// The start of the current counting window (µs; meaningless while `firings` is 0), and the
  /// firings in it.
  var windowStart: Int64 = 0
  var firings = 0
  /// While set (µs), the rule's triggers are no firings.
  var pausedUntil: Int64?
}

struct TimerEntry {
  enum Kind: Equatable {
    case hold
    case after(Int)
    case periodic, recheck
  }

  var deadline: Int64
  var rule: Int
  var kind: Kind
  var generation: UInt64
}

/// A binary min-heap of timers by (deadline, generation): equal deadlines run in the order
/// they were scheduled.
struct TimerHeap {
  private var items: [TimerEntry] = []

  var peek: TimerEntry? { items.first }
  var count: Int { items.count }

  private static func less(_ a: TimerEntry, _ b: TimerEntry) -> Bool {
    a.deadline != b.deadline ? a.deadline < b.deadline : a.generation < b.generation
  }

  /// Keeps only the entries `isIncluded` accepts.
  mutating func filter(_ isIncluded: (TimerEntry) -> Bool) {
    let kept = items.filter(isIncluded)
    items = []
    items.reserveCapacity(kept.count)
    for entry in kept { push(entry) }
  }

  mutating func push(_ entry: TimerEntry) {
    items.append(entry)
    var i = items.count - 1
    while i > 0 {
      let parent = (i - 1) / 2
      guard Self.less(items[i], items[parent]) else { break }
      items.swapAt(i, parent)
      i = parent
    }
  }

  mutating func pop() {
    guard !items.isEmpty else { return }
    items.swapAt(0, items.count - 1)
    items.removeLast()
    var i = 0
    while true {
      let l = 2 * i + 1
      let r = l + 1
      var smallest = i
      if l < items.count, Self.less(items[l], items[smallest]) { smallest = l }
      if r < items.count, Self.less(items[r], items[smallest]) { smallest = r }
      if smallest == i { break }
      items.swapAt(i, smallest)
      i = smallest
    }
  }
}
