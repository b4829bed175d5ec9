import GanglionSystem
import Testing

/// The module rules of the README's "Developing" section, checked on the source tree: only the
/// system layer and the C funnel files talk to the C library directly, and the pure modules
/// stay free of I/O libraries.
@Suite struct SourceLayoutTests {
  static let root = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")

  /// Every Swift file under `folder`, relative to the repository root.
  static func swiftFiles(under folder: String) -> [String] {
    var found: [String] = []
    func walk(_ relative: String) {
      for entry in (try? FileSystem.entries(root + "/" + relative)) ?? [] {
        let path = relative + "/" + entry.name
        if entry.isDirectory {
          walk(path)
        } else if entry.name.hasSuffix(".swift") {
          found.append(path)
        }
      }
    }
    walk(folder)
    return found.sorted()
  }

  static func imports(_ file: String) -> [String] {
    let text = (try? FileSystem.readText(root + "/" + file)) ?? ""
    return text.split(separator: "\n").compactMap { line in
      let trimmed = line.trimmingPrefix(while: { $0 == " " })
      guard trimmed.hasPrefix("import ") else { return nil }
      return String(trimmed.dropFirst(7).prefix { $0 != " " })
    }
  }

  /// The C funnel files: the one file per C library that calls it (and reads errno there).
  static let funnels: Set<String> = [
    "Sources/GanglionMQTT/Mosquitto+C.swift", "Sources/GanglionGPIO/LibGPIOD1.swift", "Sources/GanglionGPIO/LibGPIOD2.swift",
  ]

  @Test func onlyTheSystemLayerAndTheCFunnelsImportGlibc() {
    let files = ["Sources", "Benchmarks", "Fuzz"].flatMap(Self.swiftFiles(under:))
    #expect(files.count > 50, "the walk found the sources")
    let offenders = files.filter { file in
      Self.imports(file).contains("Glibc") && !file.hasPrefix("Sources/GanglionSystem/")
        && !Self.funnels.contains(file)
    }
    #expect(offenders == [])
  }

  @Test func theCoreAndTheRulesDoNoIO() {
    for module in ["GanglionCore", "GanglionRules"] {
      for file in Self.swiftFiles(under: "Sources/\(module)") {
        let forbidden = Self.imports(file).filter {
          ["Glibc", "Foundation", "FoundationEssentials", "GanglionSystem", "Dispatch"].contains($0)
        }
        #expect(forbidden == [], "\(file)")
      }
    }
  }
}
