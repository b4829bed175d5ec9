import GanglionCore
import GanglionSystem

/// What the hardware backend asks of libgpiod: the one small interface that both funnel
/// files implement, `LibGPIOD1.swift` (libgpiod 1.6, the v1 API: Debian 12, Raspberry Pi OS
/// bookworm) and `LibGPIOD2.swift` (libgpiod 2.x: Debian 13, Raspberry Pi OS trixie, Ubuntu
/// 24.04). The build compiles the one that matches the installed `libgpiod-dev`
/// (Package.swift reads its version; `GPIOD_V2`), and `LibGPIOD` names it.
///
/// Every call checks its result and reads errno at once; failures are `SystemError`s.
/// Thread safety: libgpiod objects are not thread safe. `HardwareGPIO` serializes opening,
/// requests, releases and output writes behind its lock; its edge thread only reads the
/// events of requested input lines.
protocol GPIOLibrary {
  associatedtype Chip: Sendable
  associatedtype Request: GPIOLineRequest

  /// The library's version string (`1.6.3`, `2.1.3`).
  static var version: String { get }
  /// What the kernel does for us with this library.
  static var capabilities: GPIOLibraryCapabilities { get }

  /// Opens the chip at a device path (`/dev/gpiochip0`).
  static func openChip(path: String) throws(SystemError) -> Chip
  static func close(_ chip: Chip)
  static func info(of chip: Chip) -> GPIOChipInfo
  /// A line's state as the kernel reports it now.
  static func lineInfo(of chip: Chip, offset: Int) throws(SystemError) -> GPIOLineInfo
  /// The offset of the first line named `name`; ENOENT when there is none.
  static func offset(of chip: Chip, lineNamed name: String) throws(SystemError) -> Int
  /// Requests one line for this process under `consumer`. An output is driven to its initial
  /// value as part of the request.
  static func request(_ chip: Chip, offset: Int, as settings: GPIOLineSettings, consumer: String)
    throws(SystemError) -> Request
}

/// A requested line. Released by `release` (once), or when the last reference goes.
protocol GPIOLineRequest: AnyObject, Sendable {
  /// The logical value (active-low applied).
  func value() throws(SystemError) -> Bool
  /// Drives an output (logical value).
  func setValue(_ value: Bool) throws(SystemError)
  /// Where the edge thread reads this input's edges.
  func edgeSource() throws(SystemError) -> any EdgeSource
  func release()
}

/// What a library version can ask the kernel to do.
struct GPIOLibraryCapabilities: Sendable, Hashable {
  /// The kernel debounces inputs (v2): fewer wake-ups, and bounces never fill its queue.
  var kernelDebounce: Bool
  /// Edge events carry sequence numbers (v2), so lost edges are counted exactly.
  var edgeSequenceNumbers: Bool
  /// Edge events the kernel queues per line before it drops newer ones.
  var kernelQueuePerLine: Int
}

/// How one line is requested.
enum GPIOLineSettings: Sendable, Hashable {
  /// An input with edge events on both edges; `debounce` is done by the kernel when the
  /// library can, else ignored here (the edge thread debounces).
  case input(bias: GPIOBiasSetting, activeLow: Bool, debounce: Duration)
  /// An output driven to `initial` (logical) as it is requested.
  case output(activeLow: Bool, initial: Bool)
}

/// A GPIO chip as the kernel describes it (`ganglion gpio list`).
public struct GPIOChipInfo: Sendable, Hashable {
  /// `gpiochip0`
  public var name: String
  /// The driver's label: `pinctrl-rp1`, `gpio-sim.0-node0`.
  public var label: String
  /// `/dev/gpiochip0`
  public var path: String
  public var lineCount: Int

  public init(name: String, label: String, path: String, lineCount: Int) {
    self.name = name
    self.label = label
    self.path = path
    self.lineCount = lineCount
  }
}

/// A GPIO line as the kernel describes it (`ganglion gpio list`).
public struct GPIOLineInfo: Sendable, Hashable {
  public enum Direction: String, Sendable, Hashable { case input, output }

  public var offset: Int
  /// The line's name from the device tree (`GPIO17`), nil if it has none.
  public var name: String?
  public var direction: Direction
  public var activeLow: Bool
  /// Requested by a program (this one or another).
  public var isUsed: Bool
  /// Who requested it, as that program named itself (`ganglion`, `gpioset`), if used.
  public var consumer: String?

  public init(offset: Int, name: String?, direction: Direction, activeLow: Bool, isUsed: Bool, consumer: String?) {
    self.offset = offset
    self.name = name
    self.direction = direction
    self.activeLow = activeLow
    self.isUsed = isUsed
    self.consumer = consumer
  }
}
