import GanglionCore
import GanglionGPIO
import GanglionMQTT
import GanglionRules
import GanglionSystem

/// Everything that reaches the pipeline thread, from the GPIO, MQTT, HTTP and signal threads.
enum PipelineInput: Sendable {
  /// An input reading (simulator injection of an MQTT input).
  case reading(Reading)
  /// A (debounced) change of a GPIO input: a bool reading, or one more for a pulse counter.
  case gpioEdge(GPIOEdge)
  /// Edges of a GPIO input the kernel dropped.
  case gpioLostEdges(GPIOLostEdges)
  /// A raw MQTT message; parsed, routed or dead-lettered on the pipeline thread.
  case mqttMessage(MQTTMessage)
  case mqttState(MQTTConnectionState)
  /// Re-read the rules; the outcome goes to the reply box.
  case reload(ReplyBox<ReloadOutcome>)
  /// Finish: sync the log, publish `offline`, release hardware.
  case stop
}

/// The result of a reload, for `/reload`, `ganglion reload` and `/status`.
public struct ReloadOutcome: Sendable {
  public var accepted: Bool
  public var ruleCount: Int
  public var diagnostics: [Diagnostic]
  public var time: Timestamp
}

/// A one-shot reply from the pipeline thread to a waiting thread (HTTP handlers).
/// Thread safety: `put` from one thread, `wait` from another.
final class ReplyBox<Value: Sendable>: Sendable {
  private let queue = BoundedQueue<Value>(capacity: 1)

  func put(_ value: Value) { queue.offer(value) }

  /// Blocks up to `timeoutSeconds` for the reply.
  func wait(timeoutSeconds: Int64) -> Value? {
    let deadline = SystemMonotonicClock.nowMicroseconds() + timeoutSeconds * 1_000_000
    while SystemMonotonicClock.nowMicroseconds() < deadline {
      if case .element(let value) = queue.take(until: deadline) { return value }
    }
    return nil
  }
}
