import Foundation
import GRDB
import RetrieveCore
import Testing
import TestSupport
@testable import VectorIndex

/// The packed vector chunks: always equal to the per-track rows, whatever writes, cascades and upgrades did.
@Suite struct VectorChunkTests {
    /// 2048 dimensions: 128 vectors per chunk, so a few hundred tracks span several chunks.
    static let dimensions = 2048

    /// Chunks and rows of every model agree exactly, and nothing is left in the change log.
    static func expectChunksEqualRows(_ store: IndexStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for usage in try store.embeddingModels() {
            let chunked = try store.loadVectors(model: usage.model.id)
            let rows = try store.vectorsFromRows(model: usage.model.id)
            #expect(chunked.ids == rows.ids, sourceLocation: sourceLocation)
            #expect(
                chunked.vectors.storage.map(\.bitPattern) == rows.vectors.storage.map(\.bitPattern),
                sourceLocation: sourceLocation)
        }
        let pending = try store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM vector_changes") }
        #expect(pending == 0, sourceLocation: sourceLocation)
    }

    static func chunkCounts(_ store: IndexStore, model: Int64) throws -> [Int] {
        try store.read { db in
            try Int.fetchAll(
                db, sql: "SELECT count FROM vector_chunks WHERE model_id = ? ORDER BY first_track_id", arguments: [model])
        }
    }

    @Test func everyKindOfWriteKeepsChunksInStepWithRows() throws {
        let dir = try TemporaryDirectory()
        let store = try IndexStore(path: dir.path("i.sqlite").path)
        let d = Self.dimensions
        let a = try store.register(model: Make.model("a", dimensions: d))
        // Appends in batches of odd sizes: full chunks and one partial last chunk.
        for start in stride(from: 0, to: 300, by: 77) {
            try store.commit(IndexBatch(items: (start..<min(300, start + 77)).map { Make.item($0, model: a, dimensions: d) }))
        }
        #expect(try Self.chunkCounts(store, model: a) == [128, 128, 44])
        try Self.expectChunksEqualRows(store)
        // A second model, re-embedding half the tracks; one changed file (new content: old vectors dropped).
        let b = try store.register(model: Make.model("b", dimensions: d))
        var items = (0..<150).map { Make.item($0, model: b, dimensions: d) }
        items[5].track.contentHash = "changed"
        items[5].embeddings[0].embedding = Make.embedding(seed: 99, dimensions: d)
        try store.commit(IndexBatch(items: items))
        try Self.expectChunksEqualRows(store)
        #expect(try store.loadVectors(model: a).ids.count == 299)
        // Removal by id, by folder, pruning, moves, and a whole model.
        let ids = try store.loadVectors(model: a).ids
        try store.removeTracks(ids: [ids[0], ids[130], ids[298]])
        try Self.expectChunksEqualRows(store)
        try store.prune(tracks: Array(ids[200..<260]), failures: [])
        try Self.expectChunksEqualRows(store)
        try store.moveTrack(id: ids[10], to: "/elsewhere/10.flac", size: 1, modificationTime: 2)
        try store.removeTracks(under: "/music")
        try Self.expectChunksEqualRows(store)
        #expect(try store.loadVectors(model: a).ids == [ids[10]])
        try store.commit(IndexBatch(items: (400..<420).map { Make.item($0, model: a, dimensions: d) }))
        #expect(try store.removeModel(id: b))
        try Self.expectChunksEqualRows(store)
        #expect(try Self.chunkCounts(store, model: b).isEmpty)
        #expect(try store.loadVectors(model: a).ids.count == 21)
    }

    @Test func aDamagedChunkFallsBackToTheRowsAndTheNextWriteRepairsIt() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("i.sqlite").path
        let store = try IndexStore(path: path)
        let d = Self.dimensions
        let model = try store.register(model: Make.model("m", dimensions: d))
        try store.commit(IndexBatch(items: (0..<200).map { Make.item($0, model: model, dimensions: d) }))
        let expected = try store.vectorsFromRows(model: model)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE vector_chunks SET vectors = x'0102' WHERE first_track_id = 1")
        }
        let loaded = try store.loadVectors(model: model)
        #expect(loaded.ids == expected.ids && loaded.vectors.storage == expected.vectors.storage)
        // A write touching that chunk rebuilds its range from the rows.
        try store.commit(IndexBatch(items: [Make.item(3, model: model, dimensions: d)]))
        try Self.expectChunksEqualRows(store)
    }

    @Test func anotherClientsUnfoldedChangesAreMergedByReaders() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("i.sqlite").path
        let store = try IndexStore(path: path)
        let model = try store.register(model: Make.model("m", dimensions: 8))
        try store.commit(IndexBatch(items: (0..<20).map { Make.item($0, model: model) }))
        // A plain SQLite client (not IndexStore) deletes and rewrites rows: the triggers log them, nobody folds.
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "DELETE FROM tracks WHERE id IN (2, 7)")
            try db.execute(sql: "UPDATE embeddings SET vector = ? WHERE track_id = 4", arguments: [
                VectorCodec.encode([Float](repeating: 0.5, count: 8))
            ])
        }
        let loaded = try store.loadVectors(model: model)
        let rows = try store.vectorsFromRows(model: model)
        #expect(loaded.ids == rows.ids && loaded.vectors.storage == rows.vectors.storage)
        #expect(loaded.ids.count == 18)
    }

    /// An index written by the previous release (schema v2, per-track rows only) opens, is upgraded in place, and
    /// keeps every vector and its analysis version: nothing needs analysing again.
    @Test(arguments: [false, true])
    func previousReleaseIndexIsUpgradedWithoutReanalysis(openForReading: Bool) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("old.sqlite").path
        let d = Self.dimensions
        var expected: [Int64: [Float]] = [:]
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
        }
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.execute(sql: Schema.v1)
            try db.execute(sql: Schema.v2)
            try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v1-initial'), ('v2-analysis-version')")
            try db.execute(sql: "PRAGMA application_id = \(Schema.applicationID)")
            try db.execute(sql: "PRAGMA user_version = 2")
            try db.execute(sql: """
                INSERT INTO models (id, name, digest, dimensions, created_at) VALUES (1, 'old', '\(String(repeating: "o", count: 64))', \(d), 1)
                """)
            for i in 1...300 {
                let t = Make.track(i)
                try db.execute(
                    sql: """
                        INSERT INTO tracks (id, path, size, mtime, content_hash, duration, sample_rate, channels, format,
                            added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)
                        """,
                    arguments: [i, t.path, t.size, t.modificationTime, t.contentHash, t.duration, t.sampleRate,
                                t.channels, t.format])
                let values = Make.embedding(seed: UInt64(i), dimensions: d).values
                expected[Int64(i)] = values
                try db.execute(
                    sql: "INSERT INTO embeddings (track_id, model_id, vector, segment_count, created_at, analysis_version) VALUES (?, 1, ?, 3, 1, 1)",
                    arguments: [i, VectorCodec.encode(values)])
            }
        }
        #expect(IndexStore.userVersion(of: path) == 2)
        let store = openForReading ? try IndexStore.openForReading(path: path) : try IndexStore(path: path)
        #expect(try store.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } == Schema.version)
        let (ids, vectors) = try store.loadVectors(model: 1)
        #expect(ids.map(\.rawValue) == Array(1...300))
        for (r, id) in ids.enumerated() { #expect(vectors.row(r) == expected[id.rawValue]!) }
        #expect(try Self.chunkCounts(store, model: 1) == [128, 128, 44])
        #expect(try store.tracksNeedingEmbedding(model: 1, analysisVersion: 1).isEmpty)
        try Self.expectChunksEqualRows(store)
    }

    @Test func pathPrefixMatchesFoldersByteWise() {
        let prefix = PathPrefix("/music/a/")
        #expect(prefix.folder == "/music/a" && prefix.lowerBound == "/music/a/" && prefix.upperBound == "/music/a0")
        #expect(prefix.contains("/music/a") && prefix.contains("/music/a/b.flac"))
        #expect(!prefix.contains("/music/ab.flac") && !prefix.contains("/music/a0") && !prefix.contains("/music"))
        #expect(PathPrefix("/").contains("/anything") && PathPrefix("/").upperBound == "0")
    }
}
