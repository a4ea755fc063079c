import AudioDecoding
import Foundation
import Analysis
import Library
import SimilaritySearch
import RetrieveCore
import SequenceEncoding
import SpectralFeatures
import VectorIndex

/// Our side of `bench/run index`: indexing throughput on real music, and where the time goes.
///
///     retrieve-bench index DIR MODEL [JOBS]
///
/// First one thread, stage by stage over every file (decode + resample, log-mel, encoder, SQLite commit), then
/// a real `Indexer` run with JOBS workers into a fresh temporary index: tracks per minute and seconds of audio
/// per second of wall time.
func indexBenchmark(_ arguments: [String]) throws {
    guard arguments.count >= 2 else { throw IndexBenchUsage() }
    let files = CollectionScanner().scan([arguments[0]]).files.map(\.path)
    let modelPath = arguments[1]
    let jobs = arguments.count > 2 ? Int(arguments[2])! : ProcessInfo.processInfo.activeProcessorCount
    let encoder = try ModelFile.load(path: modelPath)
    let config = encoder.configuration
    let decoder = AudioDecoder(targetSampleRate: config.features.sampleRate)
    let extractor = try FeatureExtractor(configuration: config.features)
    func now() -> Double { Date().timeIntervalSinceReferenceDate }

    var decodeTime = 0.0, featureTime = 0.0, encoderTime = 0.0, audioSeconds = 0.0, segments = 0
    var embeddings: [Embedding] = []
    for path in files {
        let url = URL(fileURLWithPath: path)
        var t = now()
        var samples: [Float] = []
        do { try decoder.stream(url) { samples.append(contentsOf: $0) } } catch { continue }
        decodeTime += now() - t
        audioSeconds += Double(samples.count) / Double(config.features.sampleRate)
        t = now()
        let streaming = StreamingLogMel(extractor: extractor)
        var frames = samples.withUnsafeBufferPointer { streaming.push($0) }.storage
        frames += streaming.finish().storage
        let logMel = Matrix(rows: frames.count / config.features.melBands, columns: config.features.melBands,
                            storage: frames)
        featureTime += now() - t
        t = now()
        let cut = encoder.segments(of: logMel)
        segments += cut.count
        if let e = Embedding.pooled(encoder.embed(segments: cut)) { embeddings.append(e) }
        encoderTime += now() - t
    }
    // SQLite: commit the same number of tracks and vectors in batches of 16, as the indexer does.
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("retrieve-bench-index-\(UUID())")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let store = try IndexStore(path: scratch.appendingPathComponent("stages.sqlite").path)
    let modelID = try store.register(model: encoder.version)
    var t = now()
    for start in stride(from: 0, to: embeddings.count, by: 16) {
        let items = (start..<min(embeddings.count, start + 16)).map { i in
            IndexBatch.Item(
                track: TrackRecord(path: "/bench/\(i).wav", size: 1, modificationTime: 0, contentHash: "h\(i)",
                                   duration: 1, sampleRate: 44_100, channels: 2, format: "wav"),
                embeddings: [IndexBatch.ModelEmbedding(modelID: modelID, embedding: embeddings[i], segmentCount: 1)])
        }
        _ = try store.commit(IndexBatch(items: items))
    }
    let sqliteTime = now() - t
    let total = decodeTime + featureTime + encoderTime + sqliteTime
    func share(_ x: Double) -> String { String(format: "%7.2f s  %5.1f %%", x, 100 * x / total) }
    print("files \(embeddings.count), audio \(String(format: "%.0f", audioSeconds)) s, \(segments) segments")
    print("one thread, by stage:")
    print("  decode + resample  \(share(decodeTime))")
    print("  log-mel            \(share(featureTime))")
    print("  encoder (LSTM)     \(share(encoderTime))")
    print("  SQLite commits     \(share(sqliteTime))")
    print(String(format: "  total %.2f s: %.0f audio-s/s, %.0f tracks/min", total, audioSeconds / total,
                 Double(embeddings.count) / total * 60))

    var options = Indexer.Options()
    options.workers = jobs
    let indexer = Indexer(store: try IndexStore(path: scratch.appendingPathComponent("index.sqlite").path),
                          options: options) { try EncoderAnalyser(encoder: try ModelFile.load(path: modelPath)) }
    t = now()
    let summary = try indexer.run(roots: [arguments[0]])
    let wall = now() - t
    print(String(format: "retrieve index, %d workers: %d tracks, %.0f s audio in %.2f s wall: %.0f audio-s/s, %.0f tracks/min",
                 jobs, summary.added, summary.audioSeconds, wall, summary.audioSeconds / wall,
                 Double(summary.added) / wall * 60))
}

struct IndexBenchUsage: Error, CustomStringConvertible {
    var description: String { "usage: retrieve-bench index DIR MODEL [JOBS]" }
}
