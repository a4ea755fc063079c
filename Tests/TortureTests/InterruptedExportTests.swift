import Foundation
import RetrieveCore
import SequenceEncoding
import Testing
import TestSupport
import VectorIndex
#if canImport(Glibc)
import Glibc
#endif

/// `retrieve export` killed mid-run continues where it stopped: the resumed output is byte for byte the output
/// of an uninterrupted export.
@Suite(.serialized) struct InterruptedExportTests {
    /// An index of `count` synthetic tracks embedded with the model at `model` (no audio: vectors are seeded).
    static func makeIndex(at path: String, model url: URL, count: Int) throws {
        let encoder = try Torture.makeModel(at: url, seed: 21)
        let store = try IndexStore(path: path)
        let modelID = try store.register(model: encoder.version)
        var rng = SeededGenerator(seed: 5)
        let items = (0..<count).map { n in
            IndexBatch.Item(
                track: TrackRecord(
                    path: "/music/\(n / 50)/\(n).flac", size: 1, modificationTime: 1, contentHash: "h\(n)", duration: 60,
                    sampleRate: 22_050, channels: 1, format: "flac", title: "t\(n)", artist: "a\(n / 50)"),
                embeddings: [
                    .init(
                        modelID: modelID,
                        embedding: Embedding(normalising: (0..<encoder.version.dimensions).map { _ in rng.nextGaussian() }),
                        segmentCount: 1)
                ])
        }
        try store.commit(IndexBatch(items: items))
    }

    @Test func killedExportResumesAndMatchesAnUninterruptedOne() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-torture-export")
        let db = dir.path("lib.sqlite").path, model = dir.path("model.safetensors")
        let count = 8000
        try Self.makeIndex(at: db, model: model, count: count)
        func arguments(_ out: URL) -> [String] {
            ["export", "--db", db, "--model", model.path, "--k", "10", "--out", out.path, "-q"]
        }
        let reference = dir.path("reference.csv")
        let full = try runRetrieve(arguments(reference), in: dir.url)
        #expect(full.exit.status == 0, "\(full.exit)\n\(full.stderr)")
        #expect(!FileManager.default.fileExists(atPath: reference.path + ".progress"))

        let out = dir.path("killed.csv")
        var killedAt: [Int] = []
        for attempt in 0..<3 {
            let child = try Child(try RetrieveBinary.require(), arguments(out), output: dir.path("export\(attempt)"))
            // Kill once a checkpoint beyond the last one exists (and some of the next block may be written).
            let deadline = Date().addingTimeInterval(120)
            var seen = -1
            while !child.hasExited, Date() < deadline {
                if let data = FileManager.default.contents(atPath: out.path + ".progress"),
                    let record = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let done = record["seedsDone"] as? Int, done > (killedAt.last ?? 0)
                {
                    seen = done
                    break
                }
                usleep(2000)
            }
            child.send(SIGKILL)
            let exit = child.wait()
            guard exit.signal == SIGKILL, seen > 0 else { break }  // finished first: nothing more to interrupt
            killedAt.append(seen)
        }
        #expect(!killedAt.isEmpty, "no export was killed mid-run")
        let resumed = try runRetrieve(arguments(out), in: dir.url)
        #expect(resumed.exit.status == 0, "\(resumed.exit)\n\(resumed.stderr)")
        if let last = killedAt.last {
            #expect(resumed.stderr.contains("resuming the export at seed"), "\(resumed.stderr)")
            _ = last
        }
        #expect(try Data(contentsOf: out) == Data(contentsOf: reference), "killed at \(killedAt)")
        #expect(!FileManager.default.fileExists(atPath: out.path + ".progress"))

        // A changed index is not resumed into: a stale checkpoint is ignored and the export starts afresh.
        try "{\"identity\":\"other\",\"seedsDone\":512,\"bytes\":10}".write(
            toFile: out.path + ".progress", atomically: true, encoding: .utf8)
        let fresh = try runRetrieve(arguments(out), in: dir.url)
        #expect(fresh.exit.status == 0 && !fresh.stderr.contains("resuming"), "\(fresh.stderr)")
        #expect(try Data(contentsOf: out) == Data(contentsOf: reference))
    }

    /// After SIGKILL of a writer, what a search reads (the packed vector chunks) equals the per-track rows.
    static func expectChunksMatchRows(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let store = try IndexStore(path: path, readOnly: true)
        for usage in try store.embeddingModels() {
            let chunked = try store.loadVectors(model: usage.model.id)
            let rows = try store.vectorsFromRows(model: usage.model.id)
            #expect(chunked.ids == rows.ids, sourceLocation: sourceLocation)
            #expect(chunked.vectors.storage == rows.vectors.storage, sourceLocation: sourceLocation)
        }
    }
}
