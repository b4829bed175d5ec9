import GanglionCore
import GanglionMQTT
import Logging

/// Inbound MQTT on the pipeline: messages become readings or dead letters (`InboundMQTT`
/// decides which), and the connection's state reaches the status page and the broker.
extension Pipeline {
  /// The topic filters the MQTT client subscribes to.
  var mqttFilters: [String] { inbound.filters }

  func attach(publisher: any MessagePublisher) { delivery?.attach(publisher) }

  func handle(_ message: MQTTMessage) {
    for outcome in inbound.interpret(message, at: clock.now()) {
      switch outcome {
      case .reading(let reading): ingest(reading)
      case .rejected(let rejection): deadLetter(rejection)
      case .ignored: status.update { $0.counters.ignoredMessages += 1 }
      }
    }
  }

  /// Records a rejected message (it goes to `<prefix>/dead_letter` like every event) unless
  /// its topic is flooding (`DeadLetterGate`: then it is only counted), and says so in the
  /// daemon's log at most every 10 s, with a count of what was held back.
  private func deadLetter(_ rejection: InboundMQTT.Rejection) {
    let now = monotonic.nowMicroseconds()
    let (recorded, heldBack) = deadLetterGate.admit(topic: rejection.message.topic, now: now)
    if recorded {
      var event = Event(time: clock.now(), rejected: rejection, heldBack: heldBack)
      record(&event)
      announce([event])
    } else {
      status.update {
        $0.counters.deadLetters += 1
        $0.counters.deadLetterRecordsSuppressed += 1
      }
    }
    let (admitted, heldBackLines) = deadLetterLines.admit(now: now)
    guard admitted else { return }
    let held = heldBackLines > 0 ? " (\(heldBackLines) more since the last report)" : ""
    logger.warning("dead letter on \(rejection.message.topic): \(rejection.reason)\(held)")
  }

  func handle(_ state: MQTTConnectionState) {
    switch state {
    case .connected:
      status.update {
        $0.mqttConnected = true
        $0.mqttLastError = nil
      }
      logger.notice("connected to the MQTT broker")
      delivery?.connected(
        currentValues: status.snapshot.signals.mapValues(\.value), signals: config.catalog.names)
    case .disconnected(let reason):
      let before = status.snapshot
      status.update {
        $0.mqttConnected = false
        $0.mqttLastError = reason
      }
      if before.mqttConnected {
        logger.warning("lost the MQTT broker: \(reason); reconnecting")
      } else if before.mqttLastError != reason {
        // A broker that refuses us (TLS, credentials) or is not there: say so once per reason,
        // not once per retry.
        logger.warning("cannot connect to the MQTT broker \(before.mqttURL ?? ""): \(reason); retrying with backoff")
      }
    case .connecting:
      break
    }
  }
}
