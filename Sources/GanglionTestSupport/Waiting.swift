/// Thrown by `waitUntil` and `waitFor` when the condition did not come true in time.
public struct WaitTimeoutError: Error, Sendable, CustomStringConvertible {
  public var description: String
}

/// Polls `condition` every `pollInterval` until it returns true; throws `WaitTimeoutError`
/// naming `what` and the caller's location if `timeout` passes first.
///
/// Sleeps with `Task.sleep` between polls, so it never holds a thread of the cooperative pool;
/// `condition` runs in the caller's isolation. Errors thrown by `condition` end the wait.
nonisolated(nonsending) public func waitUntil(
  _ what: @autoclosure () -> String = "condition", timeout: Duration = .seconds(5),
  pollInterval: Duration = .milliseconds(2), fileID: String = #fileID, line: Int = #line,
  _ condition: () async throws -> Bool
) async throws {
  _ = try await waitFor(what(), timeout: timeout, pollInterval: pollInterval, fileID: fileID, line: line) {
    try await condition() ? true : nil
  }
}

/// Polls `produce` until it returns a value and returns it; throws `WaitTimeoutError` naming
/// `what` and the caller's location if `timeout` passes first.
nonisolated(nonsending) public func waitFor<T>(
  _ what: @autoclosure () -> String = "value", timeout: Duration = .seconds(5),
  pollInterval: Duration = .milliseconds(2), fileID: String = #fileID, line: Int = #line,
  _ produce: () async throws -> T?
) async throws -> T {
  let clock = ContinuousClock()
  let deadline = clock.now + timeout
  while true {
    if let value = try await produce() { return value }
    if clock.now >= deadline {
      throw WaitTimeoutError(description: "\(fileID):\(line): timed out after \(timeout) waiting for \(what())")
    }
    try await Task.sleep(for: pollInterval)
  }
}
