extension Array where Element == UInt8 {
  /// `withUnsafeBytes` for a body with a typed throw (the standard one only rethrows `any Error`).
  public func withBytes<T, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> T) throws(E) -> T {
    let result: Result<T, E> = withUnsafeBytes { raw in Result { () throws(E) -> T in try body(raw) } }
    return try result.get()
  }

  /// `withUnsafeMutableBytes` for a body with a typed throw.
  public mutating func withMutableBytes<T, E: Error>(
    _ body: (UnsafeMutableRawBufferPointer) throws(E) -> T
  ) throws(E) -> T {
    let result: Result<T, E> = withUnsafeMutableBytes { raw in Result { () throws(E) -> T in try body(raw) } }
    return try result.get()
  }
}
