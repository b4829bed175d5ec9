/// A board profile (Hardware/*.yaml): the board's name and its pin names mapped to chip +
/// line, so configs say `pin: GPIO17` instead of offsets that differ between boards and
/// kernels. Pure data; `decode` reads text the caller loaded.
public struct HardwareProfile: Sendable, Equatable {
  /// One named pin.
  public struct Pin: Sendable, Hashable {
    /// Chip name (`gpiochip0`), path or label, as the profile writes it.
    public var chip: String
    /// Line offset on the chip.
    public var line: Int
    /// Physical header pin number, where the board has one.
    public var header: Int?
    /// Where the pin is defined in the profile.
    public var location: SourceLocation?

    public init(chip: String, line: Int, header: Int? = nil, location: SourceLocation? = nil) {
      self.chip = chip
      self.line = line
      self.header = header
      self.location = location
    }
  }

  /// The profile path as the caller gave it.
  public var file: String
  public var board: String
  public var pins: [String: Pin]

  public init(file: String, board: String, pins: [String: Pin]) {
    self.file = file
    self.board = board
    self.pins = pins
  }

  /// For each chip the profile names, how many lines it needs: one more than the highest
  /// offset of its pins. The simulated board serves this many lines per chip.
  public var lineCounts: [String: Int] {
    var counts: [String: Int] = [:]
    for pin in pins.values { counts[pin.chip] = max(counts[pin.chip] ?? 0, pin.line + 1) }
    return counts
  }

  /// The pin names ordered by chip, then line offset.
  public var pinNamesByLine: [String] {
    pins.sorted { ($0.value.chip, $0.value.line) < ($1.value.chip, $1.value.line) }.map(\.key)
  }

  static let rootKeys = ["board", "pins"]
  static let pinKeys = ["chip", "line", "header"]

  /// Decodes a profile. Every problem is reported at its `file:line:column`; the profile is
  /// nil when any error was found (a profile with a wrong pin must not be used).
  public static func decode(text: String, file: String) -> (HardwareProfile?, [Diagnostic]) {
    let root: YAMLNode?
    do {
      root = try YAMLParser.parse(text, file: file)
    } catch {
      return (nil, error.diagnostics)
    }
    var reader = YAMLFieldReader()
    let start = SourceLocation(file: file, line: 1, column: 1)
    guard let root else {
      reader.error("the hardware profile is empty; expected `board:` and `pins:`", at: start)
      return (nil, reader.diagnostics.diagnostics)
    }
    guard
      let fields = reader.mapping(
        root, "the hardware profile", allowed: rootKeys, owner: start, expected: "a mapping with board and pins")
    else { return (nil, reader.diagnostics.diagnostics) }

    var board = ""
    if let node = fields["board"] {
      board = reader.string(node, "`board`", expected: "the board's name") ?? ""
    } else {
      reader.error("missing `board:` (the board's name, like Raspberry Pi 5)", at: start)
    }

    var pins: [String: Pin] = [:]
    if let pinsNode = fields["pins"] {
      if let pairs = pinsNode.mapping {
        var claimed: [String: (name: String, location: SourceLocation)] = [:]
        for pair in pairs {
          guard let name = reader.string(pair.key, "a pin name", expected: "a pin name like GPIO17") else { continue }
          if let first = pins[name] {
            let line = first.location?.line ?? 0
            reader.error("pin '\(name)' is defined twice; the first is at line \(line)", at: pair.key.textLocation)
            continue
          }
          guard
            let pinFields = reader.mapping(
              pair.value, "pin '\(name)'", allowed: pinKeys, owner: pair.key.textLocation,
              expected: "a mapping like { chip: gpiochip0, line: 17, header: 11 }")
          else { continue }
          let chip: String?
          if let node = pinFields["chip"] {
            chip = reader.string(node, "`chip`", expected: "a chip name like gpiochip0")
          } else {
            reader.error("pin '\(name)' needs `chip:` (like gpiochip0)", at: pair.key.textLocation)
            chip = nil
          }
          let line: Int?
          if let node = pinFields["line"] {
            line = reader.int(node, "`line`", in: 0...65_535)
          } else {
            reader.error("pin '\(name)' needs `line:` (the line offset on the chip)", at: pair.key.textLocation)
            line = nil
          }
          let header = pinFields["header"].flatMap { reader.int($0, "`header`", in: 1...1000) }
          guard let chip, let line else { continue }
          let lineKey = "\(chip)\u{0}\(line)"
          if let first = claimed[lineKey] {
            reader.error(
              "pin '\(name)' maps to \(chip) line \(line), which pin '\(first.name)' already names "
                + "(line \(first.location.line))",
              at: pair.key.textLocation)
            continue
          }
          claimed[lineKey] = (name, pair.key.textLocation)
          pins[name] = Pin(chip: chip, line: line, header: header, location: pair.key.textLocation)
        }
      } else if !pinsNode.isNull {
        reader.error(
          "`pins` expects a mapping of pin names to { chip, line, header }; found \(reader.describe(pinsNode))",
          at: pinsNode.textLocation)
      }
    } else {
      reader.error("missing `pins:` (pin names mapped to { chip, line, header })", at: start)
    }

    let diagnostics = DiagnosticsError(reader.diagnostics.diagnostics).diagnostics
    if reader.diagnostics.hasErrors { return (nil, diagnostics) }
    return (HardwareProfile(file: file, board: board, pins: pins), diagnostics)
  }
}

extension Config {
  /// Replaces every `.pin` reference by the chip and line the profile gives it, and checks
  /// that no two GPIO signals claim the same chip line.
  ///
  /// - An unknown pin is an error at the pin's name, with a did-you-mean; a `pin` with no
  ///   profile (nil) is an error saying it needs a `hardware:` profile, or, when the config
  ///   names one, that the profile did not load. Such references stay `.pin`.
  /// - A second claim on a line is an error at the second signal naming the first. Chips
  ///   compare by name with a leading `/dev/` ignored; a line offset and a line name are
  ///   not compared (telling them apart needs the chip).
  /// - Returns: the diagnostics, in source order; empty when everything resolved.
  public mutating func resolvePins(with profile: HardwareProfile?) -> [Diagnostic] {
    var diagnostics = DiagnosticCollector()
    var claimed: [ClaimedLine: (signal: String, location: SourceLocation)] = [:]
    for index in signals.indices {
      guard case .gpio(var gpio) = signals[index].source else { continue }
      if case .pin(let pin) = gpio.line {
        guard let profile else {
          if let hardware {
            diagnostics.error(
              "`pin: \(pin.value)` cannot be resolved: the hardware profile '\(hardware.value)' did not load",
              at: pin.location)
          } else {
            diagnostics.error(
              "`pin: \(pin.value)` needs a `hardware:` profile that names the board's pins; "
                + "add `hardware:` to the config or give `chip:` + `line:`",
              at: pin.location)
          }
          continue
        }
        guard let resolved = profile.pins[pin.value] else {
          var message = "unknown pin '\(pin.value)' on \(profile.board) (profile \(profile.file))"
          if let near = HardwareProfile.nearestPin(to: pin.value, in: profile.pins.keys.sorted()) {
            message += "; did you mean '\(near)'?"
          }
          diagnostics.error(message, at: pin.location)
          continue
        }
        gpio.line = .chipLine(chip: resolved.chip, line: .offset(resolved.line))
        signals[index].source = .gpio(gpio)
      }
      guard case .chipLine(let chip, let line) = gpio.line else { continue }
      let key = ClaimedLine(chip: chip.hasPrefix("/dev/") ? String(chip.dropFirst(5)) : chip, line: line)
      let name = signals[index].name
      if let first = claimed[key] {
        diagnostics.error(
          "signal '\(name)' uses \(chip) \(line), which signal '\(first.signal)' already claims "
            + "(\(first.location)); two signals may not share a chip line",
          at: gpio.lineLocation)
      } else {
        claimed[key] = (name, gpio.lineLocation)
      }
    }
    return DiagnosticsError(diagnostics.diagnostics).diagnostics
  }
}

extension HardwareProfile {
  /// The pin name a user most likely meant: the same name in other letter case or without
  /// separators (`gpio17`, `Gpio_17`), a bare number that is one pin's number (`17` for
  /// `GPIO17`), else the nearest spelling.
  static func nearestPin(to written: String, in names: [String]) -> String? {
    func folded(_ text: String) -> String { String(text.lowercased().filter { $0.isLetter || $0.isNumber }) }
    if let same = names.first(where: { folded($0) == folded(written) }) { return same }
    if !written.isEmpty, written.allSatisfy(\.isNumber) {
      let numbered = names.filter { name in
        let digits = name.reversed().prefix(while: \.isNumber)
        return !digits.isEmpty && Int(String(digits.reversed())) == Int(written)
      }
      if numbered.count == 1 { return numbered[0] }
    }
    return Spelling.nearest(to: written, in: names)
  }
}

/// A chip line as signals claim it: chip name without `/dev/`, and the line selector.
private struct ClaimedLine: Hashable {
  var chip: String
  var line: GPIOLineSelector
}
