import Glibc

/// Runs a system call that returns -1 and sets errno when it fails, again while it fails
/// with EINTR (a signal arrived). The one EINTR loop of the project.
///
/// - Returns: the call's result (anything but -1).
/// - Throws: `SystemError` with errno, `operation` and `subject` for any other failure.
@inline(__always)
public func retryingOnInterrupt<Result: FixedWidthInteger>(
  _ operation: String, _ subject: @autoclosure () -> String? = nil, _ call: () -> Result
) throws(SystemError) -> Result {
  while true {
    let result = call()
    if result != -1 { return result }
    let code = errno
    if code != EINTR { throw SystemError(code: code, operation: operation, subject: subject()) }
  }
}
