import GanglionCore
import Glibc

/// The repository root, found from this file's path (Tests/GanglionCoreTests/...).
func repositoryRoot(file: String = #filePath) -> String {
  var parts = file.split(separator: "/", omittingEmptySubsequences: false)
  parts.removeLast(3)
  return parts.joined(separator: "/")
}

/// The whole file as UTF-8 text, or nil if it cannot be read.
func readTextFile(_ path: String) -> String? {
  guard let handle = fopen(path, "rb") else { return nil }
  defer { fclose(handle) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = fread(&buffer, 1, buffer.count, handle)
    if count > 0 { bytes.append(contentsOf: buffer[0..<count]) }
    if count < buffer.count { break }
  }
  guard ferror(handle) == 0 else { return nil }
  return String(decoding: bytes, as: UTF8.self)
}

/// Names of the entries in a folder (without `.` and `..`), sorted.
func folderEntries(_ path: String) -> [String] {
  guard let dir = opendir(path) else { return [] }
  defer { closedir(dir) }
  var names: [String] = []
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    if name != ".", name != ".." { names.append(name) }
  }
  return names.sorted()
}

/// Decodes config text and returns the config, or records the diagnostics as a failure.
func decodeConfig(_ text: String, file: String = "ganglion.yaml") -> (Config?, [Diagnostic]) {
  let result = ConfigDecoder.decode(text: text, file: file)
  return (result.config, result.diagnostics)
}

extension Diagnostic {
  /// `line:column` of the diagnostic, for compact expectations.
  var position: String {
    guard let location else { return "-" }
    return "\(location.line):\(location.column)"
  }
}
