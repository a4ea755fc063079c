import Foundation
import GRDB
import Library
import RetrieveCore
import SimilaritySearch
import Testing
import TestSupport
import VectorIndex

/// Queries that read only the rows they need (`TrackLoading.onDemand`) give exactly the answers of a brute-force
/// scan over every record, with every filter; a resumed, two-thread export gives the rows of a full one.
@Suite struct ScaleQueryTests {
    static let dimensions = 16
    static let model = ModelVersion(name: "scale", digest: String(repeating: "5", count: 64), dimensions: dimensions)

    /// 3000 tracks: 30 artists of 100, albums of 10, every 97th track a byte-identical copy of the one before.
    static func makeIndex(_ dir: TemporaryDirectory) throws -> IndexStore {
        let store = try IndexStore(path: dir.path("scale.sqlite").path)
        let modelID = try store.register(model: model)
        var rng = SeededGenerator(seed: 13)
        let items = (0..<3000).map { n -> IndexBatch.Item in
            let artist = String(format: "Artist %02d", n / 100), album = String(format: "Album %03d", n / 10)
            let track = TrackRecord(
                path: "/lib/\(artist)/\(album)/\(n).flac", size: 1000, modificationTime: 1,
                contentHash: n % 97 == 1 ? "h\(n - 1)" : "h\(n)", duration: 200, sampleRate: 44_100, channels: 2,
                format: "flac", title: "T\(n)", artist: n % 7 == 0 ? artist.uppercased() : artist, album: album)
            let vector = Embedding(normalising: (0..<dimensions).map { _ in rng.nextGaussian() })
            return IndexBatch.Item(track: track, embeddings: [.init(modelID: modelID, embedding: vector, segmentCount: 1)])
        }
        for start in stride(from: 0, to: items.count, by: 700) {
            try store.commit(IndexBatch(items: Array(items[start..<min(items.count, start + 700)])))
        }
        return store
    }

    /// What `similar` must return, from every record and a full score list, filters written out plainly.
    static func bruteForce(
        _ engine: QueryEngine, seed: Int, k: Int, filters: QueryFilters
    ) -> [(id: TrackID, score: Float)] {
        let tracks = engine.tracks, query = engine.embedding(row: seed).values
        let s = tracks[seed]
        func kept(_ r: Int) -> Bool {
            let t = tracks[r]
            if r == seed || t.contentHash == s.contentHash { return false }
            if filters.excludeSameArtist && t.artist?.lowercased() == s.artist?.lowercased() { return false }
            if filters.excludeSameAlbum && t.album?.lowercased() == s.album?.lowercased() { return false }
            let folders = filters.pathPrefixes.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
            return folders.isEmpty || folders.contains { t.path.hasPrefix($0) }
        }
        var scored: [(row: Int, score: Float)] = []
        for r in 0..<engine.count where kept(r) {
            let v = engine.embedding(row: r).values
            var dot: Float = 0
            for i in 0..<v.count { dot += v[i] * query[i] }
            scored.append((r, dot))
        }
        scored.sort { $0.score > $1.score || ($0.score == $1.score && $0.row < $1.row) }
        return scored.prefix(k).map { (tracks[$0.row].id!, $0.score) }
    }

    /// A track row gone from under its vector (a damaged index, here made by deleting rows with foreign keys
    /// off) ends an on-demand query with a sentence naming the track, never a crash.
    @Test func aMissingTrackRecordIsAnErrorNotACrash() throws {
        let dir = try TemporaryDirectory()
        _ = try Self.makeIndex(dir)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        let raw = try DatabaseQueue(path: dir.path("scale.sqlite").path, configuration: configuration)
        try raw.write { db in try db.execute(sql: "DELETE FROM tracks WHERE path LIKE '/lib/Artist 05/%'") }
        try raw.close()
        let store = try IndexStore(path: dir.path("scale.sqlite").path)
        let lazy = try QueryEngine(store: store, model: Self.model, databasePath: "scale", loading: .onDemand)
        #expect(lazy.count == 3000, "the vectors are still there")
        do {
            _ = try lazy.search(to: [lazy.embedding(row: 0)], seedRows: [0], k: 2999)
            Issue.record("a query over missing records answered")
        } catch {
            #expect("\(error)".contains("has a vector but no record"), "\(error)")
        }
        // Queries whose candidates all have records still answer.
        var under = QueryFilters()
        under.pathPrefixes = ["/lib/Artist 01"]
        #expect(try lazy.search(to: [lazy.embedding(row: 0)], seedRows: [0], k: 5, filters: under).count == 5)
    }

    @Test func onDemandQueriesMatchBruteForceWithEveryFilter() throws {
        let dir = try TemporaryDirectory()
        let store = try Self.makeIndex(dir)
        let lazy = try QueryEngine(store: store, model: Self.model, databasePath: "scale", loading: .onDemand)
        let full = try QueryEngine(store: store, model: Self.model, databasePath: "scale", loading: .all)
        let vectors = try QueryEngine(store: store, model: Self.model, databasePath: "scale", loading: .vectors)
        var cases: [QueryFilters] = []
        for (artist, album, under) in [
            (false, false, [String]()), (true, false, []), (false, true, []), (true, true, []),
            (false, false, ["/lib/Artist 03"]), (false, false, ["/lib/Artist 03/", "/lib/Artist 17/Album 171"]),
            (true, false, ["/lib/Artist 1"]), (false, false, ["/nowhere"]),
        ] {
            var f = QueryFilters()
            (f.excludeSameArtist, f.excludeSameAlbum, f.pathPrefixes) = (artist, album, under)
            cases.append(f)
        }
        for seed in [0, 1, 98, 700, 1234, 2999] {
            for filters in cases {
                let expected = Self.bruteForce(full, seed: seed, k: 10, filters: filters)
                for engine in [lazy, full, vectors] {
                    let got = try engine.search(to: [engine.embedding(row: seed)], seedRows: [seed], k: 10, filters: filters)
                    #expect(got.map(\.track.id!) == expected.map(\.id), "seed \(seed), \(filters.pathPrefixes)")
                    #expect(Approx.maxAbsDifference(got.map(\.score), expected.map(\.score)) < 1e-5)
                }
            }
        }
        // "Artist 1" is not the folder of "Artist 10".."Artist 19": nothing under it.
        var f = QueryFilters()
        f.pathPrefixes = ["/lib/Artist 1"]
        #expect(try lazy.search(to: [lazy.embedding(row: 5)], seedRows: [5], k: 10, filters: f).isEmpty)
        // Every embedding read on demand is the stored one.
        for row in [0, 1500, 2999] { #expect(lazy.embedding(row: row) == full.embedding(row: row)) }
    }

    @Test func resumedTwoThreadExportGivesTheRowsOfAFullOne() throws {
        let dir = try TemporaryDirectory()
        let store = try Self.makeIndex(dir)
        let engine = try QueryEngine(store: store, model: Self.model, databasePath: "scale", loading: .vectors)
        var full: [Int: [TrackID]] = [:], resumed: [Int: [TrackID]] = [:]
        var blocks: [Int] = []
        try engine.forEachTrack(k: 7) { row, results in full[row] = results.map(\.track.id!) }
        try engine.forEachTrack(k: 7, startingAt: 1024, threads: 2) { row, results in
            resumed[row] = results.map(\.track.id!)
        } afterBlock: { blocks.append($0) }
        #expect(full.count == 3000 && resumed.count == 3000 - 1024)
        for (row, ids) in resumed { #expect(ids == full[row], "row \(row)") }
        #expect(blocks == [1536, 2048, 2560, 3000])
        // A copy is never its original's neighbour.
        let original = engine.row(of: try #require(engine.track(row: 97).id))!
        #expect(!full[original]!.contains(engine.track(row: 98).id!))
        // The fingerprint names this state, and changes with it.
        let before = try engine.exportFingerprint()
        #expect(try QueryEngine(store: store, model: Self.model, databasePath: "scale").exportFingerprint() == before)
        try store.removeTracks(ids: [engine.track(row: 5).id!])
        #expect(try QueryEngine(store: store, model: Self.model, databasePath: "scale").exportFingerprint() != before)
    }
}
