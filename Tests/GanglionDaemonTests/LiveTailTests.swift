import GanglionCore
import GanglionSystem
import GanglionTestSupport
import Testing

@testable import GanglionDaemon

/// config.md `http`: `GET /events` streams every event as a JSON line while it happens.
@Suite struct LiveTailTests {
  @Test func eventsEndpointStreamsEachEventAsAJSONLine() async throws {
    let daemon = try await DaemonHarness(
      config: hallwayConfig(device: "tail-pi"),
      files: [
        "rules.yaml": """
        rules:
          - name: light-on
            when: hallway.motion
            do:
              - set: { hallway.light: on }
        """
      ])
    let port = daemon.httpPort
    let socket = try await offThePool { try Socket.connect(host: "127.0.0.1", port: port, timeoutSeconds: 20) }
    try await offThePool {
      try socket.write(Array("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
    }
    // The subscription exists once the response head has arrived.
    let head = try await offThePool { try socket.read(maximum: 65536) }
    #expect(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
    #expect(try await daemon.cli(["inject", "hallway.motion", "on"]).code == 0)

    // Read until the light's event has streamed (the socket times out after 20 s).
    let text = try await offThePool { () throws -> String in
      var bytes = head
      while !String(decoding: bytes, as: UTF8.self).contains("\"signal\":\"hallway.light\",\"value\":true") {
        let chunk = try socket.read(maximum: 65536)
        if chunk.isEmpty { break }
        bytes += chunk
      }
      return String(decoding: bytes, as: UTF8.self)
    }
    // The body after the head; "\r\n" is one Character in Swift, so split the body only.
    let body = text.split(separator: "\r\n\r\n", maxSplits: 1).last ?? ""
    let lines = body.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    let motion = try #require(lines.first { $0["signal"] == "hallway.motion" && $0["value"] == true }, "\(text)")
    let fired = try #require(lines.first { $0["kind"] == "fired" })
    let light = try #require(lines.first { $0["signal"] == "hallway.light" && $0["value"] == true })
    #expect(motion["id"]?.stringValue?.hasPrefix("tail-pi:") == true)
    #expect(fired["cause"] == motion["seq"])
    #expect(light["cause"] == motion["seq"])
    // In seq order, as they happened.
    let seqs = lines.compactMap { $0["seq"]?.numberValue }
    #expect(seqs == seqs.sorted())
    socket.shutdownBoth()
    #expect(await daemon.stop() == .exited(code: 0))
  }
}
