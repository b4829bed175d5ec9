import GanglionCore
import GanglionGPIO
import Synchronization
import Testing

/// Collects delivered edges; safe to use from the delivering thread.
final class EdgeRecorder: Sendable {
  private let edges = Mutex<[GPIOEdge]>([])

  var handler: @Sendable (GPIOEdge) -> Void { { edge in self.edges.withLock { $0.append(edge) } } }

  var all: [GPIOEdge] { edges.withLock { $0 } }
}

private func line(_ offset: Int, chip: String = "gpiochip0") -> GPIOLineAddress {
  GPIOLineAddress(chip: chip, offset: offset)
}

@Suite struct SimulatedBoardTests {
  let clock = ManualClock()

  // MARK: Claiming and errors

  @Test func unknownChipNamesItAndTheChipsThatExist() throws {
    let board = SimulatedBoard(clock: clock, chips: ["gpiochip0": 28, "gpiochip1": 8])
    let error = try #require(throws: GPIOError.self) {
      try board.claim(inputs: [GPIOInputRequest(signal: "door", address: line(3, chip: "gpiochip7"))], outputs: [])
    }
    #expect(error.problems.count == 1)
    #expect(error.problems[0].kind == .unknownChip)
    #expect(error.problems[0].signal == "door")
    #expect(error.description.contains("gpiochip7"))
    #expect(error.description.contains("gpiochip0, gpiochip1"))
  }

  @Test func offsetBeyondTheChipIsAnError() throws {
    let board = SimulatedBoard(clock: clock)
    let error = try #require(throws: GPIOError.self) {
      try board.claim(inputs: [], outputs: [GPIOOutputRequest(signal: "light", address: line(28))])
    }
    #expect(error.problems.map(\.kind) == [.unknownLine])
    #expect(error.description.contains("gpiochip0 line 28"))
    #expect(error.description.contains("0-27"))
  }

  @Test func everyBadLineIsReportedInOneErrorAndNothingStaysClaimed() throws {
    let board = SimulatedBoard(clock: clock)
    let error = try #require(throws: GPIOError.self) {
      try board.claim(
        inputs: [
          GPIOInputRequest(signal: "a", address: line(1)),
          GPIOInputRequest(signal: "b", address: line(99)),
        ],
        outputs: [GPIOOutputRequest(signal: "c", address: line(2, chip: "nochip"))])
    }
    #expect(error.problems.map(\.signal) == ["b", "c"])
    // The good line was not claimed either: claiming it again works.
    try board.claim(inputs: [GPIOInputRequest(signal: "a", address: line(1))], outputs: [])
    #expect(try board.readInputs() == ["a": false])
  }

  @Test func sameLineClaimedTwiceNamesBothSignals() throws {
    let board = SimulatedBoard(clock: clock, lineNames: ["gpiochip0": [5: "PIR"]])
    let error = try #require(throws: GPIOError.self) {
      try board.claim(
        inputs: [GPIOInputRequest(signal: "motion", address: GPIOLineAddress(chip: "gpiochip0", line: .name("PIR")))],
        outputs: [GPIOOutputRequest(signal: "light", address: line(5, chip: "/dev/gpiochip0"))])
    }
    #expect(error.problems.map(\.kind) == [.lineClaimedTwice])
    #expect(error.description.contains("gpiochip0 line 5"))
    #expect(error.description.contains("'motion'"))
    #expect(error.description.contains("'light'"))
  }

  @Test func unknownLineNameSuggestsTheNearestName() throws {
    let board = SimulatedBoard(clock: clock, lineNames: ["gpiochip0": [5: "PIR"]])
    let error = try #require(throws: GPIOError.self) {
      try board.claim(
        inputs: [GPIOInputRequest(signal: "m", address: GPIOLineAddress(chip: "gpiochip0", line: .name("PIRR")))],
        outputs: [])
    }
    #expect(error.problems.map(\.kind) == [.unknownLine])
    #expect(error.description.contains("did you mean 'PIR'"))
  }

  @Test func claimingAgainNeedsStopFirst() throws {
    let board = SimulatedBoard(clock: clock)
    try board.claim(inputs: [GPIOInputRequest(signal: "a", address: line(1))], outputs: [])
    #expect(throws: GPIOError.self) {
      try board.claim(inputs: [GPIOInputRequest(signal: "b", address: line(2))], outputs: [])
    }
    board.stop()
    board.stop()
    try board.claim(inputs: [GPIOInputRequest(signal: "b", address: line(2))], outputs: [])
    #expect(try board.readInputs() == ["b": false])
  }

  // MARK: Inputs

  @Test func biasDecidesWhatAnUndrivenInputReads() throws {
    let board = SimulatedBoard(clock: clock)
    try board.claim(
      inputs: [
        GPIOInputRequest(signal: "up", address: line(1), bias: .pullUp),
        GPIOInputRequest(signal: "down", address: line(2), bias: .pullDown),
        GPIOInputRequest(signal: "asis", address: line(3), bias: .asIs),
        GPIOInputRequest(signal: "off", address: line(4), bias: .disable),
        GPIOInputRequest(signal: "upLow", address: line(5), bias: .pullUp, activeLow: true),
      ], outputs: [])
    #expect(
      try board.readInputs() == ["up": true, "down": false, "asis": false, "off": false, "upLow": false])
    #expect(board.level(line(1)) == true)
    #expect(board.level(line(2)) == false)
  }

  @Test func edgesCarryLogicalValueAndClockTime() throws {
    let board = SimulatedBoard(clock: clock)
    let recorder = EdgeRecorder()
    try board.claim(
      inputs: [
        GPIOInputRequest(signal: "door", address: line(22), bias: .pullUp, activeLow: true),
        GPIOInputRequest(signal: "button", address: line(4), bias: .pullDown),
      ], outputs: [])
    try board.start(onEdge: recorder.handler)
    let t0 = clock.now()

    try board.drive(address: line(22), level: false)  // pulled low: active-low door reads true
    clock.advance(by: .seconds(1))
    try board.drive(signal: "button", value: true)
    clock.advance(by: .seconds(1))
    try board.drive(signal: "door", value: false)  // logical false: the line goes high
    try board.drive(signal: "door", value: false)  // no change, no edge

    #expect(
      recorder.all == [
        GPIOEdge(signal: "door", value: true, time: t0),
        GPIOEdge(signal: "button", value: true, time: t0 + .seconds(1)),
        GPIOEdge(signal: "door", value: false, time: t0 + .seconds(2)),
      ])
    #expect(board.level(line(22)) == true)
    #expect(try board.readInputs() == ["door": false, "button": true])
  }

  @Test func edgesBeforeStartAreDeliveredByStart() throws {
    let board = SimulatedBoard(clock: clock)
    let recorder = EdgeRecorder()
    try board.claim(inputs: [GPIOInputRequest(signal: "b", address: line(4))], outputs: [])
    try board.drive(signal: "b", value: true)
    #expect(recorder.all.isEmpty)
    try board.start(onEdge: recorder.handler)
    #expect(recorder.all == [GPIOEdge(signal: "b", value: true, time: clock.now())])
  }

  @Test func levelDrivenBeforeClaimIsWhatTheInputReads() throws {
    let board = SimulatedBoard(clock: clock)
    try board.drive(address: line(9), level: true)
    try board.claim(inputs: [GPIOInputRequest(signal: "x", address: line(9), bias: .pullDown)], outputs: [])
    #expect(try board.readInputs() == ["x": true])
  }

  @Test func drivingAnOutputOrAnUnknownSignalIsAnError() throws {
    let board = SimulatedBoard(clock: clock)
    try board.claim(inputs: [], outputs: [GPIOOutputRequest(signal: "light", address: line(27))])
    let bySignal = try #require(throws: GPIOError.self) { try board.drive(signal: "light", value: true) }
    #expect(bySignal.problems.map(\.kind) == [.unknownSignal])
    let byAddress = try #require(throws: GPIOError.self) { try board.drive(address: line(27), level: true) }
    #expect(byAddress.description.contains("'light'"))
    #expect(throws: GPIOError.self) { try board.drive(signal: "nothing", value: true) }
    #expect(throws: GPIOError.self) { try board.drive(address: line(30), level: true) }
  }

  @Test func onEdgeMayCallBackIntoTheBoard() throws {
    let board = SimulatedBoard(clock: clock)
    let recorder = EdgeRecorder()
    try board.claim(
      inputs: [
        GPIOInputRequest(signal: "a", address: line(1)),
        GPIOInputRequest(signal: "b", address: line(2)),
      ],
      outputs: [GPIOOutputRequest(signal: "out", address: line(3))])
    // A rule-like reaction: an edge of `a` drives `b` and the output, then stops the board.
    try board.start { edge in
      recorder.handler(edge)
      if edge.signal == "a" {
        try? board.drive(signal: "b", value: true)
        try? board.set(signal: "out", value: true)
      } else {
        board.stop()
      }
    }
    try board.drive(signal: "a", value: true)
    #expect(recorder.all.map(\.signal) == ["a", "b"])
    #expect(throws: GPIOError.self) { try board.readInputs() }  // stopped from inside onEdge
  }

  @Test func concurrentDriversKeepEveryEdgeInOrderPerLine() async throws {
    let board = SimulatedBoard(clock: clock)
    let recorder = EdgeRecorder()
    let signals = (0..<4).map { "s\($0)" }
    try board.claim(
      inputs: signals.enumerated().map { GPIOInputRequest(signal: $1, address: line($0)) }, outputs: [])
    try board.start(onEdge: recorder.handler)
    let toggles = 200
    await withTaskGroup(of: Void.self) { group in
      for signal in signals {
        group.addTask {
          for index in 0..<toggles { try? board.drive(signal: signal, value: index % 2 == 0) }
        }
      }
    }
    let edges = recorder.all
    #expect(edges.count == signals.count * toggles)
    for signal in signals {
      let values = edges.filter { $0.signal == signal }.map(\.value)
      #expect(values == (0..<toggles).map { $0 % 2 == 0 })
    }
  }

  // MARK: Debounce

  @Test func bounceShorterThanThePeriodIsSuppressed() throws {
    let board = SimulatedBoard(clock: clock)
    let recorder = EdgeRecorder()
    try board.claim(
      inputs: [GPIOInputRequest(signal: "m", address: line(17), debounce: .milliseconds(50))], outputs: [])
    try board.start(onEdge: recorder.handler)

    try board.drive(signal: "m", value: true)
    clock.advance(by: .milliseconds(20))
    try board.drive(signal: "m", value: false)
    #expect(board.nextDeadline == clock.now() + .milliseconds(50))
    clock.advance(by: .milliseconds(100))
    board.pump()

    #expect(recorder.all.isEmpty)
    #expect(board.nextDeadline == nil)
  }

  @Test func changeThatHoldsPassesWithTheTimeOfTheFirstEdge() throws {
    let board = SimulatedBoard(clock: clock)
    let recorder = EdgeRecorder()
    try board.claim(
      inputs: [
        GPIOInputRequest(signal: "m", address: line(17), bias: .pullUp, activeLow: true, debounce: .milliseconds(50))
      ],
      outputs: [])
    try board.start(onEdge: recorder.handler)
    #expect(try board.readInputs() == ["m": false])  // pulled up, active low
    let first = clock.now()

    try board.drive(address: line(17), level: false)  // pressed: logical true, first edge
    clock.advance(by: .milliseconds(5))
    try board.drive(address: line(17), level: true)  // bounce
    clock.advance(by: .milliseconds(5))
    try board.drive(address: line(17), level: false)  // settles pressed
    clock.advance(by: .milliseconds(49))
    board.pump()
    #expect(recorder.all.isEmpty)  // 49 ms after the last bounce: not settled yet
    clock.advance(by: .milliseconds(1))
    board.pump()

    #expect(recorder.all == [GPIOEdge(signal: "m", value: true, time: first)])
    #expect(board.nextDeadline == nil)
  }

  @Test func laterEdgeSettlesADueChangeEvenWithoutPump() throws {
    let board = SimulatedBoard(clock: clock)
    let recorder = EdgeRecorder()
    try board.claim(
      inputs: [GPIOInputRequest(signal: "m", address: line(17), debounce: .milliseconds(50))], outputs: [])
    try board.start(onEdge: recorder.handler)
    let first = clock.now()
    try board.drive(signal: "m", value: true)
    clock.advance(by: .seconds(1))
    try board.drive(signal: "m", value: false)
    #expect(recorder.all == [GPIOEdge(signal: "m", value: true, time: first)])
    clock.advance(by: .seconds(1))
    board.pump()
    #expect(recorder.all.map(\.value) == [true, false])
    #expect(recorder.all.last?.time == first + .seconds(1))
  }

  @Test func timerThreadSettlesDeadlinesWithoutPump() throws {
    let board = SimulatedBoard(clock: SystemTestClock(), debounceTimer: .thread)
    let recorder = EdgeRecorder()
    try board.claim(
      inputs: [GPIOInputRequest(signal: "m", address: line(3), debounce: .milliseconds(20))], outputs: [])
    try board.start(onEdge: recorder.handler)
    defer { board.stop() }
    try board.drive(signal: "m", value: true)
    let delivered = waitUntil(seconds: 5) { recorder.all.count == 1 }
    #expect(delivered)
    #expect(recorder.all.first?.value == true)
  }

  // MARK: Outputs

  @Test func outputsAreDrivenToInitialAndBySet() throws {
    let board = SimulatedBoard(clock: clock)
    try board.claim(
      inputs: [],
      outputs: [
        GPIOOutputRequest(signal: "light", address: line(27), initial: true),
        GPIOOutputRequest(signal: "relay", address: line(26), activeLow: true, initial: false),
      ])
    #expect(board.level(line(27)) == true)
    #expect(board.level(line(26)) == true)  // active low: logical off is a high line
    try board.set(signal: "light", value: false)
    try board.set(signal: "relay", value: true)
    #expect(board.level(line(27)) == false)
    #expect(board.level(line(26)) == false)
    let error = try #require(throws: GPIOError.self) { try board.set(signal: "nothing", value: true) }
    #expect(error.problems.map(\.kind) == [.unknownSignal])
  }

  @Test func setAndReadInputsNeedAClaim() throws {
    let board = SimulatedBoard(clock: clock)
    #expect(throws: GPIOError.self) { try board.readInputs() }
    #expect(throws: GPIOError.self) { try board.set(signal: "light", value: true) }
    #expect(throws: GPIOError.self) { try board.start { _ in } }
  }
}
