import Foundation
public import RetrieveCore
public import VectorIndex
import SimilaritySearch
public import Analysis
import SequenceEncoding
import Synchronization

/// One answer to "more like this".
public struct SimilarTrack: Sendable, Equatable {
    public let rank: Int
    public let score: Float
    public let track: TrackRecord
}

/// Which tracks a query may return.
public struct QueryFilters: Sendable {
    /// Drop tracks by any seed's artist.
    public var excludeSameArtist = false
    /// Drop tracks from any seed's album.
    public var excludeSameAlbum = false
    /// Keep only tracks whose path starts with one of these prefixes (absolute paths); empty keeps all.
    public var pathPrefixes: [String] = []
    /// Drop results that are the same recording as a seed or as a better-ranked result, by `DuplicateRule`
    /// (content, tags, or length together with very high similarity; never the style cosine alone).
    /// `nil` keeps duplicates.
    public var dedupe: DuplicateRule? = nil
    /// Keep only tracks this accepts (e.g. those another server knows); `nil` keeps all.
    public var keep: (@Sendable (TrackRecord) -> Bool)? = nil
    public init() {}
}

/// Answers similarity queries against one model's vectors in an index.
///
/// The vectors are read from SQLite once, into one contiguous matrix, when the engine is made; every query
/// after that is an exact scan (BLAS sgemv) plus a bounded top-k selection.
public final class QueryEngine {
    public let model: ModelVersion
    public let tracks: [TrackRecord]
    private let collection: VectorCollection
    private let rowOfTrack: [TrackID: Int]
    /// Per row, the id of its group of byte-identical copies (same non-empty content fingerprint), or -1 for a
    /// track without copies: integers, so the all-against-all scan compares no strings, and a collection without
    /// copies scans with no filter at all.
    private let copyGroup: [Int32]
    private let hasCopies: Bool
    private let store: IndexStore
    private let databasePath: String
    private let modelID: Int64?
    /// Every track's stored segment embeddings (rows of `tracks`), read on the first identification. Behind a
    /// lock, as is the next: the server queries one engine from many threads.
    private let segmentCache = Mutex<[Matrix]?>(nil)
    /// Tracks with stored segment embeddings, read on the first dedupe (or `keepsSegments`).
    private let tracksWithSegments = Mutex<Set<TrackID>?>(nil)

    /// Loads `model`'s vectors from `store`. Fails when the index is empty for this model, or when some tracks
    /// are embedded only with another model (mixing two vector spaces would give meaningless answers).
    public init(store: IndexStore, model: ModelVersion, databasePath: String) throws {
        self.store = store
        self.model = model
        self.databasePath = databasePath
        let usage = try store.embeddingModels()
        let modelID = usage.first { $0.model.version.digest == model.digest }?.model.id
        self.modelID = modelID
        // One read transaction: vectors and tracks agree even while another process indexes, and since an
        // embedding cannot outlive its track (foreign key, ON DELETE CASCADE), every vector has its record.
        let (ids, vectors, allTracks) = try store.searchSnapshot(model: modelID)
        let missing = allTracks.count - ids.count
        if missing > 0 {
            let others = usage.filter { $0.model.version != model && $0.embeddingCount > 0 }.map(\.model.version)
            if !others.isEmpty {
                throw LibraryError.mixedModels(
                    database: databasePath, current: model.description,
                    others: others.map(\.description), missing: missing)
            }
        }
        guard !ids.isEmpty else { throw LibraryError.emptyIndex(database: databasePath) }
        let byID = Dictionary(allTracks.map { ($0.id!, $0) }, uniquingKeysWith: { a, _ in a })
        tracks = ids.map { byID[$0]! }
        rowOfTrack = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        (copyGroup, hasCopies) = Self.copyGroups(tracks)
        collection = VectorCollection(vectors: vectors)
    }

    /// `copyGroup` of every row, and whether any group has two or more tracks.
    private static func copyGroups(_ tracks: [TrackRecord]) -> ([Int32], Bool) {
        let counts = Dictionary(
            tracks.lazy.filter { !$0.contentHash.isEmpty }.map { ($0.contentHash, 1) },
            uniquingKeysWith: +)
        var ids: [String: Int32] = [:]
        let groups = tracks.map { t -> Int32 in
            guard (counts[t.contentHash] ?? 0) > 1 else { return -1 }
            if let id = ids[t.contentHash] { return id }
            let id = Int32(ids.count)
            ids[t.contentHash] = id
            return id
        }
        return (groups, !ids.isEmpty)
    }

    /// The `k` tracks whose stored segment embeddings best match a query's, best first: identification of
    /// a recording (an excerpt, a degraded copy) rather than similarity of style.
    ///
    /// Scores are `SegmentMatching` mean-of-best cosines: the mean, over the query's segments, of the best
    /// cosine among the track's segments; with several variants of the query (the pitch tries of
    /// `EncoderAnalyser.identificationSegments`), a track's score is its best over the variants. Tracks indexed
    /// without `--segments` are never returned. The first call reads every track's segments from the index.
    ///
    /// - Parameters:
    ///   - variants: the query's segment embeddings, once per variant (at least one).
    ///   - k: how many tracks to return.
    ///   - excluding: rows never returned (the query itself, when it is indexed).
    /// - Returns: the best-matching tracks, best first.
    /// - Throws: `LibraryError.noSegments` when no track has stored segments.
    public func identify(variants: [[Embedding]], k: Int, excluding: Set<Int> = []) throws -> [SimilarTrack] {
        let references = try segmentCache.withLock { cache in
            if cache == nil {
                cache = try tracks.map { track in
                    let rows = try modelID.map { try store.segments(track: track.id!, model: $0) } ?? []
                    return Matrix(rows: rows.count, columns: model.dimensions, storage: rows.flatMap(\.values))
                }
            }
            return cache!
        }
        guard references.contains(where: { $0.rows > 0 }) else {
            throw LibraryError.noSegments(database: databasePath)
        }
        let queries = variants.map { segments in
            [Matrix(rows: segments.count, columns: model.dimensions, storage: segments.flatMap(\.values))]
        }
        let scores = SegmentMatching.bestScores(variants: queries, references: references).row(0)
        let ranked = RetrievalMetrics.ranking(scores: scores) { !excluding.contains($0) && scores[$0] > -.infinity }
        return ranked.prefix(k).enumerated().map { SimilarTrack(rank: $0 + 1, score: scores[$1], track: tracks[$1]) }
    }

    /// `identify(variants:k:excluding:)` for a query tried one way only.
    public func identify(segments: [Embedding], k: Int, excluding: Set<Int> = []) throws -> [SimilarTrack] {
        try identify(variants: [segments], k: k, excluding: excluding)
    }

    /// The number of searchable tracks.
    public var count: Int { tracks.count }

    /// The row of an indexed track, if it has a vector for this model.
    public func row(of id: TrackID) -> Int? { rowOfTrack[id] }

    /// The stored embedding of the track at `row`.
    public func embedding(row: Int) -> Embedding { Embedding(unchecked: collection.vector(at: row)) }

    /// The tracks and their vectors, for `Playlists.path` and `Playlists.radio`.
    public var playlistSource: PlaylistSource { PlaylistSource(tracks: tracks, vectors: collection) }

    /// The `k` tracks most similar to the mean of `seeds`, best first.
    ///
    /// `seedRows` are the seeds that are indexed tracks: they never appear in their own results, nor does any
    /// track with the same content fingerprint as a seed. With `filters.dedupe`, neither does any track that is
    /// the same recording as a seed (indexed, or described by `seedRecordings` for audio files outside the index)
    /// or as a better-ranked result.
    public func similar(
        to seeds: [Embedding], seedRows: [Int], k: Int, filters: QueryFilters = QueryFilters(),
        seedRecordings: [RecordingEvidence] = []
    ) -> [SimilarTrack] {
        guard let query = Embedding.pooled(seeds), k > 0 else { return [] }
        let seedTracks = seedRows.map { tracks[$0] }
        let excluded = Set(seedRows)
        let seedHashes = Set(seedTracks.map(\.contentHash).filter { !$0.isEmpty })
        let artists = Set(seedTracks.compactMap { $0.artist?.lowercased() })
        let albums = Set(seedTracks.compactMap { $0.album?.lowercased() })
        let prefixes = filters.pathPrefixes.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        let include: (Int) -> Bool = { [tracks] row in
            if excluded.contains(row) { return false }
            let t = tracks[row]
            if seedHashes.contains(t.contentHash) { return false }
            if filters.excludeSameArtist, let a = t.artist?.lowercased(), artists.contains(a) { return false }
            if filters.excludeSameAlbum, let a = t.album?.lowercased(), albums.contains(a) { return false }
            if !prefixes.isEmpty, !prefixes.contains(where: { t.path.hasPrefix($0) || t.path + "/" == $0 }) {
                return false
            }
            return filters.keep?(t) ?? true
        }
        guard let rule = filters.dedupe else {
            return collection.nearest(to: query.values, k: k, where: include).enumerated().map {
                SimilarTrack(rank: $0 + 1, score: $1.score, track: tracks[$1.index])
            }
        }
        // Dedupe needs candidates beyond k; fetch more until k survive or the collection is exhausted.
        let seedEvidence = seedRows.map(recording(row:)) + seedRecordings
        var fetch = min(count, max(k * 3, k + 20))
        while true {
            let candidates = collection.nearest(to: query.values, k: fetch, where: include)
            var kept: [(neighbour: Neighbour, evidence: RecordingEvidence)] = []
            for c in candidates where kept.count < k {
                let evidence = recording(row: c.index)
                if seedEvidence.contains(where: { rule.sameRecording($0, evidence) }) { continue }
                if kept.contains(where: { rule.sameRecording($0.evidence, evidence) }) { continue }
                kept.append((c, evidence))
            }
            if kept.count >= k || fetch >= count {
                return kept.enumerated().map {
                    SimilarTrack(rank: $0 + 1, score: $1.neighbour.score, track: tracks[$1.neighbour.index])
                }
            }
            fetch = min(count, fetch * 4)
        }
    }

    /// The tracks that have stored segment embeddings (read from the index once).
    private var withSegments: Set<TrackID> {
        tracksWithSegments.withLock { cached in
            if cached == nil { cached = (try? modelID.map { try store.tracksWithSegments(model: $0) }) ?? [] }
            return cached!
        }
    }

    /// Whether any track has stored segment embeddings, which `identify` needs (`retrieve index --segments`).
    public var keepsSegments: Bool { !withSegments.isEmpty }

    /// What identifies the recording at `row`: its record, its embedding, and its segments where the index keeps
    /// them (read from the index on demand).
    public func recording(row: Int) -> RecordingEvidence {
        let track = tracks[row]
        var segments: [Embedding] = []
        if let modelID, let id = track.id, withSegments.contains(id) {
            segments = (try? store.segments(track: id, model: modelID)) ?? []
        }
        return RecordingEvidence(track: track, embedding: embedding(row: row), segments: segments)
    }

    /// What a query string names: an indexed track (by id or path), or an audio file to analyse.
    public enum Seed {
        case indexed(row: Int)
        case audioFile(path: String)
    }

    /// Resolves a query string: a track id, an indexed path, or a readable audio file.
    public func resolve(_ query: String) throws -> Seed {
        if let id = Int64(query), let row = rowOfTrack[TrackID(id)] { return .indexed(row: row) }
        let absolute = Paths.absolute(query)
        if let track = try store.track(path: absolute), let id = track.id, let row = rowOfTrack[id] {
            // An indexed file that changed on disk since is analysed afresh.
            if let attributes = try? FileManager.default.attributesOfItem(atPath: absolute),
                let size = attributes[.size] as? Int64, size != track.size
            {
                return .audioFile(path: absolute)
            }
            return .indexed(row: row)
        }
        if FileManager.default.isReadableFile(atPath: absolute) { return .audioFile(path: absolute) }
        throw LibraryError.unknownQuery(query)
    }

    /// The indexed row whose content fingerprint matches a file outside the index, if any (a copy of an indexed
    /// track is still "the query's own track").
    public func row(matchingContentOf path: String) -> Int? {
        guard let hash = try? ContentHash.ofFile(atPath: path) else { return nil }
        return tracks.firstIndex { $0.contentHash == hash }
    }

    /// Whether `candidate` is the track at `row` or a byte-identical copy of it (same content fingerprint): such
    /// tracks are never recommended for it, by `similar` or by an export.
    func isSelfOrCopy(_ candidate: Int, of row: Int) -> Bool {
        candidate == row || (copyGroup[row] >= 0 && copyGroup[candidate] == copyGroup[row])
    }

    /// All-against-all recommendations, streamed row by row in track order (see `Exporter`); a track's own
    /// copies are left out as `similar` leaves them out.
    public func forEachTrack(k: Int, rows: [Int]? = nil, _ body: (Int, [SimilarTrack]) throws -> Void) throws {
        func ranked(_ neighbours: [Neighbour]) -> [SimilarTrack] {
            neighbours.enumerated().map { SimilarTrack(rank: $0 + 1, score: $1.score, track: tracks[$1.index]) }
        }
        if let rows {
            // Seeds in blocks, so one sgemm scores a block and memory stays bounded for long seed lists.
            for start in stride(from: 0, to: rows.count, by: 512) {
                let block = Array(rows[start..<min(rows.count, start + 512)])
                var queries = Matrix(rows: 0, columns: collection.dimensions)
                for r in block { queries.appendRow(collection.vector(at: r)) }
                let answers = collection.nearest(toEach: queries, k: k) { q, candidate in
                    !self.isSelfOrCopy(candidate, of: block[q])
                }
                for (i, r) in block.enumerated() { try body(r, ranked(answers[i])) }
            }
        } else {
            // The filter runs for every pair of the scan: pass none when no track has a copy.
            let include: ((Int, Int) -> Bool)? =
                hasCopies ? { row, candidate in !self.isSelfOrCopy(candidate, of: row) } : nil
            try collection.allNearest(k: k, excludingSelf: true, where: include) { row, neighbours in
                try body(row, ranked(neighbours))
            }
        }
    }
}
