import Foundation
import GRDB
public import RetrieveCore

// Writing analysed tracks: batches, moves, labels.
extension IndexStore {
    /// Commits one batch in one transaction: upserts its tracks (matched by path) and their embeddings,
    /// clears the failure rows of those paths, and records the batch's failures. Returns the tracks' ids in
    /// item order.
    ///
    /// A track whose `contentHash` changed loses every stored embedding before the batch's are written, so
    /// vectors of old bytes never survive under other models. On any error (unknown model, wrong vector size,
    /// SQLite error) nothing of the batch is written.
    @discardableResult
    public func commit(_ batch: IndexBatch) throws -> [TrackID] {
        if batch.isEmpty { return [] }
        let now = Date().timeIntervalSince1970
        let count = batch.items.count + batch.failures.count
        return try write("committing a batch of \(count) file(s)") { db in
            var models: [Int64: ModelVersion] = [:]
            var ids: [TrackID] = []
            ids.reserveCapacity(batch.items.count)
            for item in batch.items {
                let id = try Self.upsertTrack(db, item.track, now: now)
                for embedding in item.embeddings {
                    let model = try models[embedding.modelID] ?? Self.modelVersion(db, id: embedding.modelID)
                    models[embedding.modelID] = model
                    try Self.store(db, embedding, track: id, path: item.track.path, model: model, now: now)
                }
                try FailureRow.deleteOne(db, key: item.track.path)
                ids.append(TrackID(id))
            }
            for failure in batch.failures {
                try FailureRow(failure).upsert(db)
            }
            return ids
        }
    }

    /// Inserts `track`, or updates the track at its path (keeping id and `added_at`); returns the row id.
    /// A changed content hash drops every embedding of the old bytes.
    private static func upsertTrack(_ db: Database, _ track: TrackRecord, now: Double) throws -> Int64 {
        if var existing = try TrackRow.filter(TrackRow.Columns.path == track.path).fetchOne(db) {
            let oldHash = existing.contentHash
            existing.update(from: track, now: now)
            try existing.update(db)
            if oldHash != track.contentHash {
                try EmbeddingRow.filter(EmbeddingRow.Columns.trackID == existing.id!).deleteAll(db)
            }
            return existing.id!
        }
        var row = TrackRow(track, now: now)
        row.id = nil  // a new path is a new track, even for a record read from another one
        try row.insert(db)
        return row.id!
    }

    private static func modelVersion(_ db: Database, id: Int64) throws -> ModelVersion {
        guard let row = try ModelRow.fetchOne(db, key: id) else { throw IndexError.unknownModel(id: id) }
        return row.version
    }

    /// Writes one model's embedding of track `track` (replacing an earlier one) and its segments.
    private static func store(
        _ db: Database, _ e: IndexBatch.ModelEmbedding, track: Int64, path: String, model: ModelVersion, now: Double
    ) throws {
        for v in [e.embedding] + e.segments where v.dimensions != model.dimensions {
            throw IndexError.dimensionMismatch(
                path: path, model: model.description, expected: model.dimensions, found: v.dimensions)
        }
        try EmbeddingRow(
            trackID: track, modelID: e.modelID, vector: VectorCodec.encode(e.embedding.values),
            segmentCount: e.segmentCount, createdAt: now, analysisVersion: e.analysisVersion,
            timbre: e.timbre.map(VectorCodec.encode), segmentVersion: e.segmentVersion
        ).upsert(db)
        try SegmentRow.filter(SegmentRow.Columns.trackID == track && SegmentRow.Columns.modelID == e.modelID)
            .deleteAll(db)
        for (index, segment) in e.segments.enumerated() {
            try SegmentRow(trackID: track, modelID: e.modelID, index: index, vector: VectorCodec.encode(segment.values))
                .insert(db)
        }
    }

    /// Records that track `id` now lives at `newPath` (a moved file recognised by its content hash), keeping
    /// its embeddings. Returns whether the track existed; throws `pathTaken` if another track has `newPath`.
    @discardableResult
    public func moveTrack(id: TrackID, to newPath: String, size: Int64, modificationTime: Double) throws -> Bool {
        try write("moving track \(id) to \(newPath)") { db in
            if let other = try TrackRow.filter(TrackRow.Columns.path == newPath).fetchOne(db), other.id != id.rawValue {
                throw IndexError.pathTaken(path: newPath)
            }
            guard var row = try TrackRow.fetchOne(db, key: id.rawValue) else { return false }
            row.path = newPath
            row.size = size
            row.modificationTime = modificationTime
            row.updatedAt = Date().timeIntervalSince1970
            try row.update(db)
            try FailureRow.deleteOne(db, key: newPath)
            return true
        }
    }

    /// Sets the class label of the tracks at these paths (evaluation and `retrieve map` colour by it), in one
    /// transaction. Paths not in the index are ignored. Returns how many tracks changed.
    @discardableResult
    public func setLabels(_ labels: [String: String]) throws -> Int {
        try write("setting the labels of \(labels.count) track(s)") { db in
            var changed = 0
            for (path, label) in labels {
                try db.execute(
                    sql: "UPDATE tracks SET label = ? WHERE path = ? AND label IS NOT ?",
                    arguments: [label, path, label])
                changed += db.changesCount
            }
            return changed
        }
    }
}
