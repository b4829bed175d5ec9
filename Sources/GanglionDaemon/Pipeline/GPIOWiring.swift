import GanglionCore
import GanglionGPIO

/// Translates the config's GPIO signals into line requests for a GPIO backend.
enum GPIOWiring {
  static func address(_ gpio: GPIOSignalConfig) -> GPIOLineAddress? {
    guard case .chipLine(let chip, let line) = gpio.line else { return nil }
    switch line {
    case .offset(let offset): return GPIOLineAddress(chip: chip, line: .offset(offset))
    case .name(let name): return GPIOLineAddress(chip: chip, line: .name(name))
    }
  }

  static func bias(_ bias: GPIOBias) -> GPIOBiasSetting {
    switch bias {
    case .asIs: .asIs
    case .pullUp: .pullUp
    case .pullDown: .pullDown
    case .disable: .disable
    }
  }

  static func inputs(_ config: Config) -> [GPIOInputRequest] {
    config.signals.compactMap { signal in
      guard case .gpio(let gpio) = signal.source, !gpio.isOutput, let address = address(gpio) else { return nil }
      return GPIOInputRequest(
        signal: signal.name, address: address, bias: bias(gpio.bias), activeLow: gpio.activeLow,
        debounce: gpio.debounce,
        everyEdge: gpio.count != nil)
    }
  }

  /// Output requests; an output with a restored (`persist: true`) bool value starts there.
  static func outputs(_ config: Config, restored: [String: Value] = [:]) -> [GPIOOutputRequest] {
    config.signals.compactMap { signal in
      guard case .gpio(let gpio) = signal.source, gpio.isOutput, let address = address(gpio) else { return nil }
      let initial = restored[signal.name]?.boolValue ?? gpio.initial
      return GPIOOutputRequest(signal: signal.name, address: address, activeLow: gpio.activeLow, initial: initial)
    }
  }

  /// The simulated board serves every chip the config names, with enough lines for every
  /// offset it uses (at least 64).
  static func simulatedChips(_ config: Config, profile: HardwareProfile?) -> [String: Int] {
    var chips: [String: Int] = ["gpiochip0": 64]
    for (chip, count) in profile?.lineCounts ?? [:] { chips[chip] = max(64, count) }
    for signal in config.signals {
      guard case .gpio(let gpio) = signal.source, case .chipLine(let chip, let line) = gpio.line else { continue }
      var count = chips[chip] ?? 64
      if case .offset(let offset) = line { count = max(count, offset + 1) }
      chips[chip] = count
    }
    return chips
  }

  /// Line names of the simulated chips, from the hardware profile's pin names.
  static func simulatedLineNames(_ profile: HardwareProfile?) -> [String: [Int: String]] {
    guard let profile else { return [:] }
    var names: [String: [Int: String]] = [:]
    for (name, pin) in profile.pins { names[pin.chip, default: [:]][pin.line] = name }
    return names
  }
}
