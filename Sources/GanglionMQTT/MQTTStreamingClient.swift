import Synchronization

/// An `MQTTClient` whose received messages and connection changes arrive as bounded async
/// streams, for async code (tools, tests) that wants `for await` instead of callbacks.
///
/// Bounded: the network thread never waits for a slow reader. When `bufferLimit` messages are
/// waiting unread, newer ones are dropped and counted in `droppedMessages` (the oldest are kept,
/// so what a reader sees is always in arrival order without holes before the gap). Connection
/// states keep only the newest few: the current state is what matters.
///
/// The daemon does not use this: its pipeline runs on a dedicated thread and takes messages
/// through its own bounded queue, off Swift's cooperative pool.
///
/// Thread safety: every member may be used from any thread or task.
public final class MQTTStreamingClient: Sendable {
  public let client: MQTTClient
  /// Messages on the subscribed filters, in arrival order. Ends after `stop`.
  public let messages: AsyncStream<MQTTMessage>
  /// Connection changes (`.connected` once subscribed). Ends after `stop`.
  public let states: AsyncStream<MQTTConnectionState>
  private let messageInput: AsyncStream<MQTTMessage>.Continuation
  private let stateInput: AsyncStream<MQTTConnectionState>.Continuation
  private let drops: Drops

  private final class Drops: Sendable {
    let count = Atomic<Int>(0)
  }

  /// Messages dropped because `bufferLimit` were waiting unread.
  public var droppedMessages: Int { drops.count.load(ordering: .relaxed) }

  /// Sets the client up like `MQTTClient.init`; call `start()` to connect.
  /// Throws what `MQTTClient.init` throws.
  public init(options: MQTTClientOptions, bufferLimit: Int = 1024) throws(MQTTError) {
    guard bufferLimit > 0 else { throw .invalidOptions("bufferLimit must be at least 1") }
    let (messages, messageInput) = AsyncStream.makeStream(
      of: MQTTMessage.self, bufferingPolicy: .bufferingOldest(bufferLimit))
    let (states, stateInput) = AsyncStream.makeStream(
      of: MQTTConnectionState.self, bufferingPolicy: .bufferingNewest(8))
    let drops = Drops()
    self.messages = messages
    self.states = states
    self.messageInput = messageInput
    self.stateInput = stateInput
    self.drops = drops
    client = try MQTTClient(
      options: options,
      onMessage: { message in
        if case .dropped = messageInput.yield(message) { drops.count.add(1, ordering: .relaxed) }
      },
      onStateChange: { state in stateInput.yield(state) })
  }

  /// See `MQTTClient.start()`.
  public func start() throws(MQTTError) { try client.start() }

  /// See `MQTTClient.publish(_:)`.
  @discardableResult
  public func publish(_ message: MQTTMessage) throws(MQTTError) -> Int32 { try client.publish(message) }

  /// Stops the client (see `MQTTClient.stop(finalMessage:)`, which may block the calling
  /// thread for up to about 3 s) and ends both streams once what they hold has been read.
  public func stop(finalMessage: MQTTMessage? = nil) {
    client.stop(finalMessage: finalMessage)
    messageInput.finish()
    stateInput.finish()
  }
}
