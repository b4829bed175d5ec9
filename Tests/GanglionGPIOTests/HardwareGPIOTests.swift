import GanglionCore
import Glibc
import Testing

@testable import GanglionGPIO

/// The hardware backend on a host without GPIO chips: only its error paths can run here.
/// (Chip names below do not exist on any board either.)
@Suite struct HardwareGPIOTests {
  private func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

  @Test func missingChipByNameGivesTheChipAndTheErrnoReason() throws {
    let gpio = HardwareGPIO()
    let error = try #require(throws: GPIOError.self) {
      try gpio.claim(
        inputs: [GPIOInputRequest(signal: "door", address: GPIOLineAddress(chip: "gpiochip4242", offset: 3))],
        outputs: [])
    }
    #expect(error.problems.count == 1)
    let problem = error.problems[0]
    #expect(problem.kind == .unknownChip)
    #expect(problem.signal == "door")
    #expect(problem.errno == ENOENT)
    #expect(problem.message.contains("gpiochip4242"))
    #expect(problem.message.contains(errnoText(ENOENT)))
    #expect(problem.message.contains("'door'"))
  }

  @Test func everyLineOnMissingChipsIsReportedByPathNumberAndLabel() throws {
    let gpio = HardwareGPIO()
    let error = try #require(throws: GPIOError.self) {
      try gpio.claim(
        inputs: [
          GPIOInputRequest(signal: "a", address: GPIOLineAddress(chip: "/dev/gpiochip4242", offset: 1)),
          GPIOInputRequest(signal: "b", address: GPIOLineAddress(chip: "4243", line: .name("PIR"))),
        ],
        outputs: [GPIOOutputRequest(signal: "c", address: GPIOLineAddress(chip: "no-such-label-ganglion", offset: 2))])
    }
    #expect(error.problems.map(\.signal) == ["a", "b", "c"])
    #expect(error.problems.allSatisfy { $0.kind == .unknownChip && $0.errno != nil })
    #expect(error.description.contains("/dev/gpiochip4242"))
    #expect(error.description.contains("'4243'"))
    #expect(error.description.contains("no-such-label-ganglion"))
    // Nothing stays claimed: a second claim fails the same way, not with "already claimed".
    let again = try #require(throws: GPIOError.self) {
      try gpio.claim(
        inputs: [GPIOInputRequest(signal: "a", address: GPIOLineAddress(chip: "gpiochip4242", offset: 1))],
        outputs: [])
    }
    #expect(again.problems.map(\.kind) == [.unknownChip])
  }

  @Test func signalClaimedTwiceIsReportedBesidesChipProblems() throws {
    let gpio = HardwareGPIO()
    let error = try #require(throws: GPIOError.self) {
      try gpio.claim(
        inputs: [GPIOInputRequest(signal: "x", address: GPIOLineAddress(chip: "gpiochip4242", offset: 1))],
        outputs: [GPIOOutputRequest(signal: "x", address: GPIOLineAddress(chip: "gpiochip4242", offset: 2))])
    }
    #expect(error.problems.map(\.kind).contains(.signalClaimedTwice))
    #expect(error.problems.filter { $0.kind == .unknownChip }.count == 2)
  }

  @Test func callsOutOfOrderAreErrorsAndStopIsIdempotent() throws {
    let gpio = HardwareGPIO()
    #expect(throws: GPIOError.self) { try gpio.readInputs() }
    #expect(throws: GPIOError.self) { try gpio.start { _ in } }
    // An empty claim needs no chip: start runs no thread, set names the unknown signal.
    try gpio.claim(inputs: [], outputs: [])
    #expect(try gpio.readInputs() == [:])
    let error = try #require(throws: GPIOError.self) { try gpio.set(signal: "light", value: true) }
    #expect(error.problems.map(\.kind) == [.unknownSignal])
    #expect(error.description.contains("'light'"))
    try gpio.start { _ in }
    #expect(throws: GPIOError.self) { try gpio.start { _ in } }
    gpio.stop()
    gpio.stop()
    #expect(gpio.edgeFailure == nil)
    #expect(throws: GPIOError.self) { try gpio.readInputs() }
  }
}

@Suite struct KernelEventTimeTests {
  // A system up for 1000 s, now being 2026-11-29T19:00:00Z.
  let monotonicNow: Int64 = 1_000_000_000
  let realtimeNow: Int64 = Timestamp(iso8601: "2026-11-29T19:00:00Z")!.microseconds

  @Test func monotonicStampsStayAsTheyAre() {
    let event = monotonicNow - 2_500
    #expect(
      KernelEventTime.monotonic(kernelMicroseconds: event, monotonicNow: monotonicNow, realtimeNow: realtimeNow)
        == event)
  }

  @Test func realtimeStampsOfOldKernelsAreMovedToMonotonic() {
    let event = realtimeNow - 2_500
    #expect(
      KernelEventTime.monotonic(kernelMicroseconds: event, monotonicNow: monotonicNow, realtimeNow: realtimeNow)
        == monotonicNow - 2_500)
  }

  @Test func stampsFromTheFutureAreClampedToNow() {
    // The wall clock was stepped back after the event was stamped with CLOCK_REALTIME.
    let event = realtimeNow + 5_000_000
    #expect(
      KernelEventTime.monotonic(kernelMicroseconds: event, monotonicNow: monotonicNow, realtimeNow: realtimeNow)
        == monotonicNow)
  }

  @Test func wallClockUsesTheCurrentOffset() {
    let wall = KernelEventTime.wallClock(
      monotonicMicroseconds: monotonicNow - 1_000, monotonicNow: monotonicNow, realtimeNow: realtimeNow)
    #expect(wall == realtimeNow - 1_000)
    #expect(Timestamp(microseconds: wall).iso8601 == "2026-11-29T18:59:59.999000Z")
  }

  @Test func pollTimeoutRoundsUpToTheDeadline() {
    #expect(EdgeLoop.timeoutMilliseconds(until: nil, now: 0) == -1)
    #expect(EdgeLoop.timeoutMilliseconds(until: Timestamp(microseconds: 5), now: 10) == 0)
    #expect(EdgeLoop.timeoutMilliseconds(until: Timestamp(microseconds: 1_001), now: 0) == 2)
    #expect(EdgeLoop.timeoutMilliseconds(until: Timestamp(microseconds: 50_000), now: 0) == 50)
  }
}
