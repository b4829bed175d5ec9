/// MQTT topic names and filters (MQTT 3.1.1 section 4.7), in pure Swift.
public enum MQTTTopic {
  /// True if `topic` (a concrete topic name) matches `filter`, where `+` matches exactly one
  /// level and a final `#` matches the parent level and any number of levels below it.
  ///
  /// As brokers do, filters starting with a wildcard don't match topics starting with `$`
  /// (`#` does not match `$SYS/...`). An invalid filter (`a/b#`, `a/#/b`, `a+`) or a topic
  /// containing wildcards matches nothing.
  public static func matches(filter: String, topic: String) -> Bool {
    guard isValidFilter(filter), isValidTopicName(topic) else { return false }
    let filterLevels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    let topicLevels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    if topic.utf8.first == UInt8(ascii: "$"), let first = filterLevels.first,
      first.elementsEqual("+".utf8) || first.elementsEqual("#".utf8)
    {
      return false
    }
    var index = 0
    while index < filterLevels.count {
      let level = filterLevels[index]
      if level.elementsEqual("#".utf8) { return true }
      guard index < topicLevels.count else { return false }
      if !level.elementsEqual("+".utf8), !level.elementsEqual(topicLevels[index]) { return false }
      index += 1
    }
    return index == topicLevels.count
  }

  /// A filter is valid if it is non-empty, `#` appears only as the whole last level and `+`
  /// only as a whole level.
  public static func isValidFilter(_ filter: String) -> Bool {
    guard !filter.isEmpty, !filter.utf8.contains(0) else { return false }
    let levels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    for (index, level) in levels.enumerated() {
      let hasHash = level.contains(UInt8(ascii: "#"))
      let hasPlus = level.contains(UInt8(ascii: "+"))
      if hasHash, !(level.count == 1 && index == levels.count - 1) { return false }
      if hasPlus, level.count != 1 { return false }
    }
    return true
  }

  /// A topic name (what one publishes to) is valid if it is non-empty and has no wildcards.
  public static func isValidTopicName(_ topic: String) -> Bool {
    !topic.isEmpty
      && !topic.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 == 0 }
  }

  /// True if `filter` contains `+` or `#`.
  public static func hasWildcards(_ filter: String) -> Bool {
    filter.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
  }
}
