import Analysis
import Foundation
import Library
import VectorIndex
import RetrieveCore
import SequenceEncoding
import SimilaritySearch

/// `bench/run timbre`, our side: the per-candidate cost of the timbre half of a hybrid query — reading a stored
/// profile (`TimbreProfile(packed:)`, which checks its Gaussians) and its similarity to the query's profile —
/// over `count` candidates cycled from the profiles of the given audio files, one thread. Prints one JSON object.
///
/// Usage: retrieve-bench timbre MODEL COUNT FILE…
func timbreBenchmark(_ arguments: [String]) throws {
    guard arguments.count >= 3, let count = Int(arguments[1]) else {
        throw TimbreBenchError("usage: retrieve-bench timbre MODEL COUNT FILE…")
    }
    let encoder = try ModelFile.load(path: arguments[0])
    let analyser = try EncoderAnalyser(encoder: encoder, modelPath: arguments[0])
    guard analyser.timbreReference != nil else {
        throw TimbreBenchError("\(arguments[0]) has no timbre reference set")
    }
    let files = Array(arguments.dropFirst(2))
    let profiles = try files.compactMap { try analyser.analyse(path: $0).timbre }.filter { !$0.isEmpty }
    let packed = (0..<count).map { profiles[$0 % profiles.count].packed }
    let decoded = packed.compactMap(TimbreProfile.init(packed:))
    var sink = 0.0
    var readAndScore: [Double] = [], scoreOnly: [Double] = []
    for q in 0..<5 {
        let query = profiles[q % profiles.count]
        let started = DispatchTime.now().uptimeNanoseconds
        for p in packed { if let candidate = TimbreProfile(packed: p) { sink += query.similarity(to: candidate) } }
        let middle = DispatchTime.now().uptimeNanoseconds
        for candidate in decoded { sink += query.similarity(to: candidate) }
        let ended = DispatchTime.now().uptimeNanoseconds
        readAndScore.append(Double(middle - started) / 1e9 / Double(count))
        scoreOnly.append(Double(ended - middle) / 1e9 / Double(count))
    }
    let report: [String: Any] = [
        "files": profiles.count, "candidates": count,
        "read_and_score_s": readAndScore.sorted()[2], "score_only_s": scoreOnly.sorted()[2],
        "checksum": sink.isFinite ? 1 : 0,
    ]
    let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

private struct TimbreBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `retrieve-bench timbre-query DB MODEL [QUERIES]`: in-process `QueryEngine.search` latency by indexed track,
/// the embedding alone (timbre weight 0), the hybrid without and with the shared-neighbour re-ranking (neighbour
/// weight 0 and the default), over the first QUERIES rows (default 50), k = 10, as `retrieve similar` opens the
/// index (vectors streamed, records on demand) and as the server does (all in memory).
func timbreQueryBenchmark(_ arguments: [String]) throws {
    guard arguments.count >= 2 else { throw TimbreBenchError("usage: retrieve-bench timbre-query DB MODEL [QUERIES]") }
    let model = try ModelFile.load(path: arguments[1]).version
    let queries = arguments.count > 2 ? Int(arguments[2]) ?? 50 : 50
    var report: [String: Any] = [:]
    for (name, loading) in [("on_demand", TrackLoading.onDemand), ("resident", TrackLoading.all)] {
        let engine = try QueryEngine(
            store: try IndexStore(path: arguments[0]), model: model, databasePath: arguments[0], loading: loading)
        let mixed = "weight_\(TimbreSimilarity.hybridWeight)"
        let variants = [
            ("weight_0.0", 0.0, 0.0), (mixed, TimbreSimilarity.hybridWeight, 0.0),
            (mixed + "_neighbours", TimbreSimilarity.hybridWeight, SharedNeighbours.weight),
        ]
        for (variant, weight, neighbourWeight) in variants {
            engine.timbreWeight = weight
            engine.neighbourWeight = neighbourWeight
            var times: [Double] = []
            for row in 0..<min(queries, engine.count) {
                let started = DispatchTime.now().uptimeNanoseconds
                _ = try engine.search(to: [engine.embedding(row: row)], seedRows: [row], k: 10)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            }
            report["\(name)_\(variant)_median_s"] = times.sorted()[times.count / 2]
        }
        report["tracks"] = engine.count
    }
    let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}
