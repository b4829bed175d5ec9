print("bench")
EngineBenchmark.run(arguments: CommandLine.arguments)
