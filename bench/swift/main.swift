import Foundation
import LinearAlgebra

// Before anything runs: may re-run this program with OPENBLAS_CORETYPE set (see BLASCore), as `retrieve` does.
BLASCore.ensureBestCore()

/// Our side of each benchmark; `bench/run NAME` runs it beside the peer and prints the ratio.
/// Each benchmark registers one entry here and lives in its own file.
let benchmarks: [String: ([String]) throws -> Void] = [
    "features": FeaturesBench.run,
    "lstm": lstmBenchmark,
    "search": searchBenchmark,
    "index": indexBenchmark,
    "make-index": makeIndexBenchmark,
    "timbre": timbreBenchmark,
    "timbre-query": timbreQueryBenchmark,
]

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, let run = benchmarks[name] else {
    FileHandle.standardError.write("usage: retrieve-bench {\(benchmarks.keys.sorted().joined(separator: "|"))} …\n".data(using: .utf8)!)
    exit(2)
}
do {
    try run(Array(arguments.dropFirst()))
} catch {
    // One sentence, as `retrieve` prints its errors (a stale index, a missing file), not a backtrace.
    FileHandle.standardError.write(Data("retrieve-bench \(name): \(error)\n".utf8))
    exit(1)
}
