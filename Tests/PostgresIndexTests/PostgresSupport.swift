import Foundation
import PostgresIndex
import RetrieveCore
import Testing
import TestSupport
import VectorIndex

/// One real PostgreSQL server for a whole suite: started before its first test, stopped after its last.
struct WithPostgres: SuiteTrait, TestScoping {
    @TaskLocal static var server: PostgresServer?

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try PostgresServer()
        defer { server.stop() }
        try await Self.$server.withValue(server) { try await function() }
    }

    /// The suite's server (inside a suite marked `.withPostgres`).
    static func require() throws -> PostgresServer {
        try #require(server, "the suite must carry the .withPostgres trait")
    }
}

extension Trait where Self == WithPostgres {
    static var withPostgres: WithPostgres { WithPostgres() }
}

/// A generated index with everything the schema holds: two models of different sizes, segment vectors, timbre
/// profiles (on every other track of the first model), failures,
/// absent and non-ASCII metadata, and vectors with the awkward floats (signed zero, subnormals, infinities, NaN
/// payloads) that must survive bit for bit.
///
/// With `models` (a real model's version, for queries), those models instead: the first embeds every track,
/// the others two in three; the floats are plain, and every 40th track is a byte-identical copy of the one
/// before with the same tags (for dedupe and copy groups).
enum GeneratedIndex {
    static func write(
        to path: String, tracks: Int, failures: Int = 7, models: [ModelVersion]? = nil
    ) throws -> IndexStore {
        let store = try IndexStore(path: path)
        let queryable = models != nil
        let versions =
            models ?? [
                ModelVersion(name: "small", digest: String(repeating: "a", count: 64), dimensions: 8),
                ModelVersion(name: "large", digest: String(repeating: "b", count: 64), dimensions: 16),
            ]
        var ids: [Int64] = []
        for (n, version) in versions.enumerated() {
            ids.append(
                try store.register(
                    model: version, configurationJSON: n == 0 && !queryable ? #"{"frontEnd":"mel","hidden":[8]}"# : "{}"
                ))
        }
        var rng = SeededGenerator(seed: 13)
        func vector(_ n: Int) -> Embedding {
            var values = (0..<n).map { _ in rng.nextGaussian() }
            if !queryable && Int.random(in: 0..<10, using: &rng) == 0 {
                values[0] = -0.0
                values[1] = .leastNonzeroMagnitude
                values[2] = Float(bitPattern: 0x7FC0_1234)  // a NaN with a payload
                values[3] = -.infinity
            }
            return Embedding(unchecked: values)
        }
        // A timbre profile's stored form (`TimbreProfile.packed`): per band 24 means, the covariance's upper
        // triangle (diagonal, so positive definite) and a normalisation; for a queryable index a valid profile,
        // else raw bytes with the awkward floats too.
        func timbre() -> [Float] {
            var values: [Float] = []
            for _ in 0..<2 {
                values += (0..<24).map { _ in rng.nextGaussian() }
                for i in 0..<24 {
                    values += (i..<24).map { j in j == i ? 0.5 + abs(rng.nextGaussian()) : 0 }
                }
                values += [3 + abs(rng.nextGaussian()), 0.2 + 0.1 * abs(rng.nextGaussian())]
            }
            if !queryable { values[5] = Float(bitPattern: 0x7FC0_4321) }
            return values
        }
        var first = 0
        while first < tracks {
            let items = (first..<min(first + 500, tracks)).map { i in
                // A copy has its original's bytes (content hash) and tags.
                let tagged = queryable && i % 40 == 39 ? i - 1 : i
                let track = TrackRecord(
                    path: "/music/Ärtist \(i % 17)/Album \(i % 5)/\(String(format: "%05d", i)) ünïcode.flac",
                    size: Int64(1_000_000 + tagged), modificationTime: 1_700_000_000.125 + Double(i),
                    contentHash: "h1:\(tagged):\(String(tagged * 7919, radix: 16))", duration: 30 + Double(tagged) / 7,
                    sampleRate: i % 2 == 0 ? 44_100 : 48_000, channels: 1 + i % 2, format: "flac",
                    title: tagged % 4 == 0 ? nil : "Title \(tagged)",
                    artist: tagged % 3 == 0 ? nil : "Ärtist \(tagged % 17)",
                    album: "Album \(i % 5)", genre: i % 6 == 0 ? nil : "Genre", label: i % 5 == 0 ? "jazz" : nil)
                let first = versions[0].dimensions
                var embeddings: [IndexBatch.ModelEmbedding] = [
                    .init(
                        modelID: ids[0], embedding: vector(first), segmentCount: 3,
                        segments: (0..<3).map { _ in vector(first) }, segmentVersion: 1 + i % 2,
                        timbre: i % 2 == 0 ? timbre() : nil)
                ]
                for (n, version) in versions.enumerated().dropFirst() where i % 3 != 1 {
                    embeddings.append(
                        .init(
                            modelID: ids[n], embedding: vector(version.dimensions), segmentCount: 1, analysisVersion: 1)
                    )
                }
                return IndexBatch.Item(track: track, embeddings: embeddings)
            }
            let broken =
                first == 0
                ? (0..<failures).map {
                    FailureRecord(
                        path: "/music/broken \($0).mp3", kind: "decode", reason: "no frames", size: 10,
                        modificationTime: 5)
                } : []
            try store.commit(IndexBatch(items: items, failures: broken))
            first += 500
        }
        return store
    }
}

/// A temporary folder for one test's files, removed with everything in it when the test lets go of it.
final class Scratch {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("retrieve-pg-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    /// A path in the folder.
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: folder) }
}
