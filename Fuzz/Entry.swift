import GanglionSystem

/// Writes a line to standard error (unbuffered, so it is not lost when the process exits).
func printError(_ line: String) {
  CurrentProcess.writeToStandardError(line + "\n")
}

/// `ganglion-fuzz TARGET ...`: the target named by the first argument, or exit with usage.
func targetArgument(_ arguments: ArraySlice<String>, usage: String) -> FuzzTarget {
  guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
    printError("usage: ganglion-fuzz \(names) \(usage)")
    CurrentProcess.exit(2)
  }
  return target
}

#if FUZZING
  /// Set once in `main` before libFuzzer starts; libFuzzer calls the callback on this thread
  /// only (its -fork and -jobs modes run separate processes).
  nonisolated(unsafe) var fuzzTarget = FuzzTarget.expression

  /// libFuzzer's entry point for programs that keep their own `main` (SwiftPM renames an
  /// executable's `main` and defines `main` as an alias, so libFuzzer's own cannot be used).
  @_silgen_name("LLVMFuzzerRunDriver")
  func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
  ) -> CInt

  /// The libFuzzer build: `ganglion-fuzz TARGET [libFuzzer flags] [CORPUS...]`.
  @main
  enum FuzzMain {
    static func main() {
      let arguments = CommandLine.arguments
      fuzzTarget = targetArgument(arguments.dropFirst(), usage: "[libFuzzer flags] [CORPUS-FOLDER...]")
      // libFuzzer sees the program name and everything after the target name.
      var argc = CommandLine.argc - 1
      let argv = CommandLine.unsafeArgv
      argv[1] = argv[0]
      var shifted: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv + 1
      CurrentProcess.exit(
        runFuzzerDriver(&argc, &shifted) { data, size in
          fuzzTarget.run(UnsafeBufferPointer(start: data, count: size))
          return 0
        })
    }
  }
#else
  /// Replays inputs without libFuzzer: `ganglion-fuzz [-v] TARGET FILE...` runs each file (a
  /// folder: each file in it) through the target, so a crasher reproduces in a debugger.
  /// `-v` prints the diagnostics of the rule targets.
  @main
  enum FuzzReplay {
    static func main() {
      var arguments = CommandLine.arguments.dropFirst()
      let verbose = arguments.first == "-v"
      if verbose { arguments = arguments.dropFirst() }
      let target = targetArgument(arguments, usage: "FILE-OR-FOLDER...")
      var count = 0
      for path in arguments.dropFirst() {
        for file in files(at: path) {
          guard let bytes = read(file) else {
            printError("cannot read \(file)")
            CurrentProcess.exit(1)
          }
          bytes.withUnsafeBufferPointer { buffer in
            target.run(buffer) { diagnostics in
              guard verbose else { return }
              print("\(file): \(diagnostics.isEmpty ? "compiles" : "")")
              for diagnostic in diagnostics { print("  \(diagnostic)") }
            }
          }
          count += 1
        }
      }
      print("\(count) inputs ran through \(target.rawValue) without a crash")
    }

    static func files(at path: String) -> [String] {
      guard FileSystem.kind(of: path) == .directory, let names = try? FileSystem.list(path) else { return [path] }
      return names.filter { !$0.hasPrefix(".") }.map { path + "/" + $0 }
    }

    static func read(_ path: String) -> [UInt8]? { try? FileSystem.readBytes(path, limit: Int.max) }
  }
#endif
