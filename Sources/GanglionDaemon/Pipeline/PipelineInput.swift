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
  /// Pulses of this counter that came while the queue was full: their number waits in
  /// `Pipeline.overflowPulses`, and one such input (in the signal's slot) takes them all.
  case gpioPulses(signal: String)
  /// Edges of a GPIO input the kernel dropped.
  case gpioLostEdges(GPIOLostEdges)
  /// A raw MQTT message; parsed, routed or dead-lettered on the pipeline thread.
  case mqttMessage(MQTTMessage)
  case mqttState(MQTTConnectionState)
  /// Swap in rules the reload thread read and compiled (or record their rejection), unless
  /// the ticket was cancelled; the outcome goes to the ticket.
  case applyRules(PreparedRules, ReloadTicket)
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

/// What an input waiting in a full queue is kept by (`CoalescingQueue`): a newer one with the
/// same key replaces it.
enum InputKey: Hashable, Sendable {
  /// A reading of this signal.
  case signal(String)
  /// The MQTT connection's state.
  case connection
}
