/// The GPIO side of the daemon: claims lines, reads and drives them, and reports input edges.
/// `HardwareGPIO` talks to the kernel through libgpiod; `SimulatedBoard` is its in-process twin.
///
/// Life cycle: `claim` -> (`readInputs`, `set`)* -> `start` -> (`set`)* -> `stop`; after
/// `stop` the backend can `claim` again (a reload that changes hardware).
///
/// Thread safety: all methods may be called from any thread.
public protocol GPIOBackend: AnyObject, Sendable {
  /// Claims all lines at once; outputs are driven to `initial` immediately.
  ///
  /// Throws a `GPIOError` listing every failing line (unknown chip, with the chips that
  /// exist; unknown line or offset beyond the chip; a line claimed by two signals, naming
  /// both; the kernel's refusal with its errno text). When it throws, nothing stays claimed.
  /// Claiming while lines are claimed is an error: `stop` first.
  func claim(inputs: [GPIOInputRequest], outputs: [GPIOOutputRequest]) throws(GPIOError)

  /// Current logical values of the claimed inputs, by signal (the start-up reading).
  func readInputs() throws(GPIOError) -> [String: Bool]

  /// Drives a claimed output line to a logical value. Throws for a signal that is not a
  /// claimed output, or when the kernel refuses.
  func set(signal: String, value: Bool) throws(GPIOError)

  /// Starts delivering (debounced) edges of the claimed inputs to `onEdge`, in the order they
  /// happened per line, and edges the kernel dropped to `onLostEdges`. Neither may block
  /// (hand the edge on, e.g. into a bounded queue); they may call `set` and `stop`. Each
  /// backend documents the calling thread. Throws when nothing is claimed or it is already
  /// started.
  func start(
    onEdge: @escaping @Sendable (GPIOEdge) -> Void, onLostEdges: @escaping @Sendable (GPIOLostEdges) -> Void
  ) throws(GPIOError)

  /// Stops edge delivery (after it returns, `onEdge` is not called again, unless `stop` was
  /// called from inside `onEdge`) and releases all lines. Idempotent.
  func stop()
}

extension GPIOBackend {
  /// `start` for callers that do not watch for lost edges.
  public func start(onEdge: @escaping @Sendable (GPIOEdge) -> Void) throws(GPIOError) {
    try start(onEdge: onEdge, onLostEdges: { _ in })
  }
}
