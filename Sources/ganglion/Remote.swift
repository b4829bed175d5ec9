import ArgumentParser
import GanglionCore
import GanglionDaemon
import GanglionSystem

/// Where a running daemon listens: the config's `http.listen` (its loopback address when it
/// listens on all of them), else 127.0.0.1:9120 when no config is found (as `make run`'s
/// demo does); and the API token of `http.token_file`, when the file can be read.
struct DaemonAddress {
  var host: String
  var port: Int
  var token: String?

  static func resolve(_ options: ConfigOption) throws -> DaemonAddress {
    guard let (config, path) = try options.decodedIfPresent() else {
      return DaemonAddress(host: "127.0.0.1", port: 9120)
    }
    guard let http = config.http else {
      printError("\(path): the HTTP listener is off (`http: off`); the daemon cannot be reached")
      throw ExitCode.badConfig
    }
    var token: String?
    if let file = http.tokenFile {
      let tokenPath = FileSystem.resolve(file.value, relativeTo: FileSystem.directory(of: path))
      token = try? FileSystem.readText(tokenPath, limit: 4096).trimmingASCIIWhitespace()
    }
    return DaemonAddress(host: http.host == "0.0.0.0" ? "127.0.0.1" : http.host, port: http.port, token: token)
  }

  /// Sends the request. A daemon that is not there, does not answer, is busy (503) or refuses
  /// the request (401, 403) is said in words on stderr and exits 3.
  func request(_ method: String, _ path: String, query: [(String, String)] = []) throws -> HTTPClient.Reply {
    let reply: HTTPClient.Reply
    do {
      reply = try HTTPClient.request(
        method: method, host: host, port: port, path: path, query: query,
        headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    } catch  where error.isConnectionRefused {
      printError("no daemon is listening at \(host):\(port) (is `ganglion run` running?)")
      throw ExitCode.runtimeFailure
    } catch  where error.isTimeOut {
      printError("the daemon at \(host):\(port) did not answer within 10 s")
      throw ExitCode.runtimeFailure
    } catch {
      printError("cannot reach the daemon at \(host):\(port): \(error)")
      throw ExitCode.runtimeFailure
    }
    let text = reply.body.trimmingASCIIWhitespace()
    switch reply.status {
    case 503:
      printError("the daemon at \(host):\(port) is busy: \(text)")
      throw ExitCode.runtimeFailure
    case 401:
      let tokenState =
        token == nil ? "no token was sent (set http.token_file, readable by you)" : "the token was refused"
      printError("the daemon at \(host):\(port) needs its API token: \(tokenState)")
      throw ExitCode.runtimeFailure
    case 403:
      printError("the daemon at \(host):\(port) refused the request: \(text)")
      throw ExitCode.runtimeFailure
    default:
      return reply
    }
  }
}

struct Inject: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Drive a simulated input of a daemon started with --simulate.",
    discussion: "Example: ganglion inject hallway.motion on")

  @OptionGroup var options: ConfigOption
  @Argument(help: "The input signal, e.g. hallway.motion.") var signal: String
  @Argument(help: "The value, e.g. on, off, 21.5, text.") var value: String

  func run() throws {
    let address = try DaemonAddress.resolve(options)
    let reply = try address.request("POST", "/inject", query: [("signal", signal), ("value", value)])
    guard (200..<300).contains(reply.status) else {
      printError("inject refused: \(reply.body.trimmingASCIIWhitespace())")
      throw ExitCode.badConfig
    }
    print("\(signal) = \(value)")
  }
}

struct Status: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show the running daemon's signals, rules, MQTT and log health.")

  @OptionGroup var options: ConfigOption
  @Flag(help: "Print the status as JSON.") var json = false

  func run() throws {
    let address = try DaemonAddress.resolve(options)
    let reply = try address.request("GET", "/status")
    guard reply.status == 200, let status = try? JSON.parse(reply.body) else {
      printError("unexpected reply from the daemon: \(reply.status) \(reply.body)")
      throw ExitCode.runtimeFailure
    }
    if json {
      print(reply.body.trimmingASCIIWhitespace())
      return
    }
    print(StatusFormatter.human(status))
  }
}

struct Reload: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Ask the running daemon to reload its rules.")

  @OptionGroup var options: ConfigOption

  func run() throws {
    let address = try DaemonAddress.resolve(options)
    let reply = try address.request("POST", "/reload")
    let body = try? JSON.parse(reply.body)
    if reply.status == 200 {
      print("reloaded: \(body?["rules"]?.plainText ?? "?") rules")
      return
    }
    if case .array(let errors)? = body?["errors"] {
      for error in errors { printError(error.plainText) }
      printError("reload rejected: the running rules stay")
      throw ExitCode.checkFailed
    }
    printError("reload failed: \(reply.status) \(reply.body)")
    throw ExitCode.runtimeFailure
  }
}

enum StatusFormatter {
  static func human(_ status: Value) -> String {
    var lines: [String] = []
    lines.append(
      "device \(status["device"]?.plainText ?? "?"), up \(status["uptime_seconds"]?.plainText ?? "?") s\(status["simulated"] == .bool(true) ? ", simulated board" : "")"
    )
    if case .object(let mqtt)? = status["mqtt"] {
      let state =
        mqtt["connected"] == .bool(true) ? "connected" : "disconnected (\(mqtt["last_error"]?.plainText ?? ""))"
      var line = "mqtt \(mqtt["url"]?.plainText ?? "?"): \(state)"
      let waiting = mqtt["outbox"]?.numberValue ?? 0
      let dropped = mqtt["outbox_dropped"]?.numberValue ?? 0
      if waiting > 0 || dropped > 0 {
        line += ", \(Int(waiting)) events waiting for the broker, \(Int(dropped)) dropped from a full outbox"
      }
      lines.append(line)
    } else {
      lines.append("mqtt: off")
    }
    if let log = status["log"] {
      var line = "log \(log["dir"]?.plainText ?? "?"): next seq \(log["next_seq"]?.plainText ?? "?")"
      if let failure = log["write_failure"], !failure.isNull { line += ", WRITE FAILING: \(failure.plainText)" }
      lines.append(line)
    }
    if let drops = status["counters"]?["input_queue_drops"]?.numberValue, drops > 0 {
      lines.append("inputs dropped because the daemon was overloaded: \(Int(drops))")
    }
    if case .object(let dropped)? = status["dropped"] {
      let nonZero = dropped.filter { ($0.value.numberValue ?? 0) > 0 }.sorted { $0.key < $1.key }
      if !nonZero.isEmpty {
        lines.append(
          "dropped: " + nonZero.map { "\($0.key) \(Int($0.value.numberValue ?? 0))" }.joined(separator: ", "))
      }
    }
    if case .object(let signals)? = status["signals"] {
      lines.append("signals:")
      for name in signals.keys.sorted() {
        let state = signals[name]!
        let value = state["value"].map { $0.isNull ? "unknown" : $0.plainText } ?? "?"
        let time = state["time"].flatMap { $0.isNull ? nil : $0.plainText } ?? "no value yet"
        lines.append("  \(name) = \(value)  (\(time))")
      }
    }
    if case .object(let levels)? = status["simulated_lines"], !levels.isEmpty {
      // Electrical levels, not values: an active_low input that is true reads low here.
      lines.append("simulated lines (line levels, not logical values):")
      for name in levels.keys.sorted() {
        lines.append("  \(name) = \(levels[name] == .bool(true) ? "high" : "low")")
      }
    }
    if case .object(let rules)? = status["rules"] {
      lines.append("rules:")
      for name in rules.keys.sorted() {
        let fired = rules[name]?["last_fired"]
        lines.append("  \(name): last fired \(fired == nil || fired!.isNull ? "never" : fired!.plainText)")
      }
    }
    if case .object(let rejected)? = status["rejected_reload"] {
      lines.append("rejected reload at \(rejected["time"]?.plainText ?? "?"):")
      if case .array(let errors)? = rejected["errors"] { lines += errors.map { "  " + $0.plainText } }
    }
    return lines.joined(separator: "\n")
  }
}
