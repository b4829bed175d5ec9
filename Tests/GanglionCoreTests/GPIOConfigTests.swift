import GanglionCore
import Testing

/// Board profiles carried in the binary, and the GPIO keys of issue 9 (`count:`).
@Suite struct GPIOConfigTests {
  static var profileFiles: [String] {
    folderEntries(repositoryRoot() + "/Hardware").filter { $0.hasSuffix(".yaml") && $0 != "demo.yaml" }
  }

  @Test func everyProfileOfHardwareIsBuiltInExactlyAsWrittenAndDecodes() throws {
    #expect(Self.profileFiles.count >= 5)
    for file in Self.profileFiles {
      let name = String(file.dropLast(".yaml".count))
      let text = try #require(readTextFile(repositoryRoot() + "/Hardware/" + file))
      #expect(HardwareProfile.builtInTexts[name] == text, "run `make profiles` after editing Hardware/\(file)")
      let (profile, diagnostics) = HardwareProfile.decode(text: text, file: file)
      #expect(profile != nil && diagnostics.isEmpty, "\(file): \(diagnostics)")
    }
    #expect(HardwareProfile.builtInTexts.count == Self.profileFiles.count)
  }

  @Test func thePi5ProfileNamesItsChipByLabelAndTheBeagleBoneByBank() throws {
    let (pi5, _) = HardwareProfile.decode(text: HardwareProfile.builtInTexts["raspberry-pi-5"]!, file: "pi5")
    #expect(pi5?.pins["GPIO17"]?.chip == "pinctrl-rp1")
    let (bbb, _) = HardwareProfile.decode(text: HardwareProfile.builtInTexts["beaglebone-black"]!, file: "bbb")
    // P9_12 is GPIO1_28 on the AM335x: bank 1, line 28 (am335x-boneblack.dts).
    #expect(bbb?.pins["P9_12"]?.chip == "gpio-32-63" && bbb?.pins["P9_12"]?.line == 28)
  }

  @Test func aPulseCounterIsANumberInput() throws {
    let (config, diagnostics) = decodeConfig(
      """
      device: meter
      signals:
        water.litres:
          gpio: { chip: gpiochip0, line: 5, count: rising, bias: pull-up, debounce: 5ms }
          persist: true
      """)
    #expect(diagnostics.isEmpty)
    let signal = try #require(config?.signals.first)
    #expect(signal.type == .number)
    #expect(signal.initial == .number(0))
    guard case .gpio(let gpio) = signal.source else { throw TestFailure("not a GPIO signal") }
    #expect(gpio.count == .rising && gpio.debounce == .milliseconds(5))
  }

  @Test func countMistakesAreLocatedErrors() {
    let (_, diagnostics) = decodeConfig(
      """
      device: meter
      signals:
        a:
          gpio: { chip: gpiochip0, line: 5, count: up }
        b:
          gpio: { chip: gpiochip0, line: 6, output: true, count: rising }
        c:
          type: bool
          gpio: { chip: gpiochip0, line: 7, count: both }
      """)
    let messages = diagnostics.map(\.description)
    #expect(
      messages.contains {
        $0.hasPrefix("ganglion.yaml:4:46: error: `count` expects one of 'rising', 'falling', 'both'")
      })
    #expect(messages.contains { $0.hasPrefix("ganglion.yaml:6:53: error: `count` makes an input a pulse counter") })
    #expect(
      messages.contains { $0.hasPrefix("ganglion.yaml:8:11: error: a GPIO pulse counter (`count:`) is a number") })
  }
}

struct TestFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
