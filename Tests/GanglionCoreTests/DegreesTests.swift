import Glibc
import Testing

@testable import GanglionCore

/// The pure-Swift trigonometry against the C library's, over whole turns and beyond.
@Suite struct DegreesTests {
  @Test func agreesWithTheCLibrary() {
    var random = SplitMix64(seed: 7)
    var worst = 0.0
    for step in 0..<200_000 {
      let degrees = step < 100_000 ? Double(step) * 0.0073 - 365 : Double(random.next() % 2_000_000_000) / 1000 - 1e6
      let radians = degrees * .pi / 180
      worst = max(worst, abs(Degrees.sin(degrees) - Glibc.sin(radians)), abs(Degrees.cos(degrees) - Glibc.cos(radians)))
      let x = Double(step % 20_001) / 10_000 - 1
      worst = max(worst, abs(Degrees.asin(x) - Glibc.asin(x) * 180 / .pi))
      worst = max(worst, abs(Degrees.acos(x) - Glibc.acos(x) * 180 / .pi))
      let (y, z) = (Double(random.next() % 20_001) - 10_000, Double(random.next() % 20_001) - 10_000)
      worst = max(worst, abs(Degrees.atan2(y, z) - Glibc.atan2(y, z) * 180 / .pi))
    }
    #expect(worst < 1e-9)
    #expect(abs(Degrees.tan(45) - 1) < 1e-15)
  }
}
