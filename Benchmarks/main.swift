// ganglion-bench [engine] [log] [mqtt [--rounds N]]: the named benchmarks, or all of them.
// Build with `swift build -c release` first; Benchmarks/README.md lists them and their figures.
let arguments = CommandLine.arguments
EngineBenchmark.run(arguments: arguments)
if arguments.count < 2 || arguments.contains("log") { runLogBenchmark() }
await MQTTBenchmark.run(arguments: arguments)
