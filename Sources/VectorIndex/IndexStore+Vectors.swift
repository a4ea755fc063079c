import Foundation
import GRDB
public import RetrieveCore

// Reading vectors: whole-model matrices for search, single embeddings and segments.
extension IndexStore {
    /// Every embedding of model `model`, by ascending track id, as one contiguous matrix (rows = tracks).
    ///
    /// One read transaction, so ids and rows always match. The vectors come from the model's chunks
    /// (`VectorChunks`: one sequential pass, a BLOB per 2048 vectors), or from the per-track rows if a chunk is
    /// damaged. Throws `corruptVector` if a row's BLOB length is not dimensions × 4.
    ///
    /// - Complexity: O(tracks × dimensions); memory 4 × dimensions bytes per track plus the ids.
    public func loadVectors(model: Int64) throws -> (ids: [TrackID], vectors: Matrix) {
        try read { db in try Self.loadVectors(db, model: model) }
    }

    /// `model`'s vectors read row by row from `embeddings`, the source of truth: the reference that the chunks
    /// must always equal (tests compare the two after kills), and the fallback for a damaged chunk.
    public func vectorsFromRows(model: Int64) throws -> (ids: [TrackID], vectors: Matrix) {
        try read { db in try Self.vectorsFromRows(db, model: model, dimensions: Self.dimensions(db, model: model)) }
    }

    static func loadVectors(_ db: Database, model: Int64) throws -> (ids: [TrackID], vectors: Matrix) {
        let dimensions = try dimensions(db, model: model)
        if let chunked = try VectorChunks.read(db, model: model, dimensions: dimensions) { return chunked }
        return try vectorsFromRows(db, model: model, dimensions: dimensions)
    }

    private static func dimensions(_ db: Database, model: Int64) throws -> Int {
        guard let dimensions = try ModelRow.fetchOne(db, key: model)?.dimensions else {
            throw IndexError.unknownModel(id: model)
        }
        return dimensions
    }

    /// Streams the BLOBs through a cursor straight into huge-page Float storage: no record per row.
    private static func vectorsFromRows(
        _ db: Database, model: Int64, dimensions: Int
    ) throws
        -> (ids: [TrackID], vectors: Matrix)
    {
        let count = try EmbeddingRow.filter(EmbeddingRow.Columns.modelID == model).fetchCount(db)
        var ids = [TrackID]()
        ids.reserveCapacity(count)
        var storage = HugePages.zeroedFloats(count: count * dimensions)
        let rows = try Row.fetchCursor(
            db, sql: "SELECT track_id, vector FROM embeddings WHERE model_id = ? ORDER BY track_id",
            arguments: [model])
        try storage.withUnsafeMutableBufferPointer { out in
            var r = 0
            while let row = try rows.next() {
                guard r < count else { break }  // rows committed after the count cannot appear in one transaction
                let id: Int64 = row["track_id"]
                try row.withUnsafeData(named: "vector") { data in
                    let bytes = data?.count ?? 0
                    guard let data, bytes == dimensions * 4 else {
                        throw IndexError.corruptVector(trackID: id, bytes: bytes, expected: dimensions * 4)
                    }
                    data.withUnsafeBytes { raw in
                        VectorCodec.decode(
                            raw,
                            into: UnsafeMutableBufferPointer(rebasing: out[(r * dimensions)..<((r + 1) * dimensions)]))
                    }
                }
                ids.append(TrackID(id))
                r += 1
            }
        }
        return (ids, Matrix(rows: count, columns: dimensions, storage: storage))
    }

    /// The embedding of `track` by `model`, if stored.
    public func embedding(track: TrackID, model: Int64) throws -> Embedding? {
        try read { db in
            try EmbeddingRow.fetchOne(
                db,
                key: [
                    EmbeddingRow.Columns.trackID.rawValue: track.rawValue, EmbeddingRow.Columns.modelID.rawValue: model,
                ]
            ).map { Embedding(unchecked: VectorCodec.decode($0.vector)) }
        }
    }

    /// The ids of the tracks whose embedding by `model` carries a timbre profile.
    public func tracksWithTimbre(model: Int64) throws -> Set<TrackID> {
        try read { db in
            Set(
                try Int64.fetchAll(
                    db, sql: "SELECT track_id FROM embeddings WHERE model_id = ? AND timbre IS NOT NULL",
                    arguments: [model]
                ).map(TrackID.init))
        }
    }

    /// The stored timbre profiles (`IndexBatch.ModelEmbedding.timbre`) of those of `tracks` that have one by
    /// `model`.
    ///
    /// - Complexity: one primary-key look-up per track.
    public func timbres(tracks: [TrackID], model: Int64) throws -> [TrackID: [Float]] {
        try read { db in try Self.timbres(db, tracks: tracks, model: model) }
    }

    static func timbres(_ db: Database, tracks: [TrackID], model: Int64) throws -> [TrackID: [Float]] {
        let statement = try db.cachedStatement(
            sql: "SELECT timbre FROM embeddings WHERE track_id = ? AND model_id = ? AND timbre IS NOT NULL")
        var out: [TrackID: [Float]] = [:]
        for track in tracks {
            if let data = try Data.fetchOne(statement, arguments: [track.rawValue, model]) {
                out[track] = VectorCodec.decode(data)
            }
        }
        return out
    }

    /// The ids of the tracks that have stored segment embeddings of kind `version` by `model`.
    public func tracksWithSegments(model: Int64, version: Int) throws -> Set<TrackID> {
        try read { db in
            Set(
                try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT s.track_id FROM segment_embeddings s
                        JOIN embeddings e ON e.track_id = s.track_id AND e.model_id = s.model_id
                        WHERE s.model_id = ? AND e.segment_version = ?
                        """, arguments: [model, version]
                ).map(TrackID.init))
        }
    }

    /// The kinds of the segment embeddings stored by `model` (empty: none).
    public func segmentVersions(model: Int64) throws -> Set<Int> {
        try read { db in try Self.segmentVersions(db, model: model) }
    }

    static func segmentVersions(_ db: Database, model: Int64) throws -> Set<Int> {
        Set(
            try Int.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT e.segment_version FROM embeddings e
                    WHERE e.model_id = ? AND EXISTS (
                        SELECT 1 FROM segment_embeddings s WHERE s.track_id = e.track_id AND s.model_id = e.model_id)
                    """, arguments: [model]))
    }

    static func segments(_ db: Database, track: TrackID, model: Int64, version: Int) throws -> [Embedding] {
        try Data.fetchAll(
            db,
            sql: """
                SELECT s.vector FROM segment_embeddings s
                JOIN embeddings e ON e.track_id = s.track_id AND e.model_id = s.model_id
                WHERE s.track_id = ? AND s.model_id = ? AND e.segment_version = ? ORDER BY s.idx
                """, arguments: [track.rawValue, model, version]
        ).map { Embedding(unchecked: VectorCodec.decode($0)) }
    }

    /// The stored per-segment embeddings of `track` by `model`, in segment order (empty if none were kept).
    public func segments(track: TrackID, model: Int64) throws -> [Embedding] {
        try read { db in try Self.segments(db, track: track, model: model) }
    }

    static func segments(_ db: Database, track: TrackID, model: Int64) throws -> [Embedding] {
        try SegmentRow.filter(SegmentRow.Columns.trackID == track.rawValue && SegmentRow.Columns.modelID == model)
            .order(SegmentRow.Columns.index).fetchAll(db)
            .map { Embedding(unchecked: VectorCodec.decode($0.vector)) }
    }
}
