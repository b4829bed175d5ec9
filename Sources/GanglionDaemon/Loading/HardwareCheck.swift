import GanglionCore
import GanglionGPIO

/// `ganglion check --hardware`: opens every GPIO chip and line the configuration names,
/// without requesting or driving any line, and reports what would stop the daemon from
/// claiming them: a chip that is missing or not accessible (not in the `gpio` group), a line
/// that does not exist, a line another program holds. Each problem is an error at the
/// signal's `gpio` line in the configuration.
public enum HardwareCheck {
  /// The problems, each at `file:line:column`; empty when every line can be claimed.
  public static func diagnostics(_ loaded: LoadedConfiguration) -> [Diagnostic] {
    let config = loaded.config
    let problems = HardwareGPIO.inspect(inputs: GPIOWiring.inputs(config), outputs: GPIOWiring.outputs(config))
    return problems.map { problem in
      let location = problem.signal.flatMap { name -> SourceLocation? in
        guard case .gpio(let gpio)? = config.signals.first(where: { $0.name == name })?.source else { return nil }
        return gpio.lineLocation
      }
      return Diagnostic(.error, at: location, problem.message)
    }
  }

  /// `libgpiod 1.6.3`: what this build talks to the kernel with.
  public static var libraryDescription: String { HardwareGPIO.libraryDescription }
}
