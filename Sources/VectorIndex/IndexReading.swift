public import RetrieveCore

/// What a query engine reads from an index, one frozen state per reader: the SQLite `IndexView` and the
/// in-memory `IndexSnapshot` (how a PostgreSQL index is read) answer the same questions the same way, so that
/// scanning, filtering and ranking are one implementation whatever the database.
///
/// Every read of one reader sees the same state (or, for an `IndexView` made with `frozen: false`, the latest
/// commit each time). Ids and rows are by ascending track id, as `IndexView` documents for each member.
public protocol IndexReading: AnyObject, Sendable {
    /// The row id of the model with this weights digest, if registered.
    func modelID(digest: String) throws -> Int64?
    /// Every vector of `model` by ascending track id.
    func vectors(model: Int64) throws -> (ids: [TrackID], vectors: Matrix)
    /// The track ids of `model`'s vectors in row order, without the vectors.
    func vectorIDs(model: Int64) throws -> [TrackID]
    /// `model`'s vectors block by block, `(vectors, firstRow, restart)` (see `IndexView.streamVectors`).
    func streamVectors(
        model: Int64, dimensions: Int, _ body: (UnsafeBufferPointer<Float>, Int, Bool) throws -> Void) throws
    /// The embedding of `track` by `model`, if stored.
    func embedding(track: TrackID, model: Int64) throws -> Embedding?
    /// Whether any model other than `model` has vectors (all models when `model` is nil).
    func otherModelsHaveVectors(than model: Int64?) throws -> Bool
    /// Every registered model with its number of embeddings, by id.
    func embeddingModels() throws -> [ModelUsage]
    /// The number of tracks.
    func trackCount() throws -> Int
    /// The track with row id `id`, if any.
    func track(id: TrackID) throws -> TrackRecord?
    /// The track stored under `path`, if any.
    func track(path: String) throws -> TrackRecord?
    /// The tracks with these ids that exist, by ascending id.
    func tracks(ids: [TrackID]) throws -> [TrackRecord]
    /// Hands every track to `body` by ascending id.
    func forEachTrack(_ body: (TrackRecord) -> Void) throws
    /// Tracks whose file had these bytes (see `ContentHash`), by ascending id.
    func tracks(withContentHash hash: String) throws -> [TrackRecord]
    /// The ids of the tracks whose path is one of `folders` or lies below one (`PathPrefix`).
    func trackIDs(under folders: [String]) throws -> [TrackID]
    /// Groups of two or more tracks with the same non-empty content fingerprint, each by ascending id, the groups
    /// ordered by fingerprint.
    func copyGroups() throws -> [[TrackID]]
    /// The stored timbre profiles (`IndexBatch.ModelEmbedding.timbre`) of those of `tracks` that have one by
    /// `model`.
    func timbres(tracks: [TrackID], model: Int64) throws -> [TrackID: [Float]]
    /// The kinds (`IndexBatch.ModelEmbedding.segmentVersion`) of the segment embeddings stored by `model`: empty
    /// when no track has any.
    func segmentVersions(model: Int64) throws -> Set<Int>
    /// The stored per-segment embeddings of `track` by `model`, in segment order (empty if none were kept).
    func segments(track: TrackID, model: Int64) throws -> [Embedding]
    /// The stored per-segment embeddings of `track` by `model` if they are of kind `version`; else empty.
    func segments(track: TrackID, model: Int64, version: Int) throws -> [Embedding]
    /// The number of tracks and the newest `updated_at` among them (an export's resume check).
    func updateStamp() throws -> (tracks: Int, newestUpdate: Double)
}

extension IndexView: IndexReading {
    public func embeddingModels() throws -> [ModelUsage] { try store.embeddingModels() }
}
