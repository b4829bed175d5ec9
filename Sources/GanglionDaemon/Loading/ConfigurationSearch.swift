import GanglionSystem

/// How every command finds its configuration (cli.md): `--config PATH`, else
/// `$GANGLION_CONFIG`, else `ganglion.yaml` in the current folder or the nearest folder above
/// it, else `/etc/ganglion/ganglion.yaml`.
public enum ConfigurationSearch {
  /// The file looked for in the current folder and the folders above it.
  public static let fileName = "ganglion.yaml"
  /// The last place looked.
  public static let systemPath = "/etc/ganglion/ganglion.yaml"

  /// No configuration anywhere the rule looks.
  public struct NotFound: Error, Sendable, CustomStringConvertible {
    /// Every path looked at, in order.
    public var tried: [String]

    public var description: String {
      "no configuration found: no --config, $GANGLION_CONFIG is not set, and none of these exists: "
        + tried.joined(separator: ", ")
    }
  }

  /// The configuration path by the rule above. `option` and `environment` are taken as they
  /// are, whether the file exists or not (reading it then says what is wrong). The search
  /// looks in each of `folders` and the folders above it, in order; `ganglion test` passes a
  /// test file's folder before the current one, every other command the current folder
  /// alone. A path found by the search is given relative to the current folder when the
  /// folder it started from was (`ganglion.yaml`, `../ganglion.yaml`), so messages about the
  /// file stay short.
  /// - Parameters:
  ///   - environment: the value of `$GANGLION_CONFIG` (nil or empty: not set).
  ///   - folders: where the search starts, relative to `workingDirectory` or absolute.
  ///   - workingDirectory: the absolute path of the current folder; nil: relative folders are
  ///     not searched.
  ///   - isFile: whether a path names a regular file (the file system; injectable for tests).
  public static func locate(
    option: String?, environment: String? = CurrentProcess.environment("GANGLION_CONFIG"),
    from folders: [String] = ["."], workingDirectory: String? = CurrentProcess.workingDirectory,
    isFile: (String) -> Bool = { FileSystem.kind(of: $0) == .file }
  ) -> Result<String, NotFound> {
    if let option { return .success(option) }
    if let environment, !environment.isEmpty { return .success(environment) }
    var tried: [String] = []
    for start in folders {
      let absolute = start.hasPrefix("/") ? start : workingDirectory.map { $0 + "/" + start }
      guard var folder = absolute.map(FileSystem.normalize), folder.hasPrefix("/") else { continue }
      var up = ""
      while true {
        let candidate = folder == "/" ? "/" + fileName : folder + "/" + fileName
        if !tried.contains(candidate) {
          tried.append(candidate)
          if isFile(candidate) { return .success(FileSystem.normalize(start + "/" + up + fileName)) }
        }
        if folder == "/" { break }
        folder = FileSystem.directory(of: folder)
        up += "../"
      }
    }
    tried.append(systemPath)
    if isFile(systemPath) { return .success(systemPath) }
    return .failure(NotFound(tried: tried))
  }
}
