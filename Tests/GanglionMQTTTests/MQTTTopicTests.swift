import GanglionMQTT
import Testing

@Suite struct MQTTTopicTests {
  @Test(arguments: [
    ("sensors/hallway/lux", "sensors/hallway/lux"),
    ("sensors/+/lux", "sensors/hallway/lux"),
    ("sensors/#", "sensors/hallway/lux"),
    ("sensors/#", "sensors"),
    ("#", "sensors/hallway/lux"),
    ("+/+/+", "sensors/hallway/lux"),
    ("sensors/+", "sensors/"),
    ("+", "x"),
    ("/+", "/finance"),
    ("$SYS/#", "$SYS/broker/uptime"),
    ("zigbee2mqtt/+/action", "zigbee2mqtt/doorbell/action"),
  ])
  func matches(filter: String, topic: String) {
    #expect(MQTTTopic.matches(filter: filter, topic: topic))
  }

  @Test(arguments: [
    ("sensors/hallway/lux", "sensors/hallway/lux2"),
    ("sensors/+/lux", "sensors/hallway/kitchen/lux"),
    ("sensors/+", "sensors"),
    ("sensors/+/lux", "sensors/lux"),
    ("sensors", "sensors/hallway"),
    ("+", "/finance"),
    ("#", "$SYS/broker/uptime"),
    ("+/broker/uptime", "$SYS/broker/uptime"),
    ("sensors/#", "other/sensors"),
    ("Sensors/#", "sensors/a"),
  ])
  func doesNotMatch(filter: String, topic: String) {
    #expect(!MQTTTopic.matches(filter: filter, topic: topic))
  }

  @Test(arguments: ["a/b#", "a/#/b", "a+", "a/+b/c", "", "##"])
  func invalidFiltersMatchNothing(filter: String) {
    #expect(!MQTTTopic.isValidFilter(filter))
    #expect(!MQTTTopic.matches(filter: filter, topic: "a/b"))
  }

  @Test func topicsWithWildcardsAreNotTopicNames() {
    #expect(!MQTTTopic.isValidTopicName("a/+"))
    #expect(!MQTTTopic.isValidTopicName(""))
    #expect(!MQTTTopic.matches(filter: "#", topic: "a/#"))
    #expect(MQTTTopic.hasWildcards("a/+/c") && !MQTTTopic.hasWildcards("a/b/c"))
  }
}

@Suite struct BrokerURLTests {
  @Test func parsesSchemesHostsAndPorts() throws {
    let plain = try #require(MQTTClientOptions.parseBrokerURL("mqtt://127.0.0.1:1883"))
    #expect(plain.host == "127.0.0.1" && plain.port == 1883 && !plain.usesTLS)
    let tls = try #require(MQTTClientOptions.parseBrokerURL("mqtts://broker.local"))
    #expect(tls.host == "broker.local" && tls.port == 8883 && tls.usesTLS)
    let defaultPort = try #require(MQTTClientOptions.parseBrokerURL("mqtt://broker/"))
    #expect(defaultPort.port == 1883)
    let ipv6 = try #require(MQTTClientOptions.parseBrokerURL("mqtt://[::1]:2883"))
    #expect(ipv6.host == "::1" && ipv6.port == 2883)
  }

  @Test(arguments: [
    "http://x", "mqtt://", "mqtt://:1883", "mqtt://h:0", "mqtt://h:70000", "mqtt://h:x", "mqtt://h:",
    "mqtt://u@h", "mqtt://h/path", "mqtt://a:1:2", "mqtt://[::1", "mqtt://[::1]x", "127.0.0.1:1883",
  ])
  func rejectsMalformedURLs(_ url: String) {
    #expect(MQTTClientOptions.parseBrokerURL(url) == nil)
  }
}
