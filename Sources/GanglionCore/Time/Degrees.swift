/// Trigonometry in degrees, in pure Swift (the standard library has no `sin`, and this module may not import
/// Glibc). Arguments are reduced exactly with `remainder(dividingBy:)` and the kernels are Taylor series on small
/// ranges, accurate to about 1e-15: far below what sunrise times need (1e-6 degree is a tenth of a second).
enum Degrees {
  static let perRadian = 180 / Double.pi
  static let radiansPerDegree = Double.pi / 180

  static func sin(_ degrees: Double) -> Double {
    var angle = degrees.remainder(dividingBy: 360)  // -180...180, exact
    if angle > 90 { angle = 180 - angle } else if angle < -90 { angle = -180 - angle }  // now -90...90
    if angle > 45 { return cosineKernel((90 - angle) * radiansPerDegree) }
    if angle < -45 { return -cosineKernel((90 + angle) * radiansPerDegree) }
    return sineKernel(angle * radiansPerDegree)
  }

  static func cos(_ degrees: Double) -> Double { sin(degrees.remainder(dividingBy: 360) + 90) }

  static func tan(_ degrees: Double) -> Double { sin(degrees) / cos(degrees) }

  /// -90...90 for -1...1 (NaN outside).
  static func asin(_ x: Double) -> Double { atan2(x, ((1 - x) * (1 + x)).squareRoot()) }

  /// 0...180 for -1...1 (NaN outside).
  static func acos(_ x: Double) -> Double { atan2(((1 - x) * (1 + x)).squareRoot(), x) }

  /// The angle of the point (x, y), -180...180.
  static func atan2(_ y: Double, _ x: Double) -> Double {
    if x == 0, y == 0 { return 0 }
    if abs(x) >= abs(y) {
      let angle = arctangentKernel(y / x) * perRadian
      return x > 0 ? angle : (y >= 0 ? angle + 180 : angle - 180)
    }
    let angle = arctangentKernel(x / y) * perRadian
    return y > 0 ? 90 - angle : -90 - angle
  }

  /// sin x for |x| <= pi/4 radians.
  private static func sineKernel(_ x: Double) -> Double {
    var term = x
    var sum = x
    for n in stride(from: 2, through: 20, by: 2) {
      term *= -x * x / Double(n * (n + 1))
      sum += term
    }
    return sum
  }

  /// cos x for |x| <= pi/4 radians.
  private static func cosineKernel(_ x: Double) -> Double {
    var term = 1.0
    var sum = 1.0
    for n in stride(from: 1, through: 19, by: 2) {
      term *= -x * x / Double(n * (n + 1))
      sum += term
    }
    return sum
  }

  /// atan x in radians for |x| <= 1: two argument halvings bring |x| under tan(pi/16), then a series.
  private static func arctangentKernel(_ x: Double) -> Double {
    var y = x
    for _ in 0..<2 { y /= 1 + (1 + y * y).squareRoot() }
    var power = y
    var sum = y
    for k in 1...12 {
      power *= -y * y
      sum += power / Double(2 * k + 1)
    }
    return 4 * sum
  }
}
