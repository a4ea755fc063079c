import Foundation
import GRDB
public import RetrieveCore

// Reading tracks and failures.
extension IndexStore {
    /// The track stored under `path`, if any.
    public func track(path: String) throws -> TrackRecord? {
        try read { db in try TrackRow.filter(TrackRow.Columns.path == path).fetchOne(db)?.record }
    }

    /// The track with row id `id`, if any.
    public func track(id: TrackID) throws -> TrackRecord? {
        try read { db in try TrackRow.fetchOne(db, key: id.rawValue)?.record }
    }

    /// Tracks whose file had these bytes (see `ContentHash`): candidates for a moved file.
    public func tracks(withContentHash hash: String) throws -> [TrackRecord] {
        try read { db in
            try TrackRow.filter(TrackRow.Columns.contentHash == hash).order(TrackRow.Columns.id).fetchAll(db)
                .map(\.record)
        }
    }

    /// Every track, by ascending id.
    ///
    /// - Complexity: O(tracks); about 0.3 KB per track in memory.
    public func allTracks() throws -> [TrackRecord] {
        try read(Self.allTracks)
    }

    static func allTracks(_ db: Database) throws -> [TrackRecord] {
        try TrackRow.order(TrackRow.Columns.id).fetchAll(db).map(\.record)
    }

    /// The number of tracks.
    public func trackCount() throws -> Int {
        try read { db in try TrackRow.fetchCount(db) }
    }

    /// Tracks that have no embedding from model `model`: after a model change, exactly the ones to re-embed.
    public func tracksNeedingEmbedding(model: Int64) throws -> [TrackRecord] {
        try read { db in
            try TrackRow.fetchAll(
                db,
                sql: """
                    SELECT * FROM tracks WHERE NOT EXISTS (
                        SELECT 1 FROM embeddings e WHERE e.track_id = tracks.id AND e.model_id = ?)
                    ORDER BY id
                    """, arguments: [model]
            ).map(\.record)
        }
    }

    /// Tracks that have no embedding from model `model` made by analysis version `analysisVersion`: those never
    /// embedded by the model, and those whose vectors an older (or newer) decoder, resampler or front end made.
    /// Re-embedding exactly these after a model or analysis change brings the index up to date.
    public func tracksNeedingEmbedding(model: Int64, analysisVersion: Int) throws -> [TrackRecord] {
        try read { db in
            try TrackRow.fetchAll(
                db,
                sql: """
                    SELECT * FROM tracks WHERE NOT EXISTS (
                        SELECT 1 FROM embeddings e
                        WHERE e.track_id = tracks.id AND e.model_id = ? AND e.analysis_version = ?)
                    ORDER BY id
                    """, arguments: [model, analysisVersion]
            ).map(\.record)
        }
    }

    /// The analysis version that made `track`'s embedding by `model` (`FeatureConfiguration.analysisVersion` at
    /// the time), or nil if there is no such embedding.
    public func analysisVersion(track: TrackID, model: Int64) throws -> Int? {
        try read { db in
            try EmbeddingRow.fetchOne(
                db,
                key: [
                    EmbeddingRow.Columns.trackID.rawValue: track.rawValue,
                    EmbeddingRow.Columns.modelID.rawValue: model,
                ])?.analysisVersion
        }
    }

    // MARK: - Failures

    /// Every recorded failure, by path.
    public func failures() throws -> [FailureRecord] {
        try read { db in try FailureRow.order(FailureRow.Columns.path).fetchAll(db).map(\.record) }
    }

    /// The recorded failure of `path`, if any (the indexer skips a file that failed unchanged).
    public func failure(path: String) throws -> FailureRecord? {
        try read { db in try FailureRow.fetchOne(db, key: path)?.record }
    }
}
