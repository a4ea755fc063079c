public import RetrieveCore

/// One model's vectors, segments and timbre profiles, every track record and every model of an index, read at one
/// commit into memory and answered from there: how a PostgreSQL index is queried (`PostgresStore.snapshot`),
/// since its rows arrive over a connection that a synchronous scan cannot hold open. Answers as `IndexView` does.
///
/// Memory: the model's vectors and segments, its timbre profiles (2.6 KB a track, when the model makes them),
/// plus every track record (about 300 bytes a track besides its strings), for as long as the snapshot lives.
public final class IndexSnapshot: IndexReading {
    /// The models registered, by id, with their number of embeddings.
    public let models: [ModelUsage]
    /// The model whose vectors were read, if registered.
    public let modelID: Int64?
    private let ids: [TrackID]
    private let vectorRows: Matrix
    /// Every track, by ascending id.
    private let records: [TrackRecord]
    /// `records`' ids, for binary search.
    private let recordIDs: [TrackID]
    private let rowOfPath: [String: Int]
    private let segmentsByTrack: [TrackID: [Embedding]]
    private let segmentVersionByTrack: [TrackID: Int]
    private let timbreByTrack: [TrackID: [Float]]
    private let stamp: (tracks: Int, newestUpdate: Double)

    /// - Parameters:
    ///   - models: every registered model with its number of embeddings.
    ///   - modelID: the model `vectors` belong to (nil when it is not registered: then `vectors` is empty).
    ///   - ids: the track of each vector, ascending.
    ///   - vectors: that model's vectors, one row per id of `ids`.
    ///   - tracks: every track, by ascending id.
    ///   - segments: that model's stored segment embeddings by track, in segment order.
    ///   - segmentVersions: their kind by track (`IndexBatch.ModelEmbedding.segmentVersion`).
    ///   - timbres: that model's stored timbre profiles by track (about 2.6 KB a track).
    ///   - newestUpdate: the newest `updated_at` among the tracks (0 when there are none).
    public init(
        models: [ModelUsage], modelID: Int64?, ids: [TrackID], vectors: Matrix, tracks: [TrackRecord],
        segments: [TrackID: [Embedding]], segmentVersions: [TrackID: Int], timbres: [TrackID: [Float]] = [:],
        newestUpdate: Double
    ) {
        precondition(ids.count == vectors.rows, "one vector per id")
        self.models = models
        self.modelID = modelID
        self.ids = ids
        vectorRows = vectors
        records = tracks
        recordIDs = tracks.map { $0.id! }
        var rows: [String: Int] = [:]
        rows.reserveCapacity(tracks.count)
        for (row, track) in tracks.enumerated() { rows[track.path] = row }
        rowOfPath = rows
        segmentsByTrack = segments
        segmentVersionByTrack = segmentVersions
        timbreByTrack = timbres
        stamp = (tracks.count, newestUpdate)
    }

    /// The row of track `id` in `records`.
    private func recordRow(_ id: TrackID) -> Int? { recordIDs.position(ofAscending: id) }

    public func modelID(digest: String) throws -> Int64? {
        models.first { $0.model.version.digest == digest }?.model.id
    }

    public func vectors(model: Int64) throws -> (ids: [TrackID], vectors: Matrix) {
        model == modelID ? (ids, vectorRows) : ([], Matrix(rows: 0, columns: 0))
    }

    public func vectorIDs(model: Int64) throws -> [TrackID] { model == modelID ? ids : [] }

    public func streamVectors(
        model: Int64, dimensions: Int, _ body: (UnsafeBufferPointer<Float>, Int, Bool) throws -> Void
    ) throws {
        guard model == modelID else { return }
        try vectorRows.storage.withUnsafeBufferPointer { try body($0, 0, false) }
    }

    public func embedding(track: TrackID, model: Int64) throws -> Embedding? {
        guard model == modelID, let row = vectorRow(track) else { return nil }
        return Embedding(unchecked: Array(vectorRows.row(row)))
    }

    /// The row of `track` among the vectors.
    private func vectorRow(_ track: TrackID) -> Int? { ids.position(ofAscending: track) }

    public func otherModelsHaveVectors(than model: Int64?) throws -> Bool {
        models.contains { $0.model.id != model && $0.embeddingCount > 0 }
    }

    public func embeddingModels() throws -> [ModelUsage] { models }

    public func trackCount() throws -> Int { records.count }

    public func track(id: TrackID) throws -> TrackRecord? { recordRow(id).map { records[$0] } }

    public func track(path: String) throws -> TrackRecord? { rowOfPath[path].map { records[$0] } }

    public func tracks(ids: [TrackID]) throws -> [TrackRecord] {
        ids.compactMap(recordRow).sorted().map { records[$0] }
    }

    public func forEachTrack(_ body: (TrackRecord) -> Void) throws { records.forEach(body) }

    public func tracks(withContentHash hash: String) throws -> [TrackRecord] {
        records.filter { $0.contentHash == hash }
    }

    /// - Complexity: O(tracks × folders): every path is compared (there is no path index in memory).
    public func trackIDs(under folders: [String]) throws -> [TrackID] {
        var ids: [TrackID] = []
        for folder in folders.map(PathPrefix.init) {
            ids += records.lazy.filter { folder.contains($0.path) }.map { $0.id! }
        }
        return ids
    }

    public func copyGroups() throws -> [[TrackID]] {
        var groups: [String: [TrackID]] = [:]
        for track in records where !track.contentHash.isEmpty {
            groups[track.contentHash, default: []].append(track.id!)
        }
        // Sorted as SQLite's `ORDER BY content_hash` sorts text: by bytes.
        return groups.filter { $0.value.count > 1 }.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map(\.value)
    }

    public func timbres(tracks: [TrackID], model: Int64) throws -> [TrackID: [Float]] {
        guard model == modelID else { return [:] }
        var out: [TrackID: [Float]] = [:]
        for track in tracks { if let t = timbreByTrack[track] { out[track] = t } }
        return out
    }

    public func segmentVersions(model: Int64) throws -> Set<Int> {
        model == modelID ? Set(segmentsByTrack.keys.compactMap { segmentVersionByTrack[$0] }) : []
    }

    public func segments(track: TrackID, model: Int64, version: Int) throws -> [Embedding] {
        segmentVersionByTrack[track] == version ? try segments(track: track, model: model) : []
    }

    public func segments(track: TrackID, model: Int64) throws -> [Embedding] {
        model == modelID ? segmentsByTrack[track] ?? [] : []
    }

    public func updateStamp() throws -> (tracks: Int, newestUpdate: Double) { stamp }
}
