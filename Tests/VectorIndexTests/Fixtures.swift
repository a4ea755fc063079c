import Foundation
import RetrieveCore
import TestSupport
@testable import VectorIndex

/// Builders for index tests: tracks, models and batches with deterministic contents.
enum Make {
    static func track(_ i: Int, artist: String? = nil, album: String? = nil, hash: String? = nil) -> TrackRecord {
        TrackRecord(
            path: "/music/\(artist ?? "Various")/\(album ?? "Misc")/\(String(format: "%03d", i)).flac",
            size: Int64(1_000_000 + i * 1000), modificationTime: 1_700_000_000 + Double(i),
            contentHash: hash ?? "h1:\(i):hash",
            duration: 120 + Double(i), sampleRate: i % 2 == 0 ? 44_100 : 48_000, channels: 2, format: "flac",
            title: "Track \(i)", artist: artist, album: album, genre: "Test", label: i % 3 == 0 ? "jazz" : "rock")
    }

    static func model(_ name: String, dimensions: Int = 8) -> ModelVersion {
        ModelVersion(
            name: name, digest: String(repeating: name.first.map(String.init) ?? "0", count: 64), dimensions: dimensions
        )
    }

    static func embedding(seed: UInt64, dimensions: Int = 8) -> Embedding {
        var rng = SeededGenerator(seed: seed)
        return Embedding(normalising: (0..<dimensions).map { _ in rng.nextGaussian() })
    }

    static func item(
        _ i: Int, model: Int64, dimensions: Int = 8, artist: String? = "A", album: String? = "B", segments: Int = 0
    )
        -> IndexBatch.Item
    {
        IndexBatch.Item(
            track: track(i, artist: artist, album: album),
            embeddings: [
                .init(
                    modelID: model, embedding: embedding(seed: UInt64(i), dimensions: dimensions),
                    segmentCount: max(segments, 1),
                    segments: (0..<segments).map { embedding(seed: UInt64(1000 * i + $0), dimensions: dimensions) })
            ])
    }
}
