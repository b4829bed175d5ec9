import GanglionCore
import GanglionGPIO
import GanglionRules
import Logging

/// GPIO inputs on the pipeline: an edge is a reading of a bool signal, or one more count of a
/// pulse counter (`count:`, config.md "GPIO counters"); edges the kernel dropped are recorded
/// as a `system` event and counted.
extension Pipeline {
  /// What an edge of `edge.signal` reads as: the new bool value, or the counter's value plus
  /// one when the counter counts this edge (nil when it does not). Runs on the pipeline's
  /// thread, where the counter's current value is known.
  func reading(for edge: GPIOEdge) -> Reading? {
    let source: EventSource = settings.simulate ? .simulator : .gpio
    guard let count = gpioCounters[edge.signal] else {
      return Reading(signal: edge.signal, value: .bool(edge.value), time: edge.time, source: source)
    }
    guard count.counts(changeTo: edge.value) else { return nil }
    let current = engine.value(of: edge.signal).numberValue ?? 0
    return Reading(signal: edge.signal, value: .number(current + 1), time: edge.time, source: source)
  }

  func handle(_ lost: GPIOLostEdges) {
    var event = Event(time: lost.time, system: .edgesLost(signal: lost.signal, count: lost.count))
    record(&event)
    announce([event])
    status.update { s in
      s.counters.gpioEdgeQueueFull[lost.signal, default: 0] += 1
      if let count = lost.count { s.counters.gpioEdgesLost[lost.signal, default: 0] += UInt64(count) }
    }
    let (admitted, heldBack) = lostEdgeLines.admit(now: monotonic.nowMicroseconds())
    guard admitted else { return }
    let held = heldBack > 0 ? " (\(heldBack) more reports since the last)" : ""
    logger.warning("GPIO edges came faster than they were read: \(lost)\(held)")
  }
}
