import GanglionCore

/// How the log is sized and synced.
public struct LogOptions: Sendable, Equatable {
  /// The ring's bound: the oldest whole segments are deleted so that the folder's segments
  /// stay within it. At least `segmentSize`.
  public var maxSize: Int64
  /// A segment file is closed and a new one started when the next record would make it
  /// larger (a single larger record gets a segment of its own). At least 256 bytes.
  public var segmentSize: Int64
  public var sync: LogSync
  /// After a failed write (disk full, read-only, I/O error), records are dropped and no write
  /// is tried again until this long has passed.
  public var retryInterval: Duration

  public init(
    maxSize: Int64 = 64 << 20, segmentSize: Int64 = 4 << 20, sync: LogSync = .interval(.seconds(1)),
    retryInterval: Duration = .seconds(1)
  ) {
    self.maxSize = maxSize
    self.segmentSize = segmentSize
    self.sync = sync
    self.retryInterval = retryInterval
  }

  func validate(directory: String) throws(LogError) {
    var problems: [String] = []
    if segmentSize < 256 { problems.append("segment_size must be at least 256 bytes") }
    if maxSize < segmentSize { problems.append("max_size must be at least segment_size") }
    if case .interval(let d) = sync, d <= .zero { problems.append("the sync interval must be positive") }
    if retryInterval < .zero { problems.append("retryInterval must not be negative") }
    if !problems.isEmpty {
      throw LogError(
        code: .invalidOptions, operation: "open", path: directory, detail: problems.joined(separator: "; "))
    }
  }
}

/// What `EventLog.open` found and repaired.
public struct RecoveryReport: Sendable, Equatable {
  /// Where a torn or corrupt tail was cut off.
  public struct Cut: Sendable, Equatable {
    /// The segment file name.
    public var segment: String
    /// The first byte removed (0 when the whole file went).
    public var offset: Int64
    public var bytes: Int64
    public var reason: String
  }

  /// Segment files present when the log was opened.
  public var segmentsFound: Int
  /// Total bytes removed by recovery (the sum of `cuts`).
  public var bytesCut: Int64 { cuts.reduce(0) { $0 + $1.bytes } }
  public var cuts: [Cut]
  /// The seq of the last intact record, nil if the log holds none.
  public var lastSeq: UInt64?
  /// What the first append of this writer gets. Greater than every seq a writer has handed
  /// out before (gaps after a crash are normal).
  public var nextSeq: UInt64
  /// Older segments whose header is unreadable; left in place, readers skip them.
  public var damagedSegments: [String]
  /// Set when `seq.meta` was unreadable (seqs then continue from the segments alone).
  public var metaProblem: String?
  /// Corrupt stretches inside segments that readers skip (the records after them are kept),
  /// found by reading every segment at open.
  public var skipped: [SkippedBytes] = []
}
