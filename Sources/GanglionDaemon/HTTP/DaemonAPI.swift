import GanglionCore
import GanglionGPIO
import GanglionRules
import GanglionSystem

/// The routes of the daemon's loopback HTTP listener. Runs on HTTP connection threads;
/// talks to the pipeline only through its bounded inbox and status snapshot.
struct DaemonAPI: Sendable {
  let pipeline: Pipeline
  let reloader: RuleReloader
  let board: SimulatedBoard?
  let config: Config
  let clock: any WallClock

  /// The slots a request is served in: `/status` and `/metrics` are quick and always have
  /// theirs; `/events` followers hold theirs as long as they follow.
  static func classify(_ request: HTTPRequest) -> HTTPRequestClass {
    switch request.path {
    case "/status", "/metrics": .quick
    case "/events": .stream
    default: .work
    }
  }

  func handle(_ request: HTTPRequest, _ connection: HTTPConnection) -> HTTPResponse? {
    switch (request.method, request.path) {
    case ("GET", "/status"):
      return .json(pipeline.status.statusJSON(now: clock.now(), extra: simulatedLines()))
    case ("GET", "/metrics"):
      return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: pipeline.status.metricsText())
    case ("POST", "/inject"):
      return inject(request)
    case ("POST", "/reload"):
      return reload()
    case ("GET", "/events"):
      streamEvents(connection)
      return nil
    case (_, "/status"), (_, "/metrics"), (_, "/inject"), (_, "/reload"), (_, "/events"):
      return .text("method \(request.method) not allowed on \(request.path)", status: 405)
    default:
      return .text("no such endpoint: \(request.path) (try /status, /metrics, /events, /inject, /reload)", status: 404)
    }
  }

  /// With `--simulate`: the physical level of every GPIO signal's line on the simulated
  /// board (`"simulated_lines": {"hallway.light": true}`), so outputs can be seen as the
  /// hardware would see them.
  private func simulatedLines() -> [String: Value] {
    guard let board else { return [:] }
    var lines: [String: Value] = [:]
    for signal in config.signals {
      guard case .gpio(let gpio) = signal.source, let address = GPIOWiring.address(gpio),
        let level = board.level(address)
      else { continue }
      lines[signal.name] = .bool(level)
    }
    return ["simulated_lines": .object(lines)]
  }

  /// `POST /inject?signal=NAME&value=VALUE`: drives a simulated input.
  private func inject(_ request: HTTPRequest) -> HTTPResponse {
    guard let board else {
      return .text("inject needs a daemon started with --simulate", status: 409)
    }
    guard let name = request.query["signal"], let text = request.query["value"] else {
      return .text("usage: POST /inject?signal=NAME&value=VALUE", status: 400)
    }
    guard let signal = config.catalog[name] else {
      return .text("unknown signal '\(name)'\(Spelling.suggestion(for: name, in: config.catalog.names))", status: 404)
    }
    guard signal.role == .input else {
      let article = signal.role == .output ? "an" : "a"
      return .text("\(name) is \(article) \(signal.role.rawValue) signal; inject drives inputs only", status: 409)
    }
    guard let value = signal.type.parse(text: text) else {
      return .text("'\(text)' is not a valid \(signal.type.rawValue) for \(name)", status: 422)
    }
    let isGPIO = config.signals.contains { if $0.name == name, case .gpio = $0.source { true } else { false } }
    if isGPIO {
      guard case .bool(let level) = value else { return .text("GPIO signals are bool", status: 422) }
      do {
        try board.drive(signal: name, value: level)
      } catch {
        return .text("\(error)", status: 500)
      }
    } else {
      let reading = Reading(signal: name, value: value, time: clock.now(), source: .simulator)
      guard pipeline.submit(.reading(reading)) else { return .text("the daemon is overloaded; try again", status: 503) }
    }
    return .json(JSON.encode(.object(["signal": .string(name), "value": value, "injected": true])), status: 202)
  }

  /// How long `POST /reload` waits for its reload (the CLI waits 10 s for the answer).
  static let reloadTimeout: Duration = .seconds(8)

  /// `POST /reload`: joins the reload waiting to start or queues one, and waits for it; one
  /// that does not finish in `reloadTimeout` is cancelled (never applied later).
  private func reload() -> HTTPResponse {
    let ticket = reloader.request()
    guard let outcome = ticket.wait(timeout: Self.reloadTimeout) else {
      return .text("the reload did not finish within \(Self.reloadTimeout) and was cancelled; try again", status: 503)
    }
    let body = JSON.encode(
      .object([
        "accepted": .bool(outcome.accepted), "rules": .number(Double(outcome.ruleCount)),
        "errors": .array(outcome.diagnostics.filter { $0.severity == .error }.map { .string($0.description) }),
      ]))
    return .json(body, status: outcome.accepted ? 200 : 422)
  }

  /// `GET /events`: one event JSON per line, as they happen, until the client goes away.
  private func streamEvents(_ connection: HTTPConnection) {
    let (id, queue) = pipeline.tail.subscribe()
    defer { pipeline.tail.unsubscribe(id) }
    do {
      try connection.startStream(contentType: "application/x-ndjson")
      while true {
        switch queue.take(until: SystemMonotonicClock.nowMicroseconds() + 15_000_000) {
        case .element(let line): try connection.send(line + "\n")
        case .timedOut: try connection.send("\n")  // keeps the connection alive; finds clients gone
        case .closed: return
        }
      }
    } catch {
      return
    }
  }
}
