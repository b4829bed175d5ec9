/// This build of Ganglion.
public enum GanglionVersion {
  /// The release version (`ganglion --version`, `/status`).
  public static let version = "0.9.0"
}
