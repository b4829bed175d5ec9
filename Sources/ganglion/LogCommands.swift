import ArgumentParser
import GanglionAnalysis
import GanglionCore
import GanglionDaemon
import GanglionLog
import GanglionSystem

struct LogCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "log", abstract: "Read the event log (works while the daemon runs, and on a copied folder).",
    subcommands: [Tail.self, Export.self, Stats.self, Verify.self])
}

/// `--config PATH` or `--log DIR`: where the log is.
struct LogLocation: ParsableArguments {
  @OptionGroup var options: ConfigOption
  @Option(name: .long, help: "The log folder (default: the configuration's log.dir).") var log: String?

  /// The log folder, and the device name for event ids (from the config when there is one).
  func resolve() throws -> (directory: String, device: String) {
    guard let (config, path) = try options.decodedIfPresent() else {
      let directory = log ?? ConfigurationLoader.defaultLogDirectory()
      // The daemon leaves its device name beside the log (a copied folder keeps it).
      let device = (try? LogStateFile(directory: directory, name: "device").read())?.trimmingASCIIWhitespace()
      return (directory, device.flatMap { $0.isEmpty ? nil : $0 } ?? "ganglion")
    }
    let base = FileSystem.directory(of: path)
    let directory =
      log ?? config.log.dir.map { FileSystem.resolve($0, relativeTo: base) }
      ?? ConfigurationLoader.defaultLogDirectory()
    return (directory, config.device)
  }

  /// The zone local time follows in `replay` and `explain`: the one the log's device
  /// recorded beside the log, else the configuration's `timezone:`, else UTC (said on stderr);
  /// never this machine's zone (cli.md).
  static func deviceTimeZone(directory: String, configured: DeviceTimeZone?) -> DeviceTimeZone {
    do {
      if let zone = try LogTimeZone.read(directory: directory) { return zone }
    } catch {
      printError("warning: the time zone recorded in \(directory) cannot be read: \(error)")
    }
    if let configured { return configured }
    printError(
      "warning: \(directory) does not record its device's time zone (written by an older version); local time is UTC")
    return .utc
  }

  static func reader(_ directory: String) throws -> LogReader {
    do {
      return try LogReader(directory: directory)
    } catch {
      printError("cannot read the event log in \(directory): \(error)")
      throw ExitCode.runtimeFailure
    }
  }
}

struct Tail: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print the most recent events.")

  @OptionGroup var location: LogLocation
  @Flag(name: .shortAndLong, help: "Keep printing new events as they are logged.") var follow = false
  @Option(help: "Only events of signals matching this glob, e.g. 'hallway.*'.") var signal: String?
  @Option(name: .short, help: "How many events.") var n = 20
  @Flag(help: "One JSON object per line.") var json = false

  func run() throws {
    let (directory, device) = try location.resolve()
    let reader = try LogLocation.reader(directory)
    func matches(_ event: Event) -> Bool {
      guard let signal else { return true }
      guard let name = event.signal else { return false }
      return Glob.matches(signal, name)
    }
    var lines = EventLines()
    func show(_ event: Event) {
      print(json ? event.json(device: device) : lines.line(event))
    }
    var lastSeq: UInt64 = 0
    do {
      let recent: [Event]
      if signal == nil {
        recent = try reader.last(n)
      } else {
        recent = Array(try reader.events(fromSeq: 0).filter(matches).suffix(n))
      }
      for event in recent { show(event) }
      CurrentProcess.flushStandardOutput()
      lastSeq = try reader.last(1).last?.seq ?? 0
    } catch {
      printError("cannot read the event log: \(error)")
      throw ExitCode.runtimeFailure
    }
    guard follow else { return }
    while true {
      sleepOnThisThread(.milliseconds(200))
      do {
        for event in try LogReader(directory: directory).events(fromSeq: lastSeq + 1) {
          lastSeq = event.seq
          if matches(event) { show(event) }
        }
        CurrentProcess.flushStandardOutput()
      } catch {
        printError("cannot read the event log: \(error)")
        throw ExitCode.runtimeFailure
      }
    }
  }
}
