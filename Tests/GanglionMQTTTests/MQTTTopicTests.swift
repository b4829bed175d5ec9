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
