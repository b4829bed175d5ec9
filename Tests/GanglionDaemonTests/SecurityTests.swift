import GanglionCore
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// config.md `mqtt`: TLS with a CA file, and a username with a password read from a file, as
/// the daemon is configured in production (paths relative to the config's folder).
@Suite struct SecurityTests {
  static func config(port: Int, caFile: String) -> String {
    """
    device: secure-pi
    signals:
      room.level:
        mqtt: { topic: sensors/level, type: number }
    mqtt:
      url: mqtts://127.0.0.1:\(port)
      username: hallway
      password_file: mqtt.pass
      ca_file: \(caFile)
    log:
      dir: log
    http:
      listen: 127.0.0.1:HTTP_PORT
    """
  }

  static func status(_ daemon: DaemonHarness) async throws -> Value {
    try await JSON.parse(HTTPGet.text(port: daemon.httpPort, path: "/status"))
  }

  @Test func connectsOverTLSWithAPasswordFileAndRefusesAnUnknownCA() async throws {
    let pki = try await TestPKI.make()
    let passwords = try TemporaryDirectory(prefix: "ganglion-passwd")
    let passwordFile = passwords.path("passwd")
    try await ChildProcess.run("mosquitto_passwd", ["-c", "-b", passwordFile, "hallway", "s3cret"])
    let broker = try await MosquittoBroker(extraConfiguration: [
      "cafile \(pki.caFile)", "certfile \(pki.serverCertFile)", "keyfile \(pki.serverKeyFile)",
      "allow_anonymous false", "password_file \(passwordFile)",
    ])

    let trusted = try await DaemonHarness(
      config: Self.config(port: broker.port, caFile: pki.caFile), files: ["mqtt.pass": "s3cret\n"])
    try await waitUntil("the daemon to connect over TLS", timeout: .seconds(20)) {
      try await Self.status(trusted)["mqtt"]?["connected"] == true
    }
    _ = await trusted.stop()

    let untrusted = try await DaemonHarness(
      config: Self.config(port: broker.port, caFile: pki.otherCAFile), files: ["mqtt.pass": "s3cret\n"])
    let reason = try await waitFor("a refused TLS handshake", timeout: .seconds(20)) { () -> String? in
      let mqtt = try await Self.status(untrusted)["mqtt"]
      #expect(mqtt?["connected"] == false)
      return mqtt?["last_error"]?.stringValue
    }
    #expect(reason.contains("TLS") || reason.lowercased().contains("certificate"), "\(reason)")
    #expect(untrusted.output.contains("cannot connect to the MQTT broker"), "\(untrusted.output)")
    _ = await untrusted.stop()

    let wrongPassword = try await DaemonHarness(
      config: Self.config(port: broker.port, caFile: pki.caFile), files: ["mqtt.pass": "guess\n"])
    let refusal = try await waitFor("a refused login", timeout: .seconds(20)) { () -> String? in
      try await Self.status(wrongPassword)["mqtt"]?["last_error"]?.stringValue
    }
    #expect(refusal.lowercased().contains("not authori"), "\(refusal)")
    _ = await wrongPassword.stop()
  }
}
