import GanglionSystem
import Testing

/// Every link in the project's own documentation leads somewhere: a file of the repository
/// and, with `#anchor`, a heading of that file (GitHub's anchors), and every `.md` file a
/// source comment cites is one of the user's pages in docs/.
@Suite struct DocumentationLinkTests {
  static let root = SourceLayoutTests.root

  /// The Markdown files users read.
  static let pages: [String] = {
    var pages = ["README.md", "Rules/README.md", "Hardware/README.md", "Systemd/README.md", "Benchmarks/README.md"]
    pages += ((try? FileSystem.list(root + "/docs")) ?? []).filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
    return pages.filter { FileSystem.kind(of: root + "/" + $0) == .file }
  }()

  /// GitHub's anchor of a heading: lower case, spaces to '-', punctuation dropped except '-'
  /// and '_'; repeats get -1, -2...
  static func anchors(of file: String) -> Set<String> {
    let text = (try? FileSystem.readText(root + "/" + file)) ?? ""
    var seen: [String: Int] = [:]
    var anchors: Set<String> = []
    var inCode = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("```") { inCode.toggle() }
      guard !inCode, line.hasPrefix("#") else { continue }
      let title = line.drop { $0 == "#" }.trimmingPrefix(" ")
      var slug = ""
      for character in title.lowercased() {
        if character.isLetter || character.isNumber || character == "-" || character == "_" {
          slug.append(character)
        } else if character == " " {
          slug.append("-")
        }
      }
      let count = seen[slug, default: 0]
      seen[slug] = count + 1
      anchors.insert(count == 0 ? slug : "\(slug)-\(count)")
    }
    return anchors
  }

  /// `(target)` of every `[text](target)` outside code blocks, with its line.
  static func links(in file: String) -> [(line: Int, target: String)] {
    let text = (try? FileSystem.readText(root + "/" + file)) ?? ""
    var found: [(Int, String)] = []
    var inCode = false
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      if line.hasPrefix("```") { inCode.toggle() }
      if inCode { continue }
      let characters = Array(line)
      var index = 0
      while index + 1 < characters.count {
        if characters[index] == "]", characters[index + 1] == "(",
          let end = characters[(index + 2)...].firstIndex(of: ")")
        {
          found.append((number + 1, String(characters[(index + 2)..<end])))
          index = end
        }
        index += 1
      }
    }
    return found
  }

  @Test func everyLinkInTheDocsResolves() {
    #expect(Self.pages.count >= 7, "the pages were found")
    var broken: [String] = []
    for page in Self.pages {
      let folder = FileSystem.directory(of: page)
      for (line, target) in Self.links(in: page) {
        if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") { continue }
        let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts[0].isEmpty ? page : FileSystem.resolve(String(parts[0]), relativeTo: folder)
        guard FileSystem.kind(of: Self.root + "/" + path) != .missing else {
          broken.append("\(page):\(line): \(target): no such file")
          continue
        }
        if parts.count == 2, !Self.anchors(of: path).contains(String(parts[1])) {
          broken.append("\(page):\(line): \(target): no such heading")
        }
      }
    }
    #expect(broken == [])
  }

  @Test func theDocsSourceCommentsCiteAreInTheRepository() {
    let cited = Set(
      ["Sources", "Tests", "Benchmarks", "Fuzz"].flatMap(SourceLayoutTests.swiftFiles(under:)).flatMap { file in
        let text = (try? FileSystem.readText(Self.root + "/" + file)) ?? ""
        return text.split(separator: "\n").filter { $0.contains("//") }.flatMap { line in
          line.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "." || $0 == "/" || $0 == "-") })
            .filter { $0.hasSuffix(".md") && $0.count > 3 }.map(String.init)
        }
      })
    #expect(cited.contains("events.md"), "the scan sees the citations")
    let missing = cited.filter { name in
      let candidates = [name, "docs/" + name, "docs/" + (name.split(separator: "/").last.map(String.init) ?? name)]
      return !candidates.contains { FileSystem.kind(of: Self.root + "/" + $0) == .file }
    }
    #expect(missing.sorted() == [])
  }

  /// Where a cited page name resolves: beside the citing file, from the repository's root, or
  /// among the user's pages in docs/.
  static func resolves(_ name: String, from folder: String) -> Bool {
    let candidates = [
      FileSystem.resolve(name, relativeTo: folder), name,
      "docs/" + (name.split(separator: "/").last.map(String.init) ?? name),
    ]
    return candidates.contains { FileSystem.kind(of: root + "/" + $0) == .file }
  }

  /// The `.md` names in a piece of text.
  static func pageNames(in text: Substring) -> [String] {
    text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "." || $0 == "/" || $0 == "-" || $0 == "_") })
      .filter { $0.hasSuffix(".md") && $0.count > 3 }.map(String.init)
  }

  /// A page named in the prose of a page is a link, not plain text like "(config.md, ...)"
  /// that a reader cannot follow; a page named in inline code exists.
  @Test func pagesNamedInTheDocsAreLinksThatResolve() {
    var problems: [String] = []
    for page in Self.pages {
      let text = (try? FileSystem.readText(Self.root + "/" + page)) ?? ""
      var inCode = false
      for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        if line.hasPrefix("```") { inCode.toggle() }
        if inCode || line.hasPrefix("```") { continue }
        // Drop the links, then the inline code; what is left is prose.
        var prose = ""
        var code: [Substring] = []
        var rest = line[...]
        while let open = rest.firstIndex(where: { $0 == "[" || $0 == "`" }) {
          prose += rest[..<open]
          if rest[open] == "`" {
            let after = rest.index(after: open)
            guard let close = rest[after...].firstIndex(of: "`") else {
              rest = rest[after...]
              continue
            }
            code.append(rest[after..<close])
            rest = rest[rest.index(after: close)...]
          } else if let close = rest[open...].firstIndex(of: "]"), rest.index(after: close) < rest.endIndex,
            rest[rest.index(after: close)] == "(", let end = rest[close...].firstIndex(of: ")")
          {
            rest = rest[rest.index(after: end)...]
          } else {
            prose += rest[open...open]
            rest = rest[rest.index(after: open)...]
          }
        }
        prose += rest
        for name in Self.pageNames(in: prose[...]) {
          problems.append("\(page):\(number + 1): '\(name)' is named in plain text; make it a link")
        }
        for name in code.flatMap({ Self.pageNames(in: $0) })
        where !Self.resolves(name, from: FileSystem.directory(of: page)) {
          problems.append("\(page):\(number + 1): '\(name)' does not exist")
        }
      }
    }
    #expect(problems == [])
  }

  /// The comments of the example rules, the hardware profiles and the systemd files name pages
  /// that exist.
  @Test func pagesNamedInTheExampleFilesExist() {
    var problems: [String] = []
    var files = 0
    for folder in ["Rules", "Hardware", "Systemd"] {
      for name in (try? FileSystem.list(Self.root + "/" + folder)) ?? [] where !name.hasSuffix(".md") {
        files += 1
        let text = (try? FileSystem.readText(Self.root + "/" + folder + "/" + name)) ?? ""
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
          guard let hash = line.firstIndex(of: "#") else { continue }
          for cited in Self.pageNames(in: line[hash...]) where !Self.resolves(cited, from: folder) {
            problems.append("\(folder)/\(name):\(number + 1): '\(cited)' does not exist")
          }
        }
      }
    }
    #expect(files > 10, "the files were read")
    #expect(problems == [])
  }
}
