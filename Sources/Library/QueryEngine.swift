import Foundation
public import RetrieveCore
public import VectorIndex
public import SimilaritySearch
public import Analysis
import SequenceEncoding
import Synchronization

/// One answer to "more like this".
public struct SimilarTrack: Sendable, Equatable {
    public let rank: Int
    /// What the results are ordered by: the embedding's cosine, or the hybrid of cosine and timbre
    /// (`QueryEngine.search`), or a segment score (`identify`).
    public let score: Float
    public let track: TrackRecord
    /// The embedding's cosine with the query (for `identify`, the segment score): equal to `score` unless timbre
    /// ranked the results.
    public let cosine: Float

    public init(rank: Int, score: Float, track: TrackRecord, cosine: Float? = nil) {
        self.rank = rank
        self.score = score
        self.track = track
        self.cosine = cosine ?? score
    }
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
/// The engine freezes the index at one commit (`IndexView`) and reads the model's vectors from it once, in one
/// sequential pass over the vector chunks, into one contiguous matrix; every query after that is an exact scan
/// plus a bounded top-k selection. Track records are read all at once or only for the rows a query returns or
/// filters on (`TrackLoading`), always from the same frozen state as the vectors.
public final class QueryEngine {
    public let model: ModelVersion
    /// The records of every row (`catalog`), ascending by track id, in compact form (a record is made when a row
    /// is read); read in full on first use with `.onDemand`.
    public var tracks: TrackTable { catalog.all }
    /// The record of each row, read as needed.
    public let catalog: TrackCatalog
    /// Every vector, when held in memory (`.all`, `.vectors`; read on first need with `.onDemand`).
    private var resident: VectorCollection?
    let view: any IndexReading
    private let databasePath: String
    let modelID: Int64?
    /// Per row, the id of its group of byte-identical copies (same non-empty content fingerprint), or -1 for a
    /// track without copies: integers, so the all-against-all scan compares no strings. Read on first use.
    private var copyGroupCache: [Int32]?
    /// Every track's stored segment embeddings of one kind (rows of `tracks`; the kind beside them), read on the
    /// first identification and again when a query of another kind comes. Behind a
    /// lock, as is the next: the server queries one engine from many threads.
    private let segmentCache = Mutex<(version: Int, rows: [Matrix])?>(nil)
    /// The kinds of the stored segment embeddings (empty: none), read on first use.
    private let segmentsKept = Mutex<Set<Int>?>(nil)
    /// The weight of timbre beside the embedding (`TimbreSimilarity.mixed`) when the seeds have timbre profiles;
    /// 0 ranks by the embedding's cosine alone.
    public var timbreWeight = TimbreSimilarity.hybridWeight
    /// How many of the embedding's nearest tracks are ranked again with timbre (`rankedWithTimbre`): every
    /// candidate of a collection up to this size — the hybrid exactly as `retrieve evaluate` measures it — and
    /// the nearest this many of a larger one.
    public var timbrePool = 500
    /// How far the neighbours a candidate shares with the query move it among the hybrid's best
    /// (`SharedNeighbours`); 0 keeps the hybrid's order.
    public var neighbourWeight = SharedNeighbours.weight

    /// Loads `model`'s vectors from `store`. Fails when the index is empty for this model, or when some tracks
    /// are embedded only with another model (mixing two vector spaces would give meaningless answers).
    ///
    /// - Parameters:
    ///   - store: the index.
    ///   - model: the model whose vectors are searched.
    ///   - databasePath: the index's path as the user gave it, for messages.
    ///   - loading: `.all` reads every track record now (what `tracks` needs); `.onDemand` reads none until a
    ///     query needs it, so a one-off query costs the vectors and a few rows.
    /// - Throws: `LibraryError.emptyIndex` or `.mixedModels`, and `IndexError` when the index cannot be read.
    public convenience init(
        store: IndexStore, model: ModelVersion, databasePath: String, loading: TrackLoading = .all
    ) throws {
        // One frozen view: vectors and the records read later agree even while another process indexes, and
        // since an embedding cannot outlive its track (foreign key, ON DELETE CASCADE), every vector has its record.
        let view = try IndexView(store: store)
        // With every record in memory, later look-ups (segments, paths) need not pin this commit: a long-lived
        // engine (the server) would otherwise hold a read transaction open, and stop checkpoints, until reloaded.
        let later: any IndexReading
        if case .all = loading { later = try IndexView(store: store, frozen: false) } else { later = view }
        try self.init(reading: view, later: later, model: model, databasePath: databasePath, loading: loading)
    }

    /// Loads `model`'s vectors from `frozen`, one state of an index (an SQLite `IndexView`, or an `IndexSnapshot`
    /// read from PostgreSQL): everything after this is the same code whatever the database.
    ///
    /// - Parameters:
    ///   - frozen: the state the vectors, and with `.all` every record, are read from.
    ///   - later: where records, segments and paths are looked up afterwards (`frozen` itself, or a reader of
    ///     the latest commit for an engine that holds every record).
    ///   - model: the model whose vectors are searched.
    ///   - databasePath: the index as the user named it (a PostgreSQL URL redacted), for messages.
    ///   - loading: see `init(store:model:databasePath:loading:)`.
    /// - Throws: `LibraryError.emptyIndex` or `.mixedModels`, and what the readers throw.
    public init(
        reading frozen: any IndexReading, later: any IndexReading, model: ModelVersion, databasePath: String,
        loading: TrackLoading = .all
    ) throws {
        self.model = model
        self.databasePath = databasePath
        let view = frozen
        let modelID = try view.modelID(digest: model.digest)
        self.modelID = modelID
        let ids: [TrackID]
        if let modelID, case .onDemand = loading {
            ids = try view.vectorIDs(model: modelID)
        } else {
            let (read, vectors) = try modelID.map(view.vectors(model:)) ?? ([], Matrix(rows: 0, columns: 0))
            (ids, resident) = (read, VectorCollection(vectors: vectors))
        }
        if try view.otherModelsHaveVectors(than: modelID) {
            let missing = try view.trackCount() - ids.count
            let others = try view.embeddingModels().filter { $0.model.version != model && $0.embeddingCount > 0 }
            if missing > 0 && !others.isEmpty {
                throw LibraryError.mixedModels(
                    database: databasePath, current: model.description,
                    others: others.map(\.model.version.description), missing: missing)
            }
        }
        guard !ids.isEmpty else { throw LibraryError.emptyIndex(database: databasePath) }
        self.view = later
        catalog = try TrackCatalog(ids: ids, frozen: view, view: later, loading: loading)
    }

    /// The record of the track at `row`.
    public func track(row: Int) -> TrackRecord { catalog[row] }

    /// The `k` tracks whose stored segment embeddings best match a query's, best first: identification of
    /// a recording (an excerpt, a degraded copy) rather than similarity of style.
    ///
    /// Scores are `SegmentMatching` mean-of-best cosines: the mean, over the query's segments, of the best
    /// cosine among the track's segments; with several variants of the query (the pitch tries of
    /// `EncoderAnalyser.identificationSegments`), a track's score is its best over the variants. Tracks indexed
    /// without `--segments`, or whose segments are of another kind than the query's, are never returned. The
    /// first call reads every track's segments from the index.
    ///
    /// - Parameters:
    ///   - variants: the query's segment embeddings, once per variant (at least one).
    ///   - segmentVersion: their kind (`EncoderAnalyser.segmentVersion`); only stored segments of the same kind
    ///     are compared with them.
    ///   - k: how many tracks to return.
    ///   - excluding: rows never returned (the query itself, when it is indexed).
    /// - Returns: the best-matching tracks, best first.
    /// - Throws: `LibraryError.noSegments` when no track has stored segments, `.staleSegments` when none has
    ///   segments of the query's kind.
    public func identify(
        variants: [[Embedding]], segmentVersion: Int, k: Int, excluding: Set<Int> = []
    ) throws -> [SimilarTrack] {
        try requireSegments(of: segmentVersion)
        let references = try segmentCache.withLock { cache in
            if cache?.version != segmentVersion {
                cache = (
                    segmentVersion,
                    try catalog.ids.map { id in
                        let rows =
                            try modelID.map { try view.segments(track: id, model: $0, version: segmentVersion) } ?? []
                        return Matrix(rows: rows.count, columns: model.dimensions, storage: rows.flatMap(\.values))
                    }
                )
            }
            return cache!.rows
        }
        let queries = variants.map { segments in
            [Matrix(rows: segments.count, columns: model.dimensions, storage: segments.flatMap(\.values))]
        }
        let scores = SegmentMatching.bestScores(variants: queries, references: references).row(0)
        let ranked = RetrievalMetrics.ranking(scores: scores) { !excluding.contains($0) && scores[$0] > -.infinity }
        return ranked.prefix(k).enumerated().map { SimilarTrack(rank: $0 + 1, score: scores[$1], track: catalog[$1]) }
    }

    /// `identify(variants:segmentVersion:k:excluding:)` for a query tried one way only.
    public func identify(
        segments: [Embedding], segmentVersion: Int, k: Int, excluding: Set<Int> = []
    ) throws -> [SimilarTrack] {
        try identify(variants: [segments], segmentVersion: segmentVersion, k: k, excluding: excluding)
    }

    /// The number of searchable tracks.
    public var count: Int { catalog.count }

    /// The row of an indexed track, if it has a vector for this model.
    public func row(of id: TrackID) -> Int? { catalog.row(of: id) }

    /// Every vector in memory (read now, once, by an `.onDemand` engine).
    var collection: VectorCollection {
        if let resident { return resident }
        guard let modelID, let read = try? view.vectors(model: modelID) else {
            preconditionFailure("the vectors of a frozen view could not be read")
        }
        precondition(read.ids == catalog.ids, "a frozen view gave other vectors")
        resident = VectorCollection(vectors: read.vectors)
        return resident!
    }

    /// The stored embedding of the track at `row` (read from the index by an `.onDemand` engine).
    public func embedding(row: Int) -> Embedding {
        if let resident { return Embedding(unchecked: resident.vector(at: row)) }
        guard let modelID, let stored = try? view.embedding(track: catalog.ids[row], model: modelID) else {
            preconditionFailure("the embedding of track \(catalog.ids[row]) of a frozen view could not be read")
        }
        return stored
    }

    /// The tracks and their vectors, for `Playlists.path` and `Playlists.radio`; the radio's steps ranked by
    /// `radioNext` (with `timbreWeight` as it is now).
    public var playlistSource: PlaylistSource {
        let shared = SharedEngine(engine: self)
        let ranker: RadioRanker = { step in shared.engine.radioNext(step) }
        return PlaylistSource(tracks: tracks, vectors: collection, radioRanker: timbreWeight == 0 ? nil : ranker)
    }

    /// `search(to:seedRows:k:filters:seedRecordings:)` for an engine that holds its vectors (`.all`, `.vectors`):
    /// it reads no vector from disk, so nothing can fail.
    public func similar(
        to seeds: [Embedding], seedRows: [Int], k: Int, filters: QueryFilters = QueryFilters(),
        seedRecordings: [RecordingEvidence] = [], seedTimbres: [TimbreProfile] = []
    ) -> [SimilarTrack] {
        precondition(resident != nil, "an .onDemand engine reads vectors from disk: call search(…), which throws")
        // swift-format-ignore: NeverUseForceTry
        return try! search(
            to: seeds, seedRows: seedRows, k: k, filters: filters, seedRecordings: seedRecordings,
            seedTimbres: seedTimbres)
    }

    /// The `k` tracks most similar to the mean of `seeds`, best first.
    ///
    /// When the seeds have timbre profiles (the indexed seeds' stored ones and `seedTimbres`, those of audio files
    /// outside the index) and `timbreWeight` is not 0, the embedding's nearest tracks are ranked again by the
    /// hybrid of cosine and timbre similarity (`rankedWithTimbre`), and a result's score is that hybrid score;
    /// otherwise by the cosine, which is then the score.
    ///
    /// `seedRows` are the seeds that are indexed tracks: they never appear in their own results, nor does any
    /// track with the same content fingerprint as a seed. With `filters.dedupe`, neither does any track that is
    /// the same recording as a seed (indexed, or described by `seedRecordings` for audio files outside the index)
    /// or as a better-ranked result.
    ///
    /// Filters are exact: each is checked on a candidate's record when the candidate would enter the top k, so
    /// only those records are read. `pathPrefixes` first narrows the candidates to the rows under the folders,
    /// found by a range scan of the path index (a selective folder would otherwise make most of the library
    /// candidates). An `.onDemand` engine streams the vectors from the index for each scan.
    ///
    /// - Throws: `IndexError` when an `.onDemand` engine cannot read the vectors.
    public func search(
        to seeds: [Embedding], seedRows: [Int], k: Int, filters: QueryFilters = QueryFilters(),
        seedRecordings: [RecordingEvidence] = [], seedTimbres: [TimbreProfile] = []
    ) throws -> [SimilarTrack] {
        guard let query = Embedding.pooled(seeds), k > 0 else { return [] }
        // A candidate's record that cannot be read (a damaged index read on demand) ends the search with its error.
        let readFailure = ReadFailure()
        let include = try candidateFilter(seedRows: seedRows, filters: filters, failure: readFailure)
        let timbres = timbreWeight == 0 ? [] : seedTimbres + seedProfiles(rows: seedRows)
        let nearest = { (k: Int) throws -> [Neighbour] in
            if timbres.isEmpty { return try self.nearest(to: query.values, k: k, where: include) }
            return try self.rankedWithTimbre(
                query: query.values, timbres: timbres, k: k, seedRows: Set(seedRows), where: include)
        }
        // With timbre the score is the hybrid's; each result also carries its cosine.
        let cosine = { (row: Int) -> Float? in timbres.isEmpty ? nil : query.cosine(self.embedding(row: row)) }
        guard let rule = filters.dedupe else {
            let found = try nearest(k)
            if let error = readFailure.error { throw error }
            return try found.enumerated().map {
                SimilarTrack(
                    rank: $0 + 1, score: $1.score, track: try catalog.record(at: $1.index), cosine: cosine($1.index))
            }
        }
        // Dedupe needs candidates beyond k; fetch more until k survive or the collection is exhausted.
        let seedEvidence = seedRows.map(recording(row:)) + seedRecordings
        var fetch = min(count, max(k * 3, k + 20))
        while true {
            let candidates = try nearest(fetch)
            if let error = readFailure.error { throw error }
            var kept: [(neighbour: Neighbour, evidence: RecordingEvidence)] = []
            for c in candidates where kept.count < k {
                let evidence = recording(row: c.index)
                if seedEvidence.contains(where: { rule.sameRecording($0, evidence) }) { continue }
                if kept.contains(where: { rule.sameRecording($0.evidence, evidence) }) { continue }
                kept.append((c, evidence))
            }
            if kept.count >= k || fetch >= count {
                return kept.enumerated().map {
                    SimilarTrack(
                        rank: $0 + 1, score: $1.neighbour.score, track: catalog[$1.neighbour.index],
                        cosine: cosine($1.neighbour.index))
                }
            }
            fetch = min(count, fetch * 4)
        }
    }

    /// The exact top `k` of `query` over every row: from memory, or streamed chunk by chunk from the index.
    func nearest(to query: [Float], k: Int, where include: @escaping (Int) -> Bool) throws -> [Neighbour] {
        if let resident { return resident.nearest(to: query, k: k, where: include) }
        guard let modelID else { return [] }
        var scan = NearestScan(query: query, k: min(k, count), where: include)
        try view.streamVectors(model: modelID, dimensions: model.dimensions) { block, firstRow, restart in
            if restart { scan = NearestScan(query: query, k: min(k, count), where: include) }
            scan.offer(block, firstRow: firstRow)
        }
        return scan.result()
    }

    /// Which rows a query may return: never a seed or a copy of one, and whatever `filters` exclude.
    private func candidateFilter(seedRows: [Int], filters: QueryFilters, failure: ReadFailure) throws -> (Int) -> Bool {
        let seedTracks = try seedRows.map { try catalog.record(at: $0) }
        let excluded = Set(seedRows)
        let seedHashes = Set(seedTracks.map(\.contentHash).filter { !$0.isEmpty })
        let artists = Set(seedTracks.compactMap { $0.artist?.lowercased() })
        let albums = Set(seedTracks.compactMap { $0.album?.lowercased() })
        let prefixes = filters.pathPrefixes.map(PathPrefix.init)
        // The rows under the folders, from the path index; should that read fail, every candidate's own path is
        // still checked below, so the answer stays exact (only slower).
        var allowed: [Bool]?
        if !prefixes.isEmpty, let ids = try? view.trackIDs(under: filters.pathPrefixes) {
            var rows = [Bool](repeating: false, count: count)
            for id in ids { if let r = catalog.row(of: id) { rows[r] = true } }
            allowed = rows
        }
        return { [catalog] row in
            if excluded.contains(row) { return false }
            if let allowed, !allowed[row] { return false }
            let t: TrackRecord
            do { t = try catalog.record(at: row) } catch {
                failure.error = failure.error ?? error
                return false
            }
            if seedHashes.contains(t.contentHash) { return false }
            if filters.excludeSameArtist, let a = t.artist?.lowercased(), artists.contains(a) { return false }
            if filters.excludeSameAlbum, let a = t.album?.lowercased(), albums.contains(a) { return false }
            if !prefixes.isEmpty, !prefixes.contains(where: { $0.contains(t.path) }) { return false }
            return filters.keep?(t) ?? true
        }
    }

    /// The kinds of segment embeddings stored for this model (`IndexReading.segmentVersions`; empty: the index
    /// keeps none, which `identify` needs: `retrieve index --segments`); read from the index once.
    public var segmentVersions: Set<Int> {
        segmentsKept.withLock { kept in
            if kept == nil { kept = (try? modelID.map { try view.segmentVersions(model: $0) }) ?? [] }
            return kept!
        }
    }

    /// Checks that `identify` can answer a query whose segments are of kind `segmentVersion`.
    /// - Throws: `LibraryError.noSegments` when no track has stored segments, `.staleSegments` when none has
    ///   segments of that kind.
    public func requireSegments(of segmentVersion: Int) throws {
        let kinds = segmentVersions
        guard !kinds.isEmpty else { throw LibraryError.noSegments(database: databasePath) }
        guard kinds.contains(segmentVersion) else { throw LibraryError.staleSegments(database: databasePath) }
    }

    /// What identifies the recording at `row`: its record, its embedding, and its segments where the index keeps
    /// them (read from the index on demand). Only segments of the newest kind stored are given, so that two
    /// recordings' segments compared by `DuplicateRule` are always of one kind (an index part re-made with a newer
    /// front end compares the rest by their embeddings alone).
    public func recording(row: Int) -> RecordingEvidence {
        let track = catalog[row]
        let segments =
            segmentVersions.max().flatMap { version in
                modelID.flatMap { try? view.segments(track: catalog.ids[row], model: $0, version: version) }
            } ?? []
        return RecordingEvidence(track: track, embedding: embedding(row: row), segments: segments)
    }

    /// What a query string names: an indexed track (by id or path), or an audio file to analyse.
    public enum Seed {
        case indexed(row: Int)
        case audioFile(path: String)
    }

    /// Resolves a query string: a track id, an indexed path, or a readable audio file.
    public func resolve(_ query: String) throws -> Seed {
        if let id = Int64(query), let row = catalog.row(of: TrackID(id)) { return .indexed(row: row) }
        let absolute = Paths.absolute(query)
        if let track = try view.track(path: absolute), let id = track.id, let row = catalog.row(of: id) {
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
        return (try? view.tracks(withContentHash: hash))?.lazy.compactMap { self.catalog.row(of: $0.id!) }.first
    }

    /// Per row, the id of its group of byte-identical copies, or -1 (see `copyGroupCache`); nil when no track has
    /// a copy, so that the all-against-all scan then runs with no filter at all.
    func copyGroups() throws -> [Int32]? {
        if let copyGroupCache { return copyGroupCache.isEmpty ? nil : copyGroupCache }
        var groups = [Int32](repeating: -1, count: count)
        var any = false
        for (number, members) in try view.copyGroups().enumerated() {
            let rows = members.compactMap(catalog.row(of:))
            guard rows.count > 1 else { continue }
            for r in rows { groups[r] = Int32(number) }
            any = true
        }
        copyGroupCache = any ? groups : []
        return any ? groups : nil
    }
}

/// The first error met while a scan's filter read candidates' records (the filter itself cannot throw).
private final class ReadFailure {
    var error: (any Error)?
}
