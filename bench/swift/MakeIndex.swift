import Foundation
import Analysis
import RetrieveCore
import VectorIndex

/// `retrieve-bench make-index N OUT [VECTORS.npy]`: writes a synthetic index of N tracks for the benchmarks
/// that need a large library (`bench/run serve`, cold queries, export at scale).
///
/// The index is written through `IndexStore.commit`, in batches of 10 000 tracks, so its layout is exactly what
/// `retrieve index` writes. Its embeddings belong to the shipped default model (`Index/default-model.safetensors`,
/// or `RETRIEVE_MODEL`), so `retrieve similar --db OUT` and `retrieve serve --db OUT` accept it without
/// `--model`. The vectors are the rows of VECTORS.npy (N × the model's dimensions, float32; normalised here), so a
/// peer can search the same ones, or else seeded Gaussian vectors, L2-normalised. Tracks get realistic paths and
/// tags: 100 tracks per artist, 10 per album, `/library/Artist 00042/Album 000421/07 Track 0004217.flac`.
func makeIndexBenchmark(_ arguments: [String]) throws {
    guard arguments.count >= 2, let count = Int(arguments[0]), count > 0 else {
        throw MakeIndexUsage()
    }
    let out = arguments[1]
    guard !FileManager.default.fileExists(atPath: out) else {
        throw MakeIndexError("\(out) exists; make-index writes a new index, so remove it or choose another path")
    }
    let modelPath = ProcessInfo.processInfo.environment["RETRIEVE_MODEL"] ?? "Index/default-model.safetensors"
    let model = try ModelFile.load(path: modelPath).version
    let vectors = try arguments.count > 2 ? suppliedVectors(arguments[2], count: count, dimensions: model.dimensions) : nil
    let store = try IndexStore(path: out)
    let modelID = try store.register(model: model)
    var rng = SplitMix64(seed: 42)
    let batchSize = 10_000
    var first = 0
    while first < count {
        let last = min(first + batchSize, count)
        var batch = IndexBatch()
        batch.items.reserveCapacity(last - first)
        for n in first..<last {
            let values =
                vectors.map { Array($0[(n * model.dimensions)..<((n + 1) * model.dimensions)]) }
                ?? (0..<model.dimensions).map { _ in gaussian(&rng) }
            let embedding = IndexBatch.ModelEmbedding(
                modelID: modelID, embedding: Embedding(normalising: values), segmentCount: 20)
            batch.items.append(IndexBatch.Item(track: syntheticTrack(n), embeddings: [embedding]))
        }
        try store.commit(batch)
        first = last
        FileHandle.standardError.write(Data("make-index: \(first)/\(count)\r".utf8))
    }
    FileHandle.standardError.write(Data("\nmake-index: wrote \(count) tracks of \(model.name) to \(out)\n".utf8))
}

/// Track `n` of the synthetic library: 100 tracks per artist, 10 per album.
private func syntheticTrack(_ n: Int) -> TrackRecord {
    let artist = String(format: "Artist %05d", n / 100)
    let album = String(format: "Album %06d", n / 10)
    let title = String(format: "Track %07d", n)
    let number = String(format: "%02d", n % 10 + 1)
    let path = "/library/\(artist)/\(album)/\(number) \(title).flac"
    return TrackRecord(
        path: path, size: 30_000_000 + Int64(n % 9973) * 1000, modificationTime: 1_700_000_000 + Double(n),
        contentHash: String(format: "%064x", n), duration: 180 + Double(n % 120), sampleRate: 44_100, channels: 2,
        format: "FLAC", title: title, artist: artist, album: album, genre: "Synthetic")
}

private func suppliedVectors(_ path: String, count: Int, dimensions: Int) throws -> [Float] {
    let array = try NumPyArray(contentsOf: URL(fileURLWithPath: path))
    guard array.shape.count == 2, array.shape[0] >= count, array.shape[1] == dimensions else {
        throw MakeIndexError("\(path) has shape \(array.shape); need at least \(count) rows of \(dimensions) columns")
    }
    return array.values
}

/// A standard normal draw (Box–Muller), so random unit vectors are uniform on the sphere.
private func gaussian(_ rng: inout SplitMix64) -> Float {
    let u1 = max(Double(rng.next() >> 11) / Double(1 << 53), 1e-300)
    let u2 = Double(rng.next() >> 11) / Double(1 << 53)
    return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
}

struct MakeIndexUsage: Error, CustomStringConvertible {
    var description: String { "usage: retrieve-bench make-index N OUT.sqlite [VECTORS.npy]" }
}

struct MakeIndexError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
