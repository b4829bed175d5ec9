/// A value read from a file, with where it was written, so that later checks (pin lookup,
/// loading the rules it names) can point at it.
public struct Located<T: Sendable>: Sendable {
  public var value: T
  public var location: SourceLocation

  public init(_ value: T, at location: SourceLocation) {
    self.value = value
    self.location = location
  }

  public init(value: T, location: SourceLocation) {
    self.init(value, at: location)
  }
}

extension Located: Equatable where T: Equatable {}
extension Located: Hashable where T: Hashable {}

/// The decoded configuration file (config.md). Build it with `ConfigDecoder.decode`; pure
/// data, no I/O. Paths stay as written: the caller resolves them against the folder of
/// `file`.
public struct Config: Sendable, Equatable {
  /// The config path as the caller gave it.
  public var file: String
  /// `[a-z0-9_-]+`; used in MQTT topics and event ids.
  public var device: String
  /// The board profile path as written (relative to the config's folder), if any.
  public var hardware: Located<String>?
  /// Rule paths as written: folders, files, or both. Empty when `rules:` is not given.
  public var rules: [Located<String>]
  /// `timezone:`, the IANA name local time follows, as written (the loader reads the zone);
  /// nil: the system's zone (the daemon), UTC (rule tests).
  public var timezone: Located<String>?
  /// Declared signals in file order.
  public var signals: [SignalConfig]
  /// Signals declared with errors, left out of `signals` (their errors are in the decoder's
  /// diagnostics).
  public var unusableSignals: Set<String> = []
  /// nil: the section is omitted and Ganglion runs without a broker.
  public var mqtt: MQTTConfig?
  public var log: LogConfig
  /// nil: `http: off`. Defaults to `HTTPConfig.default` (loopback only).
  public var http: HTTPConfig?

  public init(
    file: String, device: String, hardware: Located<String>? = nil, rules: [Located<String>] = [],
    timezone: Located<String>? = nil, signals: [SignalConfig] = [], mqtt: MQTTConfig? = nil,
    log: LogConfig = LogConfig(), http: HTTPConfig? = .default
  ) {
    self.file = file
    self.device = device
    self.hardware = hardware
    self.rules = rules
    self.timezone = timezone
    self.signals = signals
    self.mqtt = mqtt
    self.log = log
    self.http = http
  }

  /// The signal with this name, if declared.
  public func signal(named name: String) -> SignalConfig? {
    signals.first { $0.name == name }
  }

  /// What rules, the engine and command handlers know about each signal: GPIO inputs and
  /// MQTT signals are inputs, GPIO outputs are outputs (initial: their start-up level),
  /// the rest are virtual.
  public var catalog: SignalCatalog {
    var catalog = SignalCatalog(
      signals.map { signal in
        SignalInfo(
          name: signal.name, type: signal.type, role: signal.role, persist: signal.persist,
          initial: signal.initial, location: signal.location)
      })
    catalog.unusable = unusableSignals
    return catalog
  }
}

/// One entry of `signals:`.
public struct SignalConfig: Sendable, Equatable {
  public var name: String
  /// Where the signal's name is written.
  public var location: SourceLocation
  public var type: SignalType
  public var source: SignalSource
  /// Restore the last logged value at start-up.
  public var persist: Bool
  /// The start-up value: a GPIO output's level as `.bool`, a virtual signal's `initial`;
  /// nil for inputs and for virtual signals without one (they start unknown).
  public var initial: Value?

  public init(
    name: String, location: SourceLocation, type: SignalType, source: SignalSource, persist: Bool = false,
    initial: Value? = nil
  ) {
    self.name = name
    self.location = location
    self.type = type
    self.source = source
    self.persist = persist
    self.initial = initial
  }

  /// Whether `other` declares the same signal with the same settings, wherever either is
  /// written in its file: what a reload compares to keep a signal (and its hardware) as is.
  public func hasSameSettings(as other: SignalConfig) -> Bool {
    withoutLocations() == other.withoutLocations()
  }

  private func withoutLocations() -> SignalConfig {
    let nowhere = SourceLocation(file: "", line: 0, column: 0)
    var copy = self
    copy.location = nowhere
    switch source {
    case .gpio(var gpio):
      gpio.location = nowhere
      gpio.lineLocation = nowhere
      if case .pin(let pin) = gpio.line { gpio.line = .pin(Located(pin.value, at: nowhere)) }
      copy.source = .gpio(gpio)
    case .mqtt(var mqtt):
      mqtt.location = nowhere
      copy.source = .mqtt(mqtt)
    case .virtual:
      break
    }
    return copy
  }

  public var role: SignalRole {
    switch source {
    case .gpio(let gpio): gpio.isOutput ? .output : .input
    case .mqtt: .input
    case .virtual: .virtual
    }
  }
}

/// Where a signal's values come from.
public enum SignalSource: Sendable, Equatable {
  case gpio(GPIOSignalConfig)
  case mqtt(MQTTSignalConfig)
  case virtual
}

/// Which GPIO line a signal uses.
public enum GPIOLineRef: Sendable, Hashable {
  /// `pin: GPIO17`: a name from the hardware profile; `Config.resolvePins(with:)` replaces it.
  case pin(Located<String>)
  /// `chip` (name like `gpiochip0`, path like `/dev/gpiochip0`, or label) and `line`.
  case chipLine(chip: String, line: GPIOLineSelector)
}

/// A line on a chip: its offset, or its name as the kernel reports it.
public enum GPIOLineSelector: Sendable, Hashable, CustomStringConvertible {
  case offset(Int)
  case name(String)

  public var description: String {
    switch self {
    case .offset(let offset): "line \(offset)"
    case .name(let name): "line '\(name)'"
    }
  }
}

/// `bias:` of a GPIO line.
public enum GPIOBias: String, Sendable, Hashable, CaseIterable {
  case asIs = "as-is"
  case pullUp = "pull-up"
  case pullDown = "pull-down"
  case disable
}

/// `count:` of a GPIO input: which (debounced) edges a pulse counter adds one for.
public enum GPIOEdgeCount: String, Sendable, Hashable, CaseIterable {
  case rising, falling, both

  /// Whether a change to logical `value` is an edge this counter counts.
  public func counts(changeTo value: Bool) -> Bool {
    switch self {
    case .rising: value
    case .falling: !value
    case .both: true
    }
  }
}

/// The `gpio:` settings of a signal. GPIO signals are `bool`; a pulse counter (`count:`) is a
/// `number`.
public struct GPIOSignalConfig: Sendable, Equatable {
  public var line: GPIOLineRef
  public var bias: GPIOBias
  /// The logical value is the inverse of the electrical level.
  public var activeLow: Bool
  /// Edges that revert within this period are suppressed (inputs only; zero: none).
  public var debounce: Duration
  public var isOutput: Bool
  /// An output's level at start-up (false for inputs).
  public var initial: Bool
  /// A pulse counter (`count:`): the signal is a number that adds one per counted edge.
  public var count: GPIOEdgeCount?
  /// Where the `gpio` key is written.
  public var location: SourceLocation
  /// Where the line is named: the `pin` value, or the `line` value.
  public var lineLocation: SourceLocation

  public init(
    line: GPIOLineRef, bias: GPIOBias = .asIs, activeLow: Bool = false, debounce: Duration = .zero,
    isOutput: Bool = false, initial: Bool = false, count: GPIOEdgeCount? = nil, location: SourceLocation,
    lineLocation: SourceLocation? = nil
  ) {
    self.line = line
    self.count = count
    self.bias = bias
    self.activeLow = activeLow
    self.debounce = debounce
    self.isOutput = isOutput
    self.initial = initial
    self.location = location
    self.lineLocation = lineLocation ?? location
  }
}

/// The `mqtt:` settings of a signal.
public struct MQTTSignalConfig: Sendable, Equatable {
  /// A topic, or for `json` signals a filter that may hold `+` and `#`.
  public var topic: String
  /// Dotted path into the JSON payload (`a.b.0.c`); nil: the whole payload is the value.
  public var jsonPath: String?
  /// `required: true`: a JSON message without the `jsonPath` field is a dead letter; by
  /// default it is ignored (counted) and the signal keeps its value, as zigbee2mqtt sends
  /// messages with only the fields that changed.
  public var required: Bool
  /// Where the `mqtt` key is written.
  public var location: SourceLocation

  public init(topic: String, jsonPath: String? = nil, required: Bool = false, location: SourceLocation) {
    self.topic = topic
    self.jsonPath = jsonPath
    self.required = required
    self.location = location
  }

  /// The topic holds `+` or `#`.
  public var isWildcard: Bool { topic.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") } }
}

/// The `mqtt:` section: how to reach the broker.
public struct MQTTConfig: Sendable, Equatable {
  public var host: String
  public var port: Int
  /// `mqtts://`.
  public var useTLS: Bool
  public var clientID: String
  /// Topic prefix for published events, state and commands (`<prefix>/set/<signal>`).
  public var prefix: String
  public var username: String?
  /// Path as written; the file holds the password.
  public var passwordFile: String?
  public var caFile: String?
  public var certFile: String?
  public var keyFile: String?
  public var keepalive: Duration
  /// QoS of published events: 0 or 1.
  public var qos: Int
  /// Accept `<prefix>/set/<signal>` for output and virtual signals.
  public var commands: Bool
  /// Events kept for the broker while it is unreachable.
  public var outbox: Int
  /// Which of the daemon's own topics it publishes (`mqtt.publish`; all by default).
  public var publish: MQTTPublishedTopics = MQTTPublishedTopics()
  /// Where `url`, `password_file`, `ca_file`, `cert_file` and `key_file` are written (by
  /// key), for the checks that read those files.
  public var locations = KeyLocations()

  public static let defaultPort = 1883
  public static let defaultTLSPort = 8883

  public init(
    host: String, port: Int? = nil, useTLS: Bool = false, clientID: String, prefix: String,
    username: String? = nil, passwordFile: String? = nil, caFile: String? = nil, certFile: String? = nil,
    keyFile: String? = nil, keepalive: Duration = .seconds(30), qos: Int = 1, commands: Bool = false,
    outbox: Int = 10_000
  ) {
    self.host = host
    self.port = port ?? (useTLS ? Self.defaultTLSPort : Self.defaultPort)
    self.useTLS = useTLS
    self.clientID = clientID
    self.prefix = prefix
    self.username = username
    self.passwordFile = passwordFile
    self.caFile = caFile
    self.certFile = certFile
    self.keyFile = keyFile
    self.keepalive = keepalive
    self.qos = qos
    self.commands = commands
    self.outbox = outbox
  }

  /// The settings used for `device` when only the URL is given.
  public static func defaults(host: String, port: Int? = nil, useTLS: Bool = false, device: String) -> MQTTConfig {
    MQTTConfig(
      host: host, port: port, useTLS: useTLS, clientID: "ganglion-\(device)", prefix: "ganglion/\(device)")
  }
}

/// Where keys of a section are written, for checks made after decoding. Where a setting is
/// written does not make two settings different: any two compare equal.
public struct KeyLocations: Sendable, Equatable {
  private var byKey: [String: SourceLocation] = [:]

  public init() {}

  public subscript(key: String) -> SourceLocation? {
    get { byKey[key] }
    set { byKey[key] = newValue }
  }

  public static func == (_: KeyLocations, _: KeyLocations) -> Bool { true }
}

/// `mqtt.publish`: the topics under the prefix that mirror every event (events.md "MQTT
/// topics"). All are on by default, as the spec describes; a device with a fast sensor can turn
/// a mirror off to spare the broker and the network (each is one more message per event).
/// `status`, `dead_letter`, commands and rule `publish` actions are not affected.
public struct MQTTPublishedTopics: Sendable, Equatable {
  /// `<prefix>/events/<signal>`: the event JSON of every signal event.
  public var events: Bool
  /// `<prefix>/state/<signal>`: the current value, retained.
  public var state: Bool
  /// `<prefix>/fired/<rule>`: the `fired` event JSON.
  public var fired: Bool

  public init(events: Bool = true, state: Bool = true, fired: Bool = true) {
    self.events = events
    self.state = state
    self.fired = fired
  }
}

/// The `log:` section: the on-disk event log.
public struct LogConfig: Sendable, Equatable {
  /// Path as written; nil: the caller picks `$STATE_DIRECTORY/log` or `./ganglion-state/log`.
  public var dir: String?
  /// The ring's total size: the oldest segments are dropped past it.
  public var maxSize: Int64
  public var segmentSize: Int64
  public var sync: LogSync

  public static let defaultMaxSize: Int64 = 64 << 20
  public static let defaultSegmentSize: Int64 = 4 << 20

  public init(
    dir: String? = nil, maxSize: Int64 = LogConfig.defaultMaxSize,
    segmentSize: Int64 = LogConfig.defaultSegmentSize, sync: LogSync = .interval(.seconds(1))
  ) {
    self.dir = dir
    self.maxSize = maxSize
    self.segmentSize = segmentSize
    self.sync = sync
  }
}

/// When the log fsyncs.
/// When the event log makes appended records durable (`log.sync`): the config's value and
/// the log writer's mode.
public enum LogSync: Sendable, Equatable {
  /// Before acting on each event: the pipeline syncs after appending and before acting, so
  /// an event is on disk before its actions run.
  case always
  /// Group commit: at most this long after an append (default 1 s).
  case interval(Duration)
  /// Records are written to the file (page cache) but never fdatasynced: they survive a
  /// crash of the daemon, not a power cut.
  case never
}

/// The `http:` listener (metrics, status, live events, inject, reload).
public struct HTTPConfig: Sendable, Hashable {
  public var host: String
  public var port: Int
  /// `token_file` as written (relative to the config's folder): the file holds the bearer
  /// token every request must carry (config.md "HTTP access"). Required when `host` is not a
  /// loopback address.
  public var tokenFile: Located<String>?

  public init(host: String, port: Int, tokenFile: Located<String>? = nil) {
    self.host = host
    self.port = port
    self.tokenFile = tokenFile
  }

  /// Whether `host` reaches this machine only: `localhost` or an address in 127.0.0.0/8.
  public static func isLoopback(_ host: String) -> Bool {
    if host == "localhost" { return true }
    let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { part -> UInt8? in
      part.count <= 3 && part.allSatisfy(\.isASCII) ? UInt8(part) : nil
    }
    return octets.count == 4 && !octets.contains(nil) && octets[0] == 127
  }

  /// `127.0.0.1:9120`: on, loopback only.
  public static let `default` = HTTPConfig(host: "127.0.0.1", port: 9120)
}
