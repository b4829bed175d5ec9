import ArgumentParser
import GanglionCore
import GanglionGPIO
import GanglionSystem

/// `ganglion gpio ...`: what the kernel says about this machine's GPIO.
struct GPIOCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gpio", abstract: "The GPIO chips and lines of this machine.", subcommands: [GPIOList.self])
}

/// `ganglion gpio list [--json]`: the chips (name, label, lines) and their lines (offset, name,
/// direction, in use by whom), so a user can write a board profile (`gpiodetect` and
/// `gpioinfo` in one).
struct GPIOList: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "List the GPIO chips (name, label, lines) and their lines (offset, name, direction, user).")

  @Flag(help: "One JSON document: {\"library\", \"chips\": [{\"name\", \"label\", \"path\", \"lines\", ...}]}.")
  var json = false

  func run() throws {
    let inventory = HardwareGPIO.inventory()
    if json {
      let chips: [Value] = inventory.map { entry in
        .object([
          "name": .string(entry.chip.name), "label": .string(entry.chip.label), "path": .string(entry.chip.path),
          "lines": .number(Double(entry.chip.lineCount)),
          "error": entry.error.map { .string($0.text) } ?? .null,
          "line_info": .array(
            entry.lines.map { line in
              .object([
                "offset": .number(Double(line.offset)), "name": line.name.map(Value.string) ?? .null,
                "direction": .string(line.direction.rawValue), "active_low": .bool(line.activeLow),
                "used": .bool(line.isUsed), "consumer": line.consumer.map(Value.string) ?? .null,
              ])
            }),
        ])
      }
      print(JSON.encode(.object(["library": .string(HardwareGPIO.libraryDescription), "chips": .array(chips)])))
      return
    }
    guard !inventory.isEmpty else {
      print("no GPIO chips: /dev has no gpiochip devices (\(HardwareGPIO.libraryDescription))")
      return
    }
    for entry in inventory {
      let label = entry.chip.label.isEmpty ? "" : " [\(entry.chip.label)]"
      if let error = entry.error {
        print("\(entry.chip.name)\(label): cannot open \(entry.chip.path): \(error.text)")
        continue
      }
      print("\(entry.chip.name)\(label) \(entry.chip.lineCount) lines (\(entry.chip.path))")
      for line in entry.lines {
        var text = "  line \(pad(String(line.offset), 3)): \(pad(line.name.map { "\"\($0)\"" } ?? "unnamed", 16))"
        text += " \(pad(line.direction.rawValue, 6))"
        if line.activeLow { text += " active-low" }
        if line.isUsed { text += " used by \(line.consumer.map { "\"\($0)\"" } ?? "another program")" }
        print(text)
      }
    }
  }

  private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width
      ? text
      : (width > 3
        ? text + String(repeating: " ", count: width - text.count)
        : String(repeating: " ", count: width - text.count) + text)
  }
}
