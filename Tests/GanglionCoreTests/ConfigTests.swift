import GanglionCore
import Testing

/// The example of config.md, verbatim.
let specExample = """
  device: hallway-pi              # [a-z0-9_-]+, used in MQTT topics and event ids
  hardware: ../Hardware/raspberry-pi-5.yaml   # optional board profile: pin names -> chip/line
  rules: rules/                   # a folder (every *.yaml not ending .test.yaml), a file, or a list

  signals:
    hallway.motion:               # GPIO input: a boolean signal, one event per edge
      gpio: { pin: GPIO17, bias: pull-down, debounce: 50ms }
    hallway.door:
      gpio: { chip: gpiochip0, line: 22, active_low: true, bias: pull-up }
    hallway.light:                # GPIO output: set by rules or commands
      gpio: { pin: GPIO27, output: true, initial: off }
    hallway.lux:                  # MQTT input: the payload is the value
      mqtt: { topic: sensors/hallway/lux, type: number }
    living.temperature:           # MQTT input: one field of a JSON payload
      mqtt: { topic: zigbee2mqtt/living, json: temperature, type: number }
    doorbell.press:               # MQTT input where every message matters, same value or not
      mqtt: { topic: "zigbee2mqtt/doorbell/action", type: string }
    alarm.armed:                  # virtual signal
      type: bool
      initial: false
      persist: true               # restored from the event log after a restart

  mqtt:                           # omit the section to run without a broker (GPIO + rules + log)
    url: mqtt://127.0.0.1:1883    # mqtts:// for TLS
    client_id: ganglion-hallway-pi     # default: ganglion-<device>
    prefix: ganglion/hallway-pi        # default: ganglion/<device>
    username: hallway
    password_file: /etc/ganglion/mqtt.pass
    ca_file: /etc/ssl/certs/ca-certificates.crt   # TLS only; also cert_file / key_file
    keepalive: 30s
    qos: 1                        # for published events; 0 or 1
    commands: true                # accept <prefix>/set/<signal> for output and virtual signals
    outbox: 10000                 # events kept for the broker while it is unreachable (see events.md)

  log:
    dir: /var/lib/ganglion/log    # default: $STATE_DIRECTORY or ./ganglion-state/log
    max_size: 64MiB               # the ring: oldest segments are dropped past this
    segment_size: 4MiB
    sync: 1s                      # group commit interval; `always` = fsync before acting; `never`

  http:                           # default: on, loopback only; `http: off` disables it
    listen: 127.0.0.1:9120        # /metrics (Prometheus), /status (JSON), /events (live tail),
                                  # /inject (simulation only), /reload
  """

private func at(_ line: Int, _ column: Int, file: String = "ganglion.yaml") -> GanglionCore.SourceLocation {
  GanglionCore.SourceLocation(file: file, line: line, column: column)
}

@Suite struct ConfigDecodingTests {
  @Test func specExampleDecodesToTheModelItDescribes() throws {
    // The example gives `ca_file` with an mqtt:// url: decoded, with a warning at the key.
    let (decoded, diagnostics) = decodeConfig(specExample)
    #expect(diagnostics.map(\.position) == ["29:3"])
    #expect(diagnostics.allSatisfy { $0.severity == .warning && $0.message.contains("mqtts://") })
    let c = try #require(decoded)

    #expect(c.file == "ganglion.yaml")
    #expect(c.device == "hallway-pi")
    #expect(c.hardware == Located("../Hardware/raspberry-pi-5.yaml", at: at(2, 11)))
    #expect(c.rules == [Located("rules/", at: at(3, 8))])
    #expect(
      c.signals.map(\.name) == [
        "hallway.motion", "hallway.door", "hallway.light", "hallway.lux", "living.temperature", "doorbell.press",
        "alarm.armed",
      ])

    let motion = c.signals[0]
    #expect(motion.location == at(6, 3))
    #expect(motion.type == .bool)
    #expect(
      motion.source
        == .gpio(
          GPIOSignalConfig(
            line: .pin(Located("GPIO17", at: at(7, 18))), bias: .pullDown, debounce: .milliseconds(50),
            location: at(7, 5), lineLocation: at(7, 18))))
    #expect(
      c.signals[1].source
        == .gpio(
          GPIOSignalConfig(
            line: .chipLine(chip: "gpiochip0", line: .offset(22)), bias: .pullUp, activeLow: true,
            location: at(9, 5), lineLocation: at(9, 36))))
    let light = c.signals[2]
    #expect(light.initial == .bool(false))
    guard case .gpio(let lightGPIO) = light.source else {
      Issue.record("hallway.light is not GPIO")
      return
    }
    #expect(lightGPIO.isOutput && !lightGPIO.initial && lightGPIO.line == .pin(Located("GPIO27", at: at(11, 18))))

    #expect(c.signals[3].type == .number)
    #expect(c.signals[3].source == .mqtt(MQTTSignalConfig(topic: "sensors/hallway/lux", location: at(13, 5))))
    #expect(
      c.signals[4].source
        == .mqtt(MQTTSignalConfig(topic: "zigbee2mqtt/living", jsonPath: "temperature", location: at(15, 5))))
    #expect(c.signals[5].type == .string)
    #expect(c.signals[5].source == .mqtt(MQTTSignalConfig(topic: "zigbee2mqtt/doorbell/action", location: at(17, 5))))
    let armed = c.signals[6]
    #expect(armed.type == .bool && armed.source == .virtual && armed.persist && armed.initial == .bool(false))

    let mqtt = try #require(c.mqtt)
    #expect(
      mqtt
        == MQTTConfig(
          host: "127.0.0.1", port: 1883, useTLS: false, clientID: "ganglion-hallway-pi", prefix: "ganglion/hallway-pi",
          username: "hallway", passwordFile: "/etc/ganglion/mqtt.pass",
          caFile: "/etc/ssl/certs/ca-certificates.crt", keepalive: .seconds(30), qos: 1, commands: true,
          outbox: 10_000))
    #expect(
      c.log
        == LogConfig(
          dir: "/var/lib/ganglion/log", maxSize: 64 << 20, segmentSize: 4 << 20, sync: .interval(.seconds(1))))
    #expect(c.http == HTTPConfig(host: "127.0.0.1", port: 9120))
  }

  @Test func catalogGivesEachSignalItsRole() throws {
    let config = try #require(decodeConfig(specExample).0)
    let catalog = config.catalog
    #expect(catalog.names == config.signals.map(\.name))
    #expect(catalog["hallway.motion"]?.role == .input)
    #expect(catalog["hallway.light"]?.role == .output)
    #expect(catalog["hallway.light"]?.initial == .bool(false))
    #expect(catalog["hallway.lux"]?.role == .input)
    #expect(catalog["hallway.lux"]?.type == .number)
    #expect(
      catalog["alarm.armed"]
        == SignalInfo(
          name: "alarm.armed", type: .bool, role: .virtual, persist: true, initial: .bool(false), location: at(18, 3)))
  }

  @Test func omittedSettingsTakeTheirDefaults() throws {
    let text = """
      device: attic
      signals:
        attic.button:
          gpio: { chip: /dev/gpiochip1, line: BUTTON }
        attic.note:
          mqtt: { topic: attic/note }
        attic.mode:
          type: string
      mqtt:
        url: mqtts://broker.example.net
      """
    let (decoded, diagnostics) = decodeConfig(text)
    #expect(diagnostics.isEmpty, "\(diagnostics)")
    let config = try #require(decoded)
    #expect(config.hardware == nil)
    #expect(config.rules.isEmpty)
    #expect(config.log == LogConfig(dir: nil, maxSize: 64 << 20, segmentSize: 4 << 20, sync: .interval(.seconds(1))))
    #expect(config.http == HTTPConfig(host: "127.0.0.1", port: 9120))
    #expect(
      config.mqtt
        == MQTTConfig(
          host: "broker.example.net", port: 8883, useTLS: true, clientID: "ganglion-attic", prefix: "ganglion/attic",
          keepalive: .seconds(30), qos: 1, commands: false, outbox: 10_000))
    guard case .gpio(let button) = config.signals[0].source else {
      Issue.record("attic.button is not GPIO")
      return
    }
    #expect(button.line == .chipLine(chip: "/dev/gpiochip1", line: .name("BUTTON")))
    #expect(button.bias == .asIs && !button.activeLow && button.debounce == .zero && !button.isOutput)
    #expect(config.signals[0].initial == nil)
    #expect(config.signals[1].type == .string)
    #expect(config.signals[2].initial == nil && !config.signals[2].persist)

    let bare = try #require(decodeConfig("device: bare\n").0)
    #expect(bare.mqtt == nil && bare.signals.isEmpty && bare.http == .default)
  }

  @Test func everyMistakeIsReportedOnceAtItsPlace() throws {
    let text = """
      device: Hallway Pi
      signals:
        hallway.motion:
          gpio: { pin: GPIO17, bias: pulldown, debounse: 50ms }
        hallway.lux:
          mqtt: { topic: sensors/+/lux, type: number }
        Alarm:
          type: boolean
        alarm.delay:
          type: number
          initial: soon
      mqtt:
        url: http://broker:1883
        qos: 2
        keepalive: 30
      log:
        max_size: 1MiB
        segment_size: 4MiB
        sync: sometimes
      http: { listen: localhost }
      colour: blue
      """
    let (config, diagnostics) = decodeConfig(text)
    #expect(config != nil)
    let found = diagnostics.map { "\($0.position) \($0.message)" }
    let expected: [(String, String)] = [
      ("1:9", "`device` expects a name of lower-case letters"),
      ("4:32", "did you mean 'pull-down'?"),
      ("4:42", "unknown key 'debounse' in `gpio` of signal 'hallway.motion'; did you mean 'debounce'?"),
      ("6:20", "only `type: json` catch-all signals may use, not `type: number`"),
      ("7:3", "invalid signal name 'Alarm'"),
      ("8:11", "`type` expects one of 'bool', 'number', 'string', 'json'; found 'boolean'"),
      ("11:14", "`initial` of a number signal expects a number; found 'soon'"),
      ("13:8", "`url` expects the scheme mqtt:// or mqtts:// (TLS), not http://"),
      ("14:8", "`qos` expects a whole number from 0 to 1; found 2"),
      ("15:14", "`keepalive` expects a duration like 50ms"),
      ("18:17", "`segment_size` (4194304 bytes) must not exceed `max_size` (1048576 bytes)"),
      ("19:9", "`sync` expects `always`, `never`, or a group commit interval"),
      ("20:17", "`listen` needs a port"),
      ("21:1", "unknown key 'colour' in the config"),
    ]
    #expect(diagnostics.count == expected.count, "\(found.joined(separator: "\n"))")
    for ((position, fragment), diagnostic) in zip(expected, diagnostics) {
      #expect(diagnostic.position == position && diagnostic.message.contains(fragment), "\(diagnostic)")
      #expect(diagnostic.location?.file == "ganglion.yaml")
      #expect(diagnostic.severity == .error)
    }
  }

  @Test func misspelledKeySuggestsTheNearOne() {
    let text = """
      device: d
      signals:
        door.contact:
          gpio:
            chip: gpiochip0
            line: 4
            debounse: 20ms
      """
    let (_, diagnostics) = decodeConfig(text, file: "conf/g.yaml")
    #expect(
      diagnostics.map(\.description) == [
        "conf/g.yaml:7:7: error: unknown key 'debounse' in `gpio` of signal 'door.contact'; did you mean 'debounce'?"
      ])
  }

  @Test func unknownKeyWithoutNearMatchListsWhatIsExpected() {
    let (_, diagnostics) = decodeConfig("device: d\nlog: { wibble: 1 }\n")
    #expect(diagnostics.map(\.position) == ["2:8"])
    #expect(diagnostics.first?.message.contains("expected one of: dir, max_size, segment_size, sync") == true)
  }

  @Test func keyAtTheWrongLevelSaysWhereItBelongs() {
    let text = """
      device: d
      signals:
        door.contact:
          pin: GPIO4
      """
    let (_, diagnostics) = decodeConfig(text)
    #expect(diagnostics.map(\.position) == ["4:5"])
    #expect(
      diagnostics.first?.message.hasSuffix("unknown key 'pin' in signal 'door.contact'; `pin` belongs under `gpio:`")
        == true)
  }

  @Test func wrongNodeKindsAreErrors() {
    let text = """
      device: [a, b]
      signals:
        - door.contact
      mqtt: mqtt://localhost
      log:
        dir: { path: /tmp }
      rules: { a: b }
      """
    let (config, diagnostics) = decodeConfig(text)
    #expect(config == nil)
    #expect(diagnostics.map(\.position) == ["1:9", "3:3", "4:7", "6:8", "7:8"])
    #expect(diagnostics[0].message == "`device` expects a name like hallway-pi; found a list")
    #expect(
      diagnostics[1].message.contains("`signals` expects a mapping of signal names to their settings; found a list"))
    #expect(diagnostics[2].message.contains("`mqtt` expects a mapping with url"))
    #expect(diagnostics[3].message.contains("`dir` expects a folder path; found a mapping"))
    #expect(diagnostics[4].message.contains("`rules` expects a folder, a file, or a list of them; found a mapping"))
  }

  @Test func duplicateKeysAndSignalsAreErrorsAtTheSecond() {
    let text = """
      device: d
      device: e
      signals:
        a.b: { type: bool }
        a.b: { type: number }
      """
    let (_, diagnostics) = decodeConfig(text)
    #expect(diagnostics.map(\.position) == ["2:1", "5:3"])
    #expect(diagnostics[0].message.contains("duplicate key 'device'"))
    #expect(diagnostics[1].message.contains("signal 'a.b' is declared twice; the first is at line 4"))
  }

  @Test func missingDeviceOrEmptyFileGivesNoConfig() {
    let (none, empty) = decodeConfig("# nothing yet\n")
    #expect(none == nil && empty.map(\.position) == ["1:1"])
    let (noDevice, diagnostics) = decodeConfig("signals: {}\n")
    #expect(noDevice == nil)
    #expect(
      diagnostics.map(\.message) == ["missing `device:` (a name like hallway-pi, used in MQTT topics and event ids)"])
    let (broken, syntax) = decodeConfig("device: [\n")
    #expect(broken == nil && syntax.count == 1 && syntax[0].message.hasPrefix("YAML syntax"))
  }

  @Test func mergeKeysShareSettingsAndExplicitKeysWin() throws {
    let text = """
      device: d
      signals:
        hall.motion:
          gpio: &pir { pin: GPIO17, bias: pull-down, debounce: 50ms }
        stairs.motion:
          gpio: { <<: *pir, pin: GPIO18 }
        porch.motion:
          gpio: { pin: GPIO19, <<: [*pir] , debounse: 1s }
      """
    let (decoded, diagnostics) = decodeConfig(text)
    #expect(diagnostics.map(\.position) == ["8:39"])
    #expect(diagnostics.first?.message.contains("did you mean 'debounce'?") == true)
    let config = try #require(decoded)
    guard case .gpio(let stairs) = config.signal(named: "stairs.motion")?.source else {
      Issue.record("stairs.motion is not GPIO")
      return
    }
    #expect(stairs.line == .pin(Located("GPIO18", at: at(6, 28))))
    #expect(stairs.bias == .pullDown && stairs.debounce == .milliseconds(50))
  }

  @Test func rulesTakeAFileAFolderOrAList() throws {
    let config = try #require(decodeConfig("device: d\nrules: [rules/, extra.yaml]\n").0)
    #expect(config.rules == [Located("rules/", at: at(2, 9)), Located("extra.yaml", at: at(2, 17))])
  }

  @Test func httpCanBeOffOnOrListenElsewhere() throws {
    #expect(try #require(decodeConfig("device: d\nhttp: off\n").0).http == nil)
    #expect(try #require(decodeConfig("device: d\nhttp: on\n").0).http == .default)
    #expect(try #require(decodeConfig("device: d\nhttp:\n").0).http == .default)
    #expect(
      try #require(decodeConfig("device: d\nhttp: { listen: 0.0.0.0:8080 }\n").0).http
        == HTTPConfig(host: "0.0.0.0", port: 8080))
    #expect(
      try #require(decodeConfig("device: d\nhttp: { listen: '[::1]:9121' }\n").0).http
        == HTTPConfig(host: "::1", port: 9121))
    let (_, diagnostics) = decodeConfig("device: d\nhttp: disabled\n")
    #expect(diagnostics.map(\.position) == ["2:7"])
    #expect(diagnostics.first?.message.contains("`http` expects `off` or a mapping") == true)
  }

  @Test func mirrorTopicsAreAllOnUnlessTurnedOffOneByOne() throws {
    let defaults = try #require(decodeConfig("device: d\nmqtt: { url: 'mqtt://h' }\n").0)
    #expect(defaults.mqtt?.publish == MQTTPublishedTopics(events: true, state: true, fired: true))
    let text = "device: d\nmqtt:\n  url: mqtt://h\n  publish: { events: false, fired: off }\n"
    let some = try #require(decodeConfig(text).0)
    #expect(some.mqtt?.publish == MQTTPublishedTopics(events: false, state: true, fired: false))
    let (_, diagnostics) = decodeConfig("device: d\nmqtt:\n  url: mqtt://h\n  publish: { event: false }\n")
    #expect(diagnostics.map(\.position) == ["4:14"])
    #expect(diagnostics.first?.message.hasSuffix("did you mean 'events'?") == true, "\(diagnostics)")
  }

  @Test func logSyncModes() throws {
    #expect(try #require(decodeConfig("device: d\nlog: { sync: always }\n").0).log.sync == .always)
    #expect(try #require(decodeConfig("device: d\nlog: { sync: never }\n").0).log.sync == .never)
    #expect(
      try #require(decodeConfig("device: d\nlog: { sync: 200ms }\n").0).log.sync == .interval(.milliseconds(200)))
    let (_, diagnostics) = decodeConfig("device: d\nlog: { sync: allways }\n")
    #expect(diagnostics.first?.message.hasSuffix("did you mean 'always'?") == true)
  }

  /// One bad value per case, put under `device: d`: exactly one error, on the given line of
  /// the snippet at the column where `token` starts, saying what was expected.
  @Test(arguments: [
    (
      "signals:\n  a.b:\n    gpio: { pin: GPIO4, debounce: soon }", 3, "soon", "`debounce` expects a duration like 50ms"
    ),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4, debounce: 5 }", 3, "5 }", "`debounce` expects a duration"),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4, bias: up }", 3, "up", "`bias` expects one of 'as-is', 'pull-up'"),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4, active_low: yes }", 3, "yes", "`active_low` expects true or false"),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4, initial: on }", 3, "initial", "`initial` applies to outputs"),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4, output: true, debounce: 1s }", 3, "debounce", "applies to inputs"),
    (
      "signals:\n  a.b:\n    gpio: { pin: GPIO4, output: true, initial: 2 }", 3, "2 }",
      "`initial` expects true or false"
    ),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4, chip: gpiochip0 }", 3, "chip", "give either `pin` or `chip` + `line`"),
    ("signals:\n  a.b:\n    gpio: { chip: gpiochip0 }", 3, "chip", "`chip` needs `line:`"),
    ("signals:\n  a.b:\n    gpio: { chip: gpiochip0, line: -1 }", 3, "-1", "`line` expects a line offset of 0 or more"),
    ("signals:\n  a.b:\n    gpio: { bias: pull-up }", 3, "gpio", "needs `pin:`"),
    ("signals:\n  a.b:\n    gpio: [GPIO4]", 3, "[", "`gpio` of signal 'a.b' expects a mapping like { pin: GPIO17 }"),
    ("signals:\n  a.b:\n    type: number\n    gpio: { pin: GPIO4 }", 3, "number", "GPIO signals are bool"),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4 }\n    mqtt: { topic: t }", 4, "mqtt", "has both `gpio` and `mqtt`"),
    ("signals:\n  a.b:\n    gpio: { pin: GPIO4, output: true }\n    initial: on", 4, "initial", "goes inside `gpio:`"),
    ("signals:\n  a.b:\n    mqtt: { type: number }", 3, "mqtt", "needs `topic:`"),
    ("signals:\n  a.b:\n    mqtt: { topic: a/#/b, type: json }", 3, "a/#/b", "'#' must be a whole level at the end"),
    ("signals:\n  a.b:\n    mqtt: { topic: a/b+, type: json }", 3, "a/b+", "'+' must be a whole level"),
    ("signals:\n  a.b:\n    mqtt: { topic: a/# }", 3, "a/#", "add `type: json`"),
    ("signals:\n  a.b:\n    mqtt: { topic: a, json: x..y }", 3, "x..y", "`json` expects a dotted path"),
    ("signals:\n  a.b:\n    type: json\n    mqtt: { topic: a, type: json }", 4, "type", "`type` is given twice"),
    ("signals:\n  a.b:\n    mqtt: { topic: a }\n    initial: 1", 4, "initial", "takes no `initial`"),
    ("signals:\n  a.b:\n    persist: true", 2, "a.b", "virtual signal 'a.b' needs `type:`"),
    ("signals:\n  a.b:", 2, "a.b", "virtual signal 'a.b' needs `type:`"),
    ("signals:\n  a.b: { type: bool, initial: maybe }", 2, "maybe", "`initial` of a bool signal expects true or false"),
    ("signals:\n  a.b: { type: bool, persist: 1 }", 2, "1 }", "`persist` expects true or false"),
    ("signals:\n  a.b: { type: string, initial: [x] }", 2, "[x]", "`initial` of a string signal expects a text"),
    ("signals:\n  a.b: { type: number, initial: '3' }", 2, "3", "`initial` of a number signal expects a number"),
    ("signals:\n  a.b: { type: integer }", 2, "integer", "`type` expects one of 'bool', 'number', 'string', 'json'"),
    ("mqtt: { url: 'mqtt://user@host' }", 1, "mqtt://", "use `username:` and `password_file:`"),
    ("mqtt: { url: 'mqtt://host:99999' }", 1, "mqtt://", "expects a port from 1 to 65535"),
    ("mqtt: { url: 'mqtt://host/path' }", 1, "mqtt://", "no path"),
    ("mqtt: { url: 'mqtt://' }", 1, "mqtt://", "needs a host"),
    ("mqtt: { url: broker:1883 }", 1, "broker", "expects mqtt://host[:port]"),
    ("mqtt: { url: 'mqtt://host:+80' }", 1, "mqtt://", "expects a port from 1 to 65535"),
    ("mqtt: { url: 'mqtt://::1' }", 1, "mqtt://", "IPv6 addresses go in brackets"),
    ("signals:\n  a.b:\n    topic: a/b", 3, "topic", "`topic` belongs under `mqtt:`"),
    ("mqtt: { qos: 1 }", 1, "mqtt", "`mqtt` needs `url:`"),
    ("mqtt: { url: 'mqtt://h', qos: one }", 1, "one", "`qos` expects a whole number from 0 to 1"),
    ("mqtt: { url: 'mqtt://h', keepalive: 2s }", 1, "2s", "`keepalive` expects whole seconds from 5s"),
    ("mqtt: { url: 'mqtt://h', outbox: -5 }", 1, "-5", "`outbox` expects a whole number from 0"),
    ("mqtt: { url: 'mqtt://h', commands: maybe }", 1, "maybe", "`commands` expects true or false"),
    ("mqtt: { url: 'mqtt://h', prefix: ganglion/#/x }", 1, "ganglion", "must not hold the wildcards"),
    ("mqtt: { url: 'mqtt://h', password_file: /p }", 1, "password_file", "`password_file` needs `username:`"),
    ("mqtt: { url: 'mqtts://h', cert_file: /c }", 1, "cert_file", "`cert_file` needs `key_file` too"),
    ("mqtt: { url: 'mqtt://h', client_id: a/b }", 1, "a/b", "`client_id` expects a name without"),
    ("mqtt: { url: 'mqtt://h', publish: { state: no } }", 1, "no", "`state` expects true or false"),
    ("mqtt: { url: 'mqtt://h', publish: false }", 1, "false", "`publish` expects a mapping like { events: true"),
    ("log: { max_size: lots }", 1, "lots", "`max_size` expects a size like 64MiB"),
    ("log: { segment_size: 0 }", 1, "0 }", "`segment_size` expects a size like 64MiB, 512KiB or 1GiB (more than 0)"),
    ("log: { max_size: 1MiB }", 1, "1MiB", "`segment_size` (4194304 bytes) must not exceed `max_size`"),
    ("log: { sync: 0s }", 1, "0s", "use `always`"),
    ("http: { listen: 'host:0' }", 1, "host:0", "`listen` expects a port from 1 to 65535"),
    ("http: { port: 80 }", 1, "port", "unknown key 'port' in `http`; expected one of: listen"),
    ("hardware: ~", 1, "~", "`hardware` expects the path of a board profile; found nothing"),
    ("rules: [rules/, '']", 1, "']", "an entry of `rules` expects a folder or file path; found an empty text"),
  ])
  func badValueIsReportedAtItsPlace(snippet: String, line: Int, token: String, fragment: String) throws {
    let snippetLine = snippet.split(separator: "\n", omittingEmptySubsequences: false)[line - 1]
    let tokenStart = try #require(snippetLine.firstRange(of: token)?.lowerBound)
    let column = snippetLine.unicodeScalars.distance(from: snippetLine.startIndex, to: tokenStart) + 1
    let (_, diagnostics) = decodeConfig("device: d\n" + snippet + "\n")
    #expect(diagnostics.map(\.position) == ["\(line + 1):\(column)"], "\(diagnostics)")
    #expect(diagnostics.first?.message.contains(fragment) == true, "\(diagnostics)")
  }
}

@Suite struct ConfigReloadComparisonTests {
  @Test func movedSignalKeepsItsSettingsButAChangedOneDoesNot() throws {
    let before = try #require(
      decodeConfig("device: d\nsignals:\n  a.b: { gpio: { pin: GPIO4, debounce: 10ms } }\n").0)
    let moved = try #require(
      decodeConfig("device: d\n\nsignals:\n\n  a.b:\n    gpio: { pin: GPIO4, debounce: 10ms }\n").0)
    let changed = try #require(
      decodeConfig("device: d\nsignals:\n  a.b: { gpio: { pin: GPIO4, debounce: 20ms } }\n").0)
    #expect(before.signals[0] != moved.signals[0])
    #expect(before.signals[0].hasSameSettings(as: moved.signals[0]))
    #expect(!before.signals[0].hasSameSettings(as: changed.signals[0]))
  }
}

@Suite struct ConfigPinResolutionTests {
  let profileText = """
    board: Test board
    pins:
      GPIO17: { chip: gpiochip0, line: 17, header: 11 }
      GPIO27: { chip: gpiochip0, line: 27, header: 13 }
    """

  @Test func pinsResolveToChipAndLine() throws {
    let (profile, profileDiagnostics) = HardwareProfile.decode(text: profileText, file: "board.yaml")
    #expect(profileDiagnostics.isEmpty)
    var config = try #require(
      decodeConfig(
        """
        device: d
        signals:
          a.motion: { gpio: { pin: GPIO17 } }
          a.light: { gpio: { pin: GPIO27, output: true } }
          a.door: { gpio: { chip: gpiochip0, line: 22 } }
        """
      ).0)
    #expect(config.resolvePins(with: profile).isEmpty)
    let lines = config.signals.compactMap { signal -> GPIOLineRef? in
      if case .gpio(let gpio) = signal.source { gpio.line } else { nil }
    }
    #expect(
      lines == [
        .chipLine(chip: "gpiochip0", line: .offset(17)), .chipLine(chip: "gpiochip0", line: .offset(27)),
        .chipLine(chip: "gpiochip0", line: .offset(22)),
      ])
  }

  @Test func unknownPinSuggestsTheNearOne() throws {
    let profile = try #require(HardwareProfile.decode(text: profileText, file: "board.yaml").0)
    var config = try #require(decodeConfig("device: d\nsignals:\n  a.b: { gpio: { pin: GPIO71 } }\n").0)
    let diagnostics = config.resolvePins(with: profile)
    #expect(
      diagnostics.map(\.description) == [
        "ganglion.yaml:3:23: error: unknown pin 'GPIO71' on Test board (profile board.yaml); did you mean 'GPIO17'?"
      ])
    guard case .gpio(let gpio) = config.signals[0].source, case .pin = gpio.line else {
      Issue.record("an unresolved pin should stay a pin")
      return
    }
  }

  @Test func pinWithoutProfileNeedsHardware() throws {
    var config = try #require(decodeConfig("device: d\nsignals:\n  a.b: { gpio: { pin: GPIO17 } }\n").0)
    let diagnostics = config.resolvePins(with: nil)
    #expect(diagnostics.map(\.position) == ["3:23"])
    #expect(diagnostics.first?.message.contains("needs a `hardware:` profile") == true)

    var named = try #require(
      decodeConfig("device: d\nhardware: board.yaml\nsignals:\n  a.b: { gpio: { pin: GPIO17 } }\n").0)
    let unloaded = named.resolvePins(with: nil)
    #expect(unloaded.map(\.position) == ["4:23"])
    #expect(unloaded.first?.message.contains("the hardware profile 'board.yaml' did not load") == true)
  }

  @Test func twoSignalsOnOneChipLineIsAnErrorAtTheSecond() throws {
    let profile = try #require(HardwareProfile.decode(text: profileText, file: "board.yaml").0)
    var config = try #require(
      decodeConfig(
        """
        device: d
        signals:
          a.motion: { gpio: { pin: GPIO17 } }
          a.other: { gpio: { chip: /dev/gpiochip0, line: 17 } }
          a.named: { gpio: { chip: gpiochip1, line: BUTTON } }
          a.again: { gpio: { chip: gpiochip1, line: BUTTON } }
        """
      ).0)
    let diagnostics = config.resolvePins(with: profile)
    #expect(diagnostics.map(\.position) == ["4:50", "6:45"])
    #expect(diagnostics[0].message.contains("signal 'a.other'"))
    #expect(diagnostics[0].message.contains("which signal 'a.motion' already claims (ganglion.yaml:3:28)"))
    #expect(diagnostics[1].message.contains("which signal 'a.named' already claims (ganglion.yaml:5:45)"))
  }
}

@Suite struct HardwareProfileTests {
  @Test func mistakesInAProfileAreReportedAtTheirPlace() {
    let text = """
      board: Broken
      pins:
        GPIO1: { chip: gpiochip0, line: 1, headr: 3 }
        GPIO2: { chip: gpiochip0 }
        GPIO3: { chip: gpiochip0, line: 1 }
        GPIO4: [gpiochip0, 4]
      """
    let (profile, diagnostics) = HardwareProfile.decode(text: text, file: "p.yaml")
    #expect(profile == nil)
    #expect(diagnostics.map(\.position) == ["3:38", "4:3", "5:3", "6:10"])
    #expect(diagnostics[0].message.contains("did you mean 'header'?"))
    #expect(diagnostics[1].message.contains("needs `line:`"))
    #expect(diagnostics[2].message.contains("which pin 'GPIO1' already names"))
    #expect(diagnostics[3].message.contains("expects a mapping like { chip: gpiochip0, line: 17, header: 11 }"))
  }

  /// Every profile in Hardware/ decodes cleanly; a config there (one with `device:`)
  /// decodes and its pins resolve against the profile it names.
  @Test func everyFileInHardwareDecodes() throws {
    let folder = repositoryRoot() + "/Hardware"
    let files = folderEntries(folder).filter { $0.hasSuffix(".yaml") }
    #expect(files.contains("simulated.yaml"))
    for name in files {
      let text = try #require(readTextFile(folder + "/" + name), "cannot read \(name)")
      if text.split(separator: "\n").contains(where: { $0.hasPrefix("device:") }) {
        let (decoded, diagnostics) = ConfigDecoder.decode(text: text, file: name)
        #expect(diagnostics.isEmpty, "\(name): \(diagnostics)")
        guard var config = decoded else { continue }
        var profile: HardwareProfile?
        if let hardware = config.hardware {
          // A built-in profile by name, or a path.
          let profileText = try #require(
            HardwareProfile.builtInTexts[hardware.value] ?? readTextFile(folder + "/" + hardware.value),
            "\(name): cannot read \(hardware.value)")
          profile = HardwareProfile.decode(text: profileText, file: hardware.value).0
        }
        #expect(config.resolvePins(with: profile).isEmpty, "\(name)")
      } else {
        let (profile, diagnostics) = HardwareProfile.decode(text: text, file: name)
        #expect(diagnostics.isEmpty, "\(name): \(diagnostics)")
        #expect(profile?.pins.isEmpty == false, "\(name)")
      }
    }
  }

  /// The Pi profiles and the simulator name the same header pins the same way, so a
  /// config moves between them unchanged.
  @Test(arguments: ["raspberry-pi-5.yaml", "raspberry-pi-4.yaml", "raspberry-pi-zero-2w.yaml"])
  func piProfilesShareTheHeaderMap(file: String) throws {
    let folder = repositoryRoot() + "/Hardware/"
    let simulatedText = try #require(readTextFile(folder + "simulated.yaml"))
    let simulated = try #require(HardwareProfile.decode(text: simulatedText, file: "simulated.yaml").0)
    let text = try #require(readTextFile(folder + file))
    let profile = try #require(HardwareProfile.decode(text: text, file: file).0)
    #expect(profile.board.hasPrefix("Raspberry Pi"))
    #expect(profile.pinNamesByLine == simulated.pinNamesByLine)
    for (name, pin) in profile.pins {
      #expect(pin.line == simulated.pins[name]?.line && pin.header == simulated.pins[name]?.header, "\(name)")
    }
    // The Pi 5's chip changed number across kernels: its profile names it by label.
    #expect(profile.lineCounts == [file == "raspberry-pi-5.yaml" ? "pinctrl-rp1" : "gpiochip0": 28])
  }

  @Test func simulatedBoardMirrorsThePiHeader() throws {
    let text = try #require(readTextFile(repositoryRoot() + "/Hardware/simulated.yaml"))
    let profile = try #require(HardwareProfile.decode(text: text, file: "simulated.yaml").0)
    #expect(profile.board == "Simulated board")
    #expect(profile.pins.count == 28)
    for line in 0..<28 {
      let pin = profile.pins["GPIO\(line)"]
      #expect(pin?.chip == "gpiochip0" && pin?.line == line, "GPIO\(line)")
    }
    #expect(profile.pins["GPIO17"]?.header == 11)
    #expect(profile.pins["GPIO27"]?.header == 13)
    #expect(Set(profile.pins.values.compactMap(\.header)).count == 28)
    #expect(profile.lineCounts == ["gpiochip0": 28])
    #expect(profile.pinNamesByLine == (0..<28).map { "GPIO\($0)" })
  }
}
