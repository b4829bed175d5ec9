import GanglionCore
import GanglionRules
import GanglionSystem

/// A configuration with everything it names read and checked: the hardware profile, the
/// rule files, compiled rules, and where the log lives.
public struct LoadedConfiguration: Sendable {
  public var config: Config
  public var configPath: String
  public var profile: HardwareProfile?
  public var ruleSources: [RuleSource]
  public var rules: RuleSet
  /// The log folder: `log.dir` (relative to the config's folder), else
  /// `$STATE_DIRECTORY/log`, else `./ganglion-state/log`.
  public var logDirectory: String
  /// The HTTP API's bearer token, from `http.token_file`; nil without one.
  public var apiToken: String?
  /// The zone the config's `timezone:` names, read from the system's zoneinfo; nil when the
  /// config names none (the daemon then follows the system's zone, rule tests UTC).
  public var timeZone: DeviceTimeZone?
}

/// Reads a configuration and what it names from disk and checks all of it, collecting
/// every diagnostic instead of stopping at the first. Blocking file reads (of regular files
/// only, opened without waiting): call it at start-up, from the reload thread and from the
/// CLI, never from the pipeline's thread or the cooperative pool.
public enum ConfigurationLoader {
  /// The log folder when no config names one.
  public static func defaultLogDirectory() -> String {
    if let state = CurrentProcess.environment("STATE_DIRECTORY") {
      // systemd may pass several folders separated by ':'; the first is ours.
      return String(state.split(separator: ":").first ?? "") + "/log"
    }
    return "ganglion-state/log"
  }

  /// Loads `configPath`; `rulePaths`, when given, replace the config's `rules:`.
  /// - Returns: the loaded configuration if there were no errors, and all diagnostics.
  public static func load(configPath: String, rulePaths: [String]? = nil) -> (
    LoadedConfiguration?, [Diagnostic]
  ) {
    var diagnostics = DiagnosticCollector()
    let text: String
    do {
      text = try FileSystem.readText(configPath, limit: maximumFileBytes)
    } catch {
      diagnostics.error("cannot read the configuration: \(error)", at: nil)
      return (nil, diagnostics.diagnostics)
    }
    let (decoded, decodeDiagnostics) = ConfigDecoder.decode(text: text, file: configPath)
    diagnostics.append(contentsOf: decodeDiagnostics)
    guard var config = decoded else { return (nil, diagnostics.diagnostics) }
    let base = FileSystem.directory(of: configPath)

    var profile: HardwareProfile?
    var profileFailed = false
    if let hardware = config.hardware {
      (profile, profileFailed) = loadProfile(hardware, base: base, diagnostics: &diagnostics)
    }
    // A profile that did not load is one error, not one more per `pin:` that needed it.
    if !profileFailed { diagnostics.append(contentsOf: config.resolvePins(with: profile)) }

    var timeZone: DeviceTimeZone?
    if let timezone = config.timezone {
      do {
        timeZone = try TimeZoneFiles.zone(named: timezone.value)
      } catch {
        diagnostics.error(error.description, at: timezone.location)
      }
    }

    let sources: [RuleSource]
    if let rulePaths {
      sources = readRules(rulePaths.map { ($0, nil) }, excluding: configPath, diagnostics: &diagnostics)
    } else {
      sources = readRules(of: config, configPath: configPath, diagnostics: &diagnostics)
    }
    let (rules, ruleDiagnostics) = RuleCompiler.compile(
      sources, signals: config.catalog, ownCommands: ownCommandTopics(of: config))
    diagnostics.append(contentsOf: ruleDiagnostics)

    let logDirectory = config.log.dir.map { FileSystem.resolve($0, relativeTo: base) } ?? defaultLogDirectory()
    let apiToken = config.http?.tokenFile.flatMap { readToken($0, base: base, diagnostics: &diagnostics) }
    if let mqtt = config.mqtt { checkMQTTFiles(mqtt, base: base, diagnostics: &diagnostics) }
    guard !diagnostics.hasErrors, let rules else { return (nil, diagnostics.diagnostics) }
    return (
      LoadedConfiguration(
        config: config, configPath: configPath, profile: profile, ruleSources: sources, rules: rules,
        logDirectory: logDirectory, apiToken: apiToken, timeZone: timeZone),
      diagnostics.diagnostics
    )
  }

  /// `hardware:`: a built-in board profile by name (`raspberry-pi-5`: Hardware/*.yaml, carried
  /// in the binary), or a path to a profile file (a value with a `/` or ending in `.yaml`,
  /// relative to the config's folder).
  /// - Returns: the profile, or nil and `failed` after reporting why (one error).
  static func loadProfile(
    _ hardware: Located<String>, base: String, diagnostics: inout DiagnosticCollector
  ) -> (profile: HardwareProfile?, failed: Bool) {
    let value = hardware.value
    let text: String
    let file: String
    if value.contains("/") || value.hasSuffix(".yaml") || value.hasSuffix(".yml") {
      file = FileSystem.resolve(value, relativeTo: base)
      do {
        text = try FileSystem.readText(file, limit: maximumFileBytes)
      } catch {
        diagnostics.error("cannot read the hardware profile: \(error)", at: hardware.location)
        return (nil, true)
      }
    } else if let builtIn = HardwareProfile.builtInTexts[value] {
      file = "\(value) (built in)"
      text = builtIn
    } else {
      let names = HardwareProfile.builtInTexts.keys.sorted()
      var message = "unknown board profile '\(value)'"
      if let near = Spelling.nearest(to: value, in: names) { message += "; did you mean '\(near)'?" }
      message += " (built in: \(names.joined(separator: ", ")); a path to a profile file has a '/' or ends in .yaml)"
      diagnostics.error(message, at: hardware.location)
      return (nil, true)
    }
    let (profile, profileDiagnostics) = HardwareProfile.decode(text: text, file: file)
    diagnostics.append(contentsOf: profileDiagnostics)
    return (profile, profile == nil)
  }

  /// The daemon's own command topics, when `mqtt.commands` is on (for the rule check's warning).
  public static func ownCommandTopics(of config: Config) -> OwnCommandTopics? {
    guard let mqtt = config.mqtt, mqtt.commands else { return nil }
    return OwnCommandTopics(device: config.device, prefix: mqtt.prefix)
  }

  /// The CA file libmosquitto verifies the broker with when `mqtts://` names none.
  public static let defaultCAFile = "/etc/ssl/certs/ca-certificates.crt"

  /// The files the MQTT client reads at start (`password_file`; with TLS the CA, certificate
  /// and key files) must be readable regular files: an error at each key that names one that
  /// is not, so that `check` fails rather than `run`.
  static func checkMQTTFiles(_ mqtt: MQTTConfig, base: String, diagnostics: inout DiagnosticCollector) {
    var files: [(key: String, path: String)] = []
    if let file = mqtt.passwordFile { files.append(("password_file", file)) }
    if mqtt.useTLS {
      files.append(("ca_file", mqtt.caFile ?? defaultCAFile))
      if let file = mqtt.certFile { files.append(("cert_file", file)) }
      if let file = mqtt.keyFile { files.append(("key_file", file)) }
    }
    for (key, file) in files {
      let path = FileSystem.resolve(file, relativeTo: base)
      do {
        _ = try FileSystem.readBytes(path, limit: 16 << 20)
      } catch {
        let given = mqtt.locations[key] != nil
        diagnostics.error(
          given
            ? "cannot read `\(key)`: \(error)"
            : "cannot read the default CA file for mqtts:// (give `ca_file`): \(error)",
          at: mqtt.locations[key] ?? mqtt.locations["url"])
      }
    }
  }

  /// The API token in `http.token_file` (surrounding white space dropped); an error at the
  /// key's value when it cannot be read or is empty.
  static func readToken(
    _ file: Located<String>, base: String, diagnostics: inout DiagnosticCollector
  ) -> String? {
    let path = FileSystem.resolve(file.value, relativeTo: base)
    do {
      let token = try FileSystem.readText(path, limit: 4096).trimmingASCIIWhitespace()
      guard !token.isEmpty else {
        diagnostics.error("`token_file` \(path) is empty; put the API token in it", at: file.location)
        return nil
      }
      return token
    } catch {
      diagnostics.error("cannot read `token_file`: \(error)", at: file.location)
      return nil
    }
  }

  /// Reads the rule files the config's `rules:` names (relative to the config's folder).
  public static func readRules(
    of config: Config, configPath: String, diagnostics: inout DiagnosticCollector
  ) -> [RuleSource] {
    let base = FileSystem.directory(of: configPath)
    return readRules(
      config.rules.map { (FileSystem.resolve($0.value, relativeTo: base), $0.location) }, excluding: configPath,
      diagnostics: &diagnostics)
  }

  /// Largest configuration, profile or rule file read at all (a bigger one is an error before
  /// it is read; the YAML parser refuses more than 1 MiB, at the file's location).
  public static let maximumFileBytes = 4 << 20
  /// Largest total of rule text one load reads.
  public static let maximumRuleBytes = 16 << 20

  /// `readRules(_:excluding:alreadyRead:diagnostics:)` for one set of paths.
  public static func readRules(
    _ paths: [(path: String, location: SourceLocation?)], excluding configPath: String? = nil,
    diagnostics: inout DiagnosticCollector
  ) -> [RuleSource] {
    var read: Set<FileSystem.Identity> = []
    return readRules(paths, excluding: configPath, alreadyRead: &read, diagnostics: &diagnostics)
  }

  /// Reads rule files: a folder gives every `*.yaml` in it that is not a `*.test.yaml`, and
  /// not the configuration file `excluding` when it sits beside its rules.
  ///
  /// Files are identified by what they are, not by how their path is spelled: a file named
  /// twice (a folder and a file in it, `rules/a.yaml` and `../x/rules/a.yaml`), or one in
  /// `alreadyRead`, is read once. `alreadyRead` gains every file read.
  ///
  /// Only regular files are read, without waiting (a FIFO named `x.yaml` is an error naming
  /// it), each up to `maximumFileBytes` and all together up to `maximumRuleBytes`.
  public static func readRules(
    _ paths: [(path: String, location: SourceLocation?)], excluding configPath: String? = nil,
    alreadyRead: inout Set<FileSystem.Identity>, diagnostics: inout DiagnosticCollector
  ) -> [RuleSource] {
    var sources: [RuleSource] = []
    var total = 0
    if let configPath, let identity = FileSystem.identity(of: configPath) { alreadyRead.insert(identity) }
    func read(_ file: String, at location: SourceLocation?) {
      if let identity = FileSystem.identity(of: file), !alreadyRead.insert(identity).inserted { return }
      do {
        let text = try FileSystem.readText(file, limit: maximumFileBytes)
        total += text.utf8.count
        guard total <= maximumRuleBytes else {
          diagnostics.error(
            "cannot read rules: \(file): the rule files hold more than \(maximumRuleBytes) bytes together",
            at: location)
          return
        }
        sources.append(RuleSource(file: file, text: text))
      } catch {
        diagnostics.error("cannot read rules: \(error)", at: location)
      }
    }
    for (path, location) in paths {
      switch FileSystem.kind(of: path) {
      case .directory:
        do {
          for name in try FileSystem.list(path) where isRuleFile(name) {
            read(FileSystem.normalize(path + "/" + name), at: location)
          }
        } catch {
          diagnostics.error("cannot read rules: \(error)", at: location)
        }
      case .file:
        read(path, at: location)
      case .other(let kind):
        diagnostics.error("rules path '\(path)' is \(kind), not a rule file or a folder", at: location)
      case .missing:
        diagnostics.error("rules path '\(path)' does not exist", at: location)
      }
    }
    return sources
  }

  /// Rule files in a folder: `*.yaml`, but not tests (`*.test.yaml`) or hidden files.
  static func isRuleFile(_ name: String) -> Bool {
    (name.hasSuffix(".yaml") || name.hasSuffix(".yml")) && !name.hasSuffix(".test.yaml")
      && !name.hasSuffix(".test.yml") && !name.hasPrefix(".")
  }
}
