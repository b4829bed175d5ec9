import GanglionCore
import GanglionMQTT
import GanglionSystem
import GanglionTestSupport
import Glibc
import Testing

@testable import GanglionDaemon

/// Issue 10 item 4: with the disk full, a burst lost most of its MQTT events without a count:
/// the outbox reads back from the log what it cannot keep in memory, and the events the log
/// could not write were skipped. Now they wait in a bounded memory queue instead, and every
/// event dropped anywhere is counted by reason.
@Suite struct DiskFullBurstTests {
  /// A tmpfs of `size` on a fresh folder, unmounted on deinit; nil without root.
  final class SmallDisk {
    let folder: TemporaryDirectory
    var path: String { folder.path("disk") }

    init?(size: String) throws {
      folder = try TemporaryDirectory(prefix: "ganglion-burst")
      guard mkdir(folder.path("disk"), 0o755) == 0, mount("tmpfs", folder.path("disk"), "tmpfs", 0, "size=\(size)") == 0
      else { return nil }
    }

    deinit { umount2(path, Int32(MNT_DETACH)) }

    /// Writes a file until the disk says it is full.
    func fill() {
      let fd = open(path + "/filler", O_WRONLY | O_CREAT, 0o644)
      defer { close(fd) }
      let block = [UInt8](repeating: 1, count: 4096)
      while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
  }

  @Test func eventsTheLogCouldNotWriteStillGoOutAndEveryDropIsCounted() throws {
    guard let disk = try SmallDisk(size: "256k") else {
      try Test.cancel("skipped: cannot mount a tmpfs here (errno \(errno)); run as root to test a full disk")
    }
    let h = try PipelineHarness(log: "{ dir: \(disk.path)/log, segment_size: 16KiB, max_size: 8MiB }")
    disk.fill()
    // A burst while the broker is connected but has acknowledged nothing yet.
    let burst = 3000
    for value in 1...burst { h.mqtt("sensors/hallway/lux", "\(value)") }
    #expect(h.pipeline.status.snapshot.logWriteFailure != nil, "the disk is full")
    // The broker catches up.
    for _ in 0..<10_000 where h.pipeline.delivery!.outbox.depth > 0 { h.acknowledgeAll() }

    let sent = h.publisher.messages(on: "ganglion/test-pi/events/hallway.lux").compactMap {
      (try? JSON.parse($0.text))?["value"]?.numberValue
    }
    #expect(sent.count == burst, "every event went out over MQTT, logged or not")
    #expect(sent == (1...burst).map(Double.init), "in order")
    let status = try JSON.parse(h.pipeline.status.statusJSON(now: h.clock.now()))
    let dropped = try #require(status["dropped"], "\(status)")
    #expect((dropped["log_write_failed"]?.numberValue ?? 0) > 0, "\(dropped)")
    for reason in ["outbox_full", "outbox_unlogged_overflow", "outbox_not_in_log", "input_queue_full"] {
      #expect(dropped[reason] == 0, "\(reason): \(dropped)")
    }
    let metrics = h.pipeline.status.metricsText()
    #expect(metrics.contains("ganglion_dropped_total{reason=\"log_write_failed\"}"), "\(metrics)")
  }

  /// Past the memory bound (`mqtt.outbox`) the oldest unlogged events are dropped, and counted.
  @Test func pastTheBoundUnloggedEventsAreDroppedAndCounted() throws {
    guard let disk = try SmallDisk(size: "256k") else {
      try Test.cancel("skipped: cannot mount a tmpfs here (errno \(errno)); run as root to test a full disk")
    }
    let h = try PipelineHarness(
      config: PipelineHarness.defaultConfig + "\n  outbox: 1000",
      log: "{ dir: \(disk.path)/log, segment_size: 16KiB, max_size: 8MiB }")
    disk.fill()
    let burst = 3000
    for value in 1...burst { h.mqtt("sensors/hallway/lux", "\(value)") }
    for _ in 0..<10_000 where h.pipeline.delivery!.outbox.depth > 0 { h.acknowledgeAll() }
    let sent = h.publisher.messages(on: "ganglion/test-pi/events/hallway.lux").count
    let status = try JSON.parse(h.pipeline.status.statusJSON(now: h.clock.now()))
    let overflow = try #require(status["dropped"]?["outbox_unlogged_overflow"]?.numberValue)
    #expect(overflow > 0)
    #expect(sent + Int(overflow) == burst, "sent \(sent) + dropped \(overflow) = every event")
  }
}
