import Foundation
import GRDB
public import RetrieveCore

// Reading and writing rows exactly as stored, page by page, for `retrieve migrate` (see RowTransfer.swift).
extension IndexStore {
    /// How many rows each table holds, read in one transaction.
    public func rowCounts() throws -> RowCounts {
        try read { db in
            func count(_ table: String) throws -> Int {
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
            }
            return RowCounts(
                models: try count("models"), tracks: try count("tracks"), embeddings: try count("embeddings"),
                segments: try count("segment_embeddings"), failures: try count("failures"))
        }
    }

    /// Every registered model, by id.
    public func storedModels() throws -> [ModelRecord] {
        try read { db in try ModelRow.order(ModelRow.Columns.id).fetchAll(db).map(\.record) }
    }

    /// Up to `limit` tracks with ids above `id`, by id.
    ///
    /// - Complexity: O(limit · log n) through the primary key, whatever `id` is.
    public func storedTracks(after id: Int64, limit: Int) throws -> [StoredTrack] {
        try read { db in
            try TrackRow.filter(TrackRow.Columns.id > id).order(TrackRow.Columns.id).limit(limit).fetchAll(db).map {
                StoredTrack(record: $0.record, addedAt: $0.addedAt, updatedAt: $0.updatedAt)
            }
        }
    }

    /// Up to `limit` embeddings after `key`, by (track, model).
    public func storedEmbeddings(after key: EmbeddingKey, limit: Int) throws -> [StoredEmbedding] {
        try read { db in
            try EmbeddingRow.fetchAll(
                db,
                sql: """
                    SELECT * FROM embeddings WHERE (track_id, model_id) > (?, ?)
                    ORDER BY track_id, model_id LIMIT ?
                    """, arguments: [key.trackID, key.modelID, limit]
            ).map {
                StoredEmbedding(
                    trackID: $0.trackID, modelID: $0.modelID, vector: $0.vector, segmentCount: $0.segmentCount,
                    createdAt: $0.createdAt, analysisVersion: $0.analysisVersion, timbre: $0.timbre,
                    segmentVersion: $0.segmentVersion)
            }
        }
    }

    /// Up to `limit` segment vectors after `key`, by (track, model, index).
    public func storedSegments(after key: SegmentKey, limit: Int) throws -> [StoredSegment] {
        try read { db in
            try SegmentRow.fetchAll(
                db,
                sql: """
                    SELECT * FROM segment_embeddings WHERE (track_id, model_id, idx) > (?, ?, ?)
                    ORDER BY track_id, model_id, idx LIMIT ?
                    """, arguments: [key.trackID, key.modelID, key.index, limit]
            ).map { StoredSegment(trackID: $0.trackID, modelID: $0.modelID, index: $0.index, vector: $0.vector) }
        }
    }

    /// Up to `limit` failures with paths after `path` (all of them from `nil`), by path in byte order.
    public func storedFailures(after path: String?, limit: Int) throws -> [FailureRecord] {
        try read { db in
            try FailureRow.fetchAll(
                db,
                sql: "SELECT * FROM failures WHERE ? IS NULL OR path > ? ORDER BY path LIMIT ?",
                arguments: [path, path, limit]
            ).map(\.record)
        }
    }

    /// Inserts rows exactly as given (ids, times and vector bytes kept), parents first, in one transaction: all
    /// of the batch or none of it. A row whose key exists already is an error, never an overwrite.
    public func insert(_ batch: RowBatch) throws {
        if batch.rowCount == 0 { return }
        try write("copying a batch of \(batch.rowCount) row(s)") { db in
            for model in batch.models {
                var row = ModelRow(model.version, configuration: model.configurationJSON, createdAt: model.createdAt)
                row.id = model.id
                try row.insert(db)
            }
            for track in batch.tracks {
                var row = TrackRow(track.record, now: track.addedAt)
                row.updatedAt = track.updatedAt
                try row.insert(db)
            }
            for e in batch.embeddings {
                try EmbeddingRow(
                    trackID: e.trackID, modelID: e.modelID, vector: e.vector, segmentCount: e.segmentCount,
                    createdAt: e.createdAt, analysisVersion: e.analysisVersion, timbre: e.timbre,
                    segmentVersion: e.segmentVersion
                ).insert(db)
            }
            for s in batch.segments {
                try SegmentRow(trackID: s.trackID, modelID: s.modelID, index: s.index, vector: s.vector).insert(db)
            }
            for failure in batch.failures { try FailureRow(failure).insert(db) }
        }
    }

    /// Deletes every track, model, vector and failure in one transaction, keeping the schema (for `retrieve
    /// migrate --replace`). Returns how many rows there were.
    @discardableResult
    public func removeAllRows() throws -> RowCounts {
        let counts = try rowCounts()
        try write("emptying the index") { db in
            for table in [
                "segment_embeddings", "embeddings", "vector_chunks", "vector_changes", "tracks", "models", "failures",
            ] {
                try db.execute(sql: "DELETE FROM \(table)")
            }
        }
        return counts
    }
}
