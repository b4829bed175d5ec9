/// Decodes the configuration file (config.md) from YAML text. Pure: no I/O, nothing is
/// connected to or opened; the caller reads the file and later resolves the paths in it.
public enum ConfigDecoder {
  static let rootKeys = ["device", "hardware", "rules", "timezone", "signals", "mqtt", "log", "http"]
  static let signalKeys = ["gpio", "mqtt", "type", "initial", "persist"]
  static let gpioKeys = ["pin", "chip", "line", "bias", "active_low", "debounce", "output", "initial", "count", "type"]
  static let mqttSignalKeys = ["topic", "json", "type", "required"]
  static let mqttKeys = [
    "url", "client_id", "prefix", "username", "password_file", "ca_file", "cert_file", "key_file", "keepalive",
    "qos", "commands", "outbox", "publish",
  ]
  static let mqttPublishKeys = ["events", "state", "fired"]
  /// Keys of `gpio:` and `mqtt:` written one level too high, with where they belong.
  static let misplacedSignalKeys: [String: String] = {
    var hints: [String: String] = [:]
    for key in gpioKeys where !signalKeys.contains(key) { hints[key] = "`\(key)` belongs under `gpio:`" }
    for key in mqttSignalKeys where !signalKeys.contains(key) { hints[key] = "`\(key)` belongs under `mqtt:`" }
    return hints
  }()
  static let logKeys = ["dir", "max_size", "segment_size", "sync"]
  static let httpKeys = ["listen", "token_file"]

  /// Decodes config text.
  ///
  /// Every problem is reported, each at the `file:line:column` of the offending key or
  /// value, in source order. The config is nil only when none can be built (a YAML syntax
  /// error, a document that is not a mapping, no `device:`). When the diagnostics hold
  /// errors, a returned config is a best-effort model for further checks (such as rules
  /// against its catalog) and must not be run: signals with errors may be missing or hold
  /// defaults.
  /// - Parameter file: the config path as given; used in locations and `Config.file`.
  public static func decode(text: String, file: String) -> (config: Config?, diagnostics: [Diagnostic]) {
    let root: YAMLNode?
    do {
      root = try YAMLParser.parse(text, file: file)
    } catch {
      return (nil, error.diagnostics)
    }
    return decode(root: root, file: file)
  }

  /// Decodes an already parsed document (nil: an empty file). See `decode(text:file:)`.
  public static func decode(root: YAMLNode?, file: String) -> (config: Config?, diagnostics: [Diagnostic]) {
    var decoder = Decoder(file: file)
    let config = decoder.decodeRoot(root)
    return (config, DiagnosticsError(decoder.reader.diagnostics.diagnostics).diagnostics)
  }
}

private struct Decoder {
  let file: String
  var reader = YAMLFieldReader()

  init(file: String) { self.file = file }

  mutating func error(_ message: String, at location: SourceLocation) { reader.error(message, at: location) }

  mutating func decodeRoot(_ root: YAMLNode?) -> Config? {
    let start = SourceLocation(file: file, line: 1, column: 1)
    guard let root else {
      error("the config is empty; expected at least `device:` (a name like hallway-pi)", at: start)
      return nil
    }
    guard
      let fields = reader.mapping(
        root, "the config", allowed: ConfigDecoder.rootKeys, owner: start,
        misplaced: [
          "gpio": "`gpio:` belongs to a signal under `signals:`",
          "listen": "`listen:` belongs under `http:`",
          "url": "`url:` belongs under `mqtt:`",
        ],
        expected: "a mapping with device, signals, mqtt, log, http")
    else { return nil }

    var device: String?
    if let node = fields["device"] {
      if let name = reader.string(node, "`device`", expected: "a name like hallway-pi") {
        if !SignalName.isValidIdentifier(name) {
          error(
            "`device` expects a name of lower-case letters, digits, '_' and '-' (like hallway-pi); found '\(name)'",
            at: node.textLocation)
        }
        device = name
      }
    } else {
      error("missing `device:` (a name like hallway-pi, used in MQTT topics and event ids)", at: start)
    }

    var hardware: Located<String>?
    if let node = fields["hardware"] {
      if let path = reader.string(node, "`hardware`", expected: "the path of a board profile") {
        hardware = Located(path, at: node.textLocation)
      }
    }

    var timezone: Located<String>?
    if let node = fields["timezone"],
      let name = reader.string(node, "`timezone`", expected: "an IANA time zone name like Europe/Amsterdam")
    {
      timezone = Located(name, at: node.textLocation)
    }

    let rules = fields["rules"].map { decodeRules($0) } ?? []
    var unusable: Set<String> = []
    let signals = fields["signals"].map { decodeSignals($0, unusable: &unusable) } ?? []
    let deviceName = device ?? "device"
    let mqtt = fields.pairs["mqtt"].flatMap { decodeMQTT($0.value, key: $0.key.location, device: deviceName) }
    let log = fields["log"].map { decodeLog($0) } ?? LogConfig()
    let http = fields["http"].map { decodeHTTP($0) } ?? .default

    guard let device else { return nil }
    var config = Config(
      file: file, device: device, hardware: hardware, rules: rules, timezone: timezone, signals: signals, mqtt: mqtt,
      log: log, http: http)
    config.unusableSignals = unusable
    return config
  }

  // MARK: rules

  mutating func decodeRules(_ node: YAMLNode) -> [Located<String>] {
    if node.isNull { return [] }
    let expected = "a folder, a file, or a list of them"
    if let items = node.sequence {
      return items.compactMap { item in
        reader.string(item, "an entry of `rules`", expected: "a folder or file path").map {
          Located($0, at: item.textLocation)
        }
      }
    }
    guard let path = reader.string(node, "`rules`", expected: expected) else { return [] }
    return [Located(path, at: node.textLocation)]
  }

  // MARK: signals

  /// The signals; `unusable` gains the names of those left out for their errors.
  mutating func decodeSignals(_ node: YAMLNode, unusable: inout Set<String>) -> [SignalConfig] {
    if node.isNull { return [] }
    guard let pairs = node.mapping else {
      error(
        "`signals` expects a mapping of signal names to their settings; found \(reader.describe(node))",
        at: node.textLocation)
      return []
    }
    var signals: [SignalConfig] = []
    var seen: [String: SourceLocation] = [:]
    for pair in pairs {
      guard let name = pair.key.scalar, !pair.key.isNull else {
        error("`signals`: a signal name must be a plain name; found \(pair.key.kindDescription)", at: pair.key.location)
        continue
      }
      if let first = seen[name] {
        error(
          "signal '\(name)' is declared twice; the first is at line \(first.line), column \(first.column)",
          at: pair.key.textLocation)
        continue
      }
      seen[name] = pair.key.location
      if !SignalName.isValid(name) {
        error(
          "invalid signal name '\(name)': expected lower-case dotted parts of a-z, 0-9, '_' and '-' "
            + "(like hallway.motion), at most 128 characters",
          at: pair.key.textLocation)
      }
      let errorsBefore = reader.diagnostics.diagnostics.count
      if let signal = decodeSignal(name: name, key: pair.key, value: pair.value) {
        signals.append(signal)
      } else if reader.diagnostics.diagnostics.count > errorsBefore {
        unusable.insert(name)
      }
    }
    return signals
  }

  mutating func decodeSignal(name: String, key: YAMLNode, value: YAMLNode) -> SignalConfig? {
    let what = "signal '\(name)'"
    let errorsBefore = reader.diagnostics.diagnostics.count
    let fields: YAMLFields
    if value.isNull {
      fields = YAMLFields(pairs: [:], owner: key.textLocation)
    } else {
      guard
        let read = reader.mapping(
          value, what, allowed: ConfigDecoder.signalKeys, owner: key.textLocation,
          misplaced: ConfigDecoder.misplacedSignalKeys,
          expected: "a mapping with gpio, mqtt, or type (virtual)")
      else { return nil }
      fields = read
    }
    let keysHadErrors = reader.diagnostics.diagnostics.count != errorsBefore

    // The signal-level `type`, checked against the source's rules below.
    var declaredType: Located<SignalType>?
    if let node = fields["type"], let type = decodeType(node) { declaredType = Located(type, at: node.textLocation) }
    let persist = fields["persist"].flatMap { reader.bool($0, "`persist`") } ?? false

    if let gpioKey = fields.keyLocation("gpio"), let mqttKey = fields.keyLocation("mqtt") {
      error(
        "\(what) has both `gpio` and `mqtt`; a signal has exactly one of them, or neither (virtual)",
        at: max(gpioKey, mqttKey))
      return nil
    }

    if let gpioPair = fields.pairs["gpio"] {
      let isCounter = gpioPair.value.mapping?.contains { $0.key.scalar == "count" } ?? false
      if let type = declaredType, type.value != (isCounter ? .number : .bool) {
        error(
          isCounter
            ? "a GPIO pulse counter (`count:`) is a number; `type: \(type.value.rawValue)` is not allowed"
            : "GPIO signals are bool (a pulse counter with `count:` is a number); `type: \(type.value.rawValue)` is not allowed on a `gpio` signal",
          at: type.location)
      }
      if let initialKey = fields.keyLocation("initial") {
        error("a GPIO signal's start-up level goes inside `gpio:` (`output: true, initial: on`)", at: initialKey)
      }
      guard let gpio = decodeGPIO(gpioPair.value, key: gpioPair.key, signal: name) else { return nil }
      if gpio.count != nil {
        // A counter starts at 0 each run, unless `persist: true` carries it on.
        return SignalConfig(
          name: name, location: key.textLocation, type: .number, source: .gpio(gpio), persist: persist,
          initial: .number(0))
      }
      return SignalConfig(
        name: name, location: key.textLocation, type: .bool, source: .gpio(gpio), persist: persist,
        initial: gpio.isOutput ? .bool(gpio.initial) : nil)
    }

    if let mqttPair = fields.pairs["mqtt"] {
      if let initialKey = fields.keyLocation("initial") {
        error(
          "an MQTT signal is an input: it starts unknown (or restored with `persist: true`) and takes no `initial`",
          at: initialKey)
      }
      guard
        let (mqtt, type) = decodeMQTTSignal(mqttPair.value, key: mqttPair.key, signal: name, outerType: declaredType)
      else { return nil }
      return SignalConfig(name: name, location: key.textLocation, type: type, source: .mqtt(mqtt), persist: persist)
    }

    // Virtual.
    guard let type = declaredType else {
      // Not when the mapping's keys were already reported (a misplaced `pin:` is one mistake).
      if !fields.has("type"), !keysHadErrors {
        error(
          "virtual \(what) needs `type:` (bool, number, string or json), or give it `gpio:` or `mqtt:`",
          at: key.textLocation)
      }
      return nil
    }
    var initial: Value?
    if let node = fields["initial"] { initial = decodeInitial(node, type: type.value) }
    return SignalConfig(
      name: name, location: key.textLocation, type: type.value, source: .virtual, persist: persist, initial: initial)
  }

  mutating func decodeType(_ node: YAMLNode) -> SignalType? {
    reader.choice(node, "`type`", SignalType.allCases.map(\.rawValue)).flatMap(SignalType.init(rawValue:))
  }

  /// A virtual signal's `initial`, which must be a value of its type (`~`: unknown).
  mutating func decodeInitial(_ node: YAMLNode, type: SignalType) -> Value? {
    if node.isNull { return nil }
    let value = node.jsonValue
    switch (type, value) {
    case (.bool, .bool), (.number, .number), (.json, _): return value
    case (.string, _) where node.scalar != nil: return .string(node.scalar!)
    default:
      let expected: String
      switch type {
      case .bool: expected = "true or false (or on/off)"
      case .number: expected = "a number"
      case .string: expected = "a text"
      case .json: expected = "a value"
      }
      error(
        "`initial` of a \(type.rawValue) signal expects \(expected); found \(reader.describe(node))",
        at: node.textLocation)
      return nil
    }
  }

  // MARK: gpio

  mutating func decodeGPIO(_ node: YAMLNode, key: YAMLNode, signal: String) -> GPIOSignalConfig? {
    guard
      let fields = reader.mapping(
        node, "`gpio` of signal '\(signal)'", allowed: ConfigDecoder.gpioKeys, owner: key.textLocation,
        expected: "a mapping like { pin: GPIO17 } or { chip: gpiochip0, line: 17 }")
    else { return nil }
    var ok = true

    if let typeNode = fields["type"], let type = decodeType(typeNode), type != (fields.has("count") ? .number : .bool) {
      error(
        fields.has("count")
          ? "a GPIO pulse counter (`count:`) is a number; `type: \(type.rawValue)` is not allowed"
          : "GPIO signals are bool (a pulse counter with `count:` is a number); `type: \(type.rawValue)` is not allowed on a `gpio` signal",
        at: typeNode.textLocation)
    }

    var line: GPIOLineRef?
    var lineLocation = key.textLocation
    switch (fields["pin"], fields["chip"], fields["line"]) {
    case (let pin?, nil, nil):
      if let name = reader.string(pin, "`pin`", expected: "a pin name from the hardware profile, like GPIO17") {
        line = .pin(Located(name, at: pin.textLocation))
        lineLocation = pin.textLocation
      }
    case (nil, let chip?, let lineNode?):
      let chipName = reader.string(chip, "`chip`", expected: "a chip name, path or label, like gpiochip0")
      let selector = decodeLineSelector(lineNode)
      if let chipName, let selector { line = .chipLine(chip: chipName, line: selector) }
      lineLocation = lineNode.textLocation
    case (.some, _, _):
      error(
        "give either `pin` or `chip` + `line`, not both", at: fields.keyLocation("chip") ?? fields.keyLocation("line")!)
    case (nil, .some, nil):
      error("`chip` needs `line:` (a line offset like 17 or a line name)", at: fields.keyLocation("chip")!)
    case (nil, nil, .some):
      error("`line` needs `chip:` (a chip name like gpiochip0, a path or a label)", at: fields.keyLocation("line")!)
    case (nil, nil, nil):
      error(
        "`gpio` of signal '\(signal)' needs `pin:` (a name from the hardware profile) or `chip:` + `line:`",
        at: key.textLocation)
    }
    if line == nil { ok = false }

    var bias = GPIOBias.asIs
    if let node = fields["bias"] {
      if let text = reader.choice(node, "`bias`", GPIOBias.allCases.map(\.rawValue)) {
        bias = GPIOBias(rawValue: text)!
      } else {
        ok = false
      }
    }
    let activeLow = fields["active_low"].flatMap { reader.bool($0, "`active_low`") } ?? false
    let isOutput = fields["output"].flatMap { reader.bool($0, "`output`") } ?? false
    var debounce = Duration.zero
    if let node = fields["debounce"] {
      if isOutput {
        error("`debounce` applies to inputs; this line is an output", at: fields.keyLocation("debounce")!)
      } else if let value = reader.duration(node, "`debounce`") {
        debounce = value
      }
    }
    var count: GPIOEdgeCount?
    if let node = fields["count"] {
      if isOutput {
        error("`count` makes an input a pulse counter; this line is an output", at: fields.keyLocation("count")!)
        ok = false
      } else if let text = reader.choice(node, "`count`", GPIOEdgeCount.allCases.map(\.rawValue)) {
        count = GPIOEdgeCount(rawValue: text)
      } else {
        ok = false
      }
    }
    var initial = false
    if let node = fields["initial"] {
      if !isOutput {
        error(
          "`initial` applies to outputs (`output: true`); an input starts unknown until it is read",
          at: fields.keyLocation("initial")!)
      } else if let value = reader.bool(node, "`initial`") {
        initial = value
      }
    }
    guard ok, let line else { return nil }
    return GPIOSignalConfig(
      line: line, bias: bias, activeLow: activeLow, debounce: debounce, isOutput: isOutput, initial: initial,
      count: count,
      location: key.textLocation, lineLocation: lineLocation)
  }

  mutating func decodeLineSelector(_ node: YAMLNode) -> GPIOLineSelector? {
    guard let text = node.scalar, !node.isNull, !text.isEmpty else {
      error(
        "`line` expects a line offset like 17 or a line name; found \(reader.describe(node))", at: node.textLocation)
      return nil
    }
    if node.scalarStyle == .plain, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
      guard let offset = Int(text), offset <= 65_535 else {
        error("`line` offset \(text) is too large (at most 65535)", at: node.textLocation)
        return nil
      }
      return .offset(offset)
    }
    if text.hasPrefix("-") {
      error("`line` expects a line offset of 0 or more, or a line name; found '\(text)'", at: node.textLocation)
      return nil
    }
    return .name(text)
  }

  // MARK: mqtt signal

  /// The signal's settings and its type: `type` given here or at the signal level (not
  /// both), `string` by default.
  mutating func decodeMQTTSignal(
    _ node: YAMLNode, key: YAMLNode, signal: String, outerType: Located<SignalType>?
  ) -> (MQTTSignalConfig, SignalType)? {
    guard
      let fields = reader.mapping(
        node, "`mqtt` of signal '\(signal)'", allowed: ConfigDecoder.mqttSignalKeys, owner: key.textLocation,
        expected: "a mapping like { topic: sensors/hallway/lux, type: number }")
    else { return nil }
    var type = outerType
    if let typeNode = fields["type"], let value = decodeType(typeNode) {
      if let outerType {
        error(
          "`type` is given twice, here and at line \(outerType.location.line); give it once",
          at: fields.keyLocation("type")!)
      }
      type = Located(value, at: typeNode.textLocation)
    }
    var jsonPath: String?
    if let node = fields["json"] {
      if let path = reader.string(node, "`json`", expected: "a dotted path into the payload, like a.b.0.c") {
        if path.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
          error("`json` expects a dotted path like a.b.0.c with no empty parts; found '\(path)'", at: node.textLocation)
        } else {
          jsonPath = path
        }
      }
    }
    guard let topicNode = fields["topic"] else {
      error("`mqtt` of signal '\(signal)' needs `topic:` (like sensors/hallway/lux)", at: key.textLocation)
      return nil
    }
    guard let topic = reader.string(topicNode, "`topic`", expected: "an MQTT topic like sensors/hallway/lux") else {
      return nil
    }
    if let problem = MQTTTopicCheck.problem(inFilter: topic) {
      error("topic '\(topic)': \(problem)", at: topicNode.textLocation)
      return nil
    }
    var required = false
    if let node = fields["required"], let value = reader.bool(node, "`required`") {
      if value, jsonPath == nil, !fields.has("json") {
        error(
          "`required` applies to a `json:` field (a message without it is a dead letter); "
            + "this signal reads the whole payload", at: node.textLocation)
      }
      required = value
    }
    let config = MQTTSignalConfig(topic: topic, jsonPath: jsonPath, required: required, location: key.textLocation)
    if config.isWildcard, type?.value != .json {
      error(
        "topic '\(topic)' holds a wildcard (+ or #), which only `type: json` catch-all signals may use"
          + (type == nil ? "; add `type: json`" : ", not `type: \(type!.value.rawValue)`"),
        at: topicNode.textLocation)
    }
    return (config, type?.value ?? .string)
  }

  // MARK: mqtt

  mutating func decodeMQTT(_ node: YAMLNode, key: SourceLocation, device: String) -> MQTTConfig? {
    guard
      let fields = reader.mapping(
        node, "`mqtt`", allowed: ConfigDecoder.mqttKeys, owner: key,
        expected: "a mapping with url (omit the section to run without a broker)")
    else { return nil }
    guard let urlNode = fields["url"] else {
      error("`mqtt` needs `url:` like mqtt://127.0.0.1:1883 (or omit the section to run without a broker)", at: key)
      return nil
    }
    var config = MQTTConfig.defaults(host: "", device: device)
    for name in ["url", "password_file", "ca_file", "cert_file", "key_file"] {
      if let node = fields[name] { config.locations[name] = node.textLocation }
    }
    var ok = true
    if let url = reader.string(urlNode, "`url`", expected: "a broker URL like mqtt://127.0.0.1:1883") {
      switch NetworkAddress.parseURL(url) {
      case .success(let address):
        config.host = address.host
        config.useTLS = address.useTLS
        config.port = address.port ?? (address.useTLS ? MQTTConfig.defaultTLSPort : MQTTConfig.defaultPort)
      case .failure(let problem):
        error("`url` \(problem.message); found '\(url)'", at: urlNode.textLocation)
        ok = false
      }
    } else {
      ok = false
    }
    if let node = fields["client_id"] {
      if let id = reader.string(node, "`client_id`", expected: "an MQTT client id") {
        if id.utf8.count > 65_535 || id.contains(where: { $0 == "+" || $0 == "#" || $0 == "/" || $0 == "\u{0}" }) {
          error("`client_id` expects a name without '+', '#' or '/'; found '\(id)'", at: node.textLocation)
        } else {
          config.clientID = id
        }
      }
    }
    if let node = fields["prefix"] {
      if let prefix = reader.string(node, "`prefix`", expected: "a topic prefix like ganglion/hallway-pi") {
        if let problem = MQTTTopicCheck.problem(inPrefix: prefix) {
          error("`prefix` '\(prefix)': \(problem)", at: node.textLocation)
        } else {
          config.prefix = prefix
        }
      }
    }
    config.username = fields["username"].flatMap { reader.string($0, "`username`") }
    if let node = fields["username"], config.username?.utf8.contains(0) == true {
      error("`username` must not hold a NUL character", at: node.textLocation)
    }
    config.passwordFile = fields["password_file"].flatMap { reader.string($0, "`password_file`", expected: "a path") }
    if fields.has("password_file"), !fields.has("username") {
      error(
        "`password_file` needs `username:` (MQTT sends a password only with a user name)",
        at: fields.keyLocation("password_file")!)
    }
    for tlsKey in ["ca_file", "cert_file", "key_file"] {
      guard let node = fields[tlsKey] else { continue }
      let path = reader.string(node, "`\(tlsKey)`", expected: "a path")
      if ok, !config.useTLS {
        // A warning, not an error: the file is harmless without TLS (config.md's own example
        // does it), but the user may believe the connection is encrypted.
        reader.diagnostics.append(
          Diagnostic(
            .warning, at: fields.keyLocation(tlsKey)!,
            "`\(tlsKey)` is used only with TLS; this url is mqtt://, so the connection is not encrypted "
              + "(use mqtts:// for TLS)"))
      }
      switch tlsKey {
      case "ca_file": config.caFile = path
      case "cert_file": config.certFile = path
      default: config.keyFile = path
      }
    }
    if fields.has("cert_file") != fields.has("key_file") {
      let given = fields.has("cert_file") ? "cert_file" : "key_file"
      let missing = fields.has("cert_file") ? "key_file" : "cert_file"
      error(
        "`\(given)` needs `\(missing)` too (a client certificate comes with its key)", at: fields.keyLocation(given)!)
    }
    if let node = fields["keepalive"], let keepalive = reader.duration(node, "`keepalive`") {
      let micros = keepalive.microseconds
      if micros % 1_000_000 != 0 || micros < 5_000_000 || micros > 65_535_000_000 {
        error(
          "`keepalive` expects whole seconds from 5s to 65535s (18h12m15s); found '\(node.scalar ?? "")'",
          at: node.textLocation)
      } else {
        config.keepalive = keepalive
      }
    }
    if let node = fields["qos"], let qos = reader.int(node, "`qos`", in: 0...1) { config.qos = qos }
    if let node = fields["commands"], let commands = reader.bool(node, "`commands`") { config.commands = commands }
    if let node = fields["outbox"], let outbox = reader.int(node, "`outbox`", in: 0...100_000_000) {
      config.outbox = outbox
    }
    if let node = fields["publish"],
      let topics = reader.mapping(
        node, "`publish`", allowed: ConfigDecoder.mqttPublishKeys, owner: fields.keyLocation("publish"),
        expected: "a mapping like { events: true, state: true, fired: true }")
    {
      if let node = topics["events"], let on = reader.bool(node, "`events`") { config.publish.events = on }
      if let node = topics["state"], let on = reader.bool(node, "`state`") { config.publish.state = on }
      if let node = topics["fired"], let on = reader.bool(node, "`fired`") { config.publish.fired = on }
    }
    return ok ? config : nil
  }

  // MARK: log

  mutating func decodeLog(_ node: YAMLNode) -> LogConfig {
    var log = LogConfig()
    if node.isNull { return log }
    guard let fields = reader.mapping(node, "`log`", allowed: ConfigDecoder.logKeys) else { return log }
    log.dir = fields["dir"].flatMap { reader.string($0, "`dir`", expected: "a folder path") }
    var maxSize: Int64?
    var segmentSize: Int64?
    if let node = fields["max_size"] { maxSize = reader.byteSize(node, "`max_size`") }
    if let node = fields["segment_size"] { segmentSize = reader.byteSize(node, "`segment_size`") }
    log.maxSize = maxSize ?? log.maxSize
    log.segmentSize = segmentSize ?? log.segmentSize
    if log.segmentSize > log.maxSize, maxSize != nil || segmentSize != nil {
      let at = fields["segment_size"]?.textLocation ?? fields["max_size"]!.textLocation
      error(
        "`segment_size` (\(log.segmentSize) bytes) must not exceed `max_size` (\(log.maxSize) bytes)", at: at)
    }
    if let node = fields["sync"] {
      switch node.scalar {
      case "always" where node.scalarStyle == .plain: log.sync = .always
      case "never" where node.scalarStyle == .plain: log.sync = .never
      default:
        if let text = node.scalar, !node.isNull, let interval = Duration.parse(text) {
          if interval > .zero {
            log.sync = .interval(interval)
          } else {
            error("`sync` interval must be more than 0; use `always` to sync before acting", at: node.textLocation)
          }
        } else {
          var message =
            "`sync` expects `always`, `never`, or a group commit interval like 1s or 200ms; found \(reader.describe(node))"
          if let text = node.scalar, let near = Spelling.nearest(to: text, in: ["always", "never"]) {
            message += "; did you mean '\(near)'?"
          }
          error(message, at: node.textLocation)
        }
      }
    }
    return log
  }

  // MARK: http

  mutating func decodeHTTP(_ node: YAMLNode) -> HTTPConfig? {
    if node.isNull { return .default }
    if node.scalar != nil {
      if case .bool(let on) = node.jsonValue { return on ? .default : nil }
      error(
        "`http` expects `off` or a mapping like { listen: 127.0.0.1:9120 }; found \(reader.describe(node))",
        at: node.textLocation)
      return .default
    }
    guard
      let fields = reader.mapping(
        node, "`http`", allowed: ConfigDecoder.httpKeys, expected: "`off` or a mapping like { listen: 127.0.0.1:9120 }")
    else { return .default }
    var tokenFile: Located<String>?
    if let node = fields["token_file"], let path = reader.string(node, "`token_file`", expected: "a path") {
      tokenFile = Located(path, at: node.textLocation)
    }
    var http = HTTPConfig.default
    http.tokenFile = tokenFile
    guard let listen = fields["listen"] else { return http }
    guard let text = reader.string(listen, "`listen`", expected: "host:port like 127.0.0.1:9120") else {
      return http
    }
    switch NetworkAddress.parseHostPort(text, portRequired: true) {
    case .success(let address):
      http.host = address.host
      http.port = address.port!
      if tokenFile == nil, !HTTPConfig.isLoopback(address.host) {
        error(
          "`listen` \(text) is not a loopback address: give `token_file` too, so that every request must "
            + "carry its token (anyone who can reach the port could otherwise reload or inject)",
          at: listen.textLocation)
      }
      return http
    case .failure(let problem):
      error("`listen` \(problem.message) (like 127.0.0.1:9120); found '\(text)'", at: listen.textLocation)
      return http
    }
  }
}
