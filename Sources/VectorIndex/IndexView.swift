import Foundation
import GRDB
public import RetrieveCore

/// A read-only view of an index frozen at one commit: every read through it sees the same state, however
/// many commits other processes make meanwhile.
///
/// A query reads a model's vectors through the view, then only the track records it returns or filters on,
/// later and one by one, and those must belong to the same state as the vectors (a track removed by a
/// concurrent `retrieve index --prune` in between would otherwise have a vector and no record). On a WAL-mode
/// pool the view holds one SQLite read transaction open (GRDB's `DatabaseSnapshot`); an index opened immutable
/// cannot change, and the view reads it directly. Keep a view only as long as its answers are wanted: an open
/// read transaction stops checkpoints from recycling the log past it.
public final class IndexView: Sendable {
    /// The database file.
    public let path: String
    let store: IndexStore
    private let reader: any DatabaseReader
    private let frozen: Bool

    /// A view of `store`: frozen at its latest commit, or (`frozen: false`) reading the latest commit each time,
    /// which holds no transaction open between reads (for a long-lived engine that keeps every record in memory
    /// and only looks up extras later).
    ///
    /// - Throws: `IndexError.database` when no read transaction can be started.
    public init(store: IndexStore, frozen: Bool = true) throws {
        self.store = store
        self.frozen = frozen
        path = store.path
        if frozen, let pool = store.database as? DatabasePool {
            reader = try store.wrap(nil) { try pool.makeSnapshot() }
        } else {
            reader = store.database
        }
    }

    /// One read. A frozen view may be read from within its own read (a streamed scan's filter looks up the
    /// records of candidates while the scan reads chunks): GRDB's reentrant read is safe there, since every read
    /// of a snapshot sees the same commit anyway.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try store.wrap(nil) { frozen ? try reader.unsafeReentrantRead(body) : try reader.read(body) }
    }

    /// The row id of the model with this weights digest, if registered.
    public func modelID(digest: String) throws -> Int64? {
        try read { db in try Int64.fetchOne(db, sql: "SELECT id FROM models WHERE digest = ?", arguments: [digest]) }
    }

    /// Every vector of `model` by ascending track id (see `IndexStore.loadVectors(model:)`).
    public func vectors(model: Int64) throws -> (ids: [TrackID], vectors: Matrix) {
        try read { db in try IndexStore.loadVectors(db, model: model) }
    }

    /// The track ids of `model`'s vectors in row order, without the vectors (read from the chunks' id BLOBs).
    public func vectorIDs(model: Int64) throws -> [TrackID] {
        try read { db in try VectorChunks.ids(db, model: model) ?? IndexStore.loadVectors(db, model: model).ids }
    }

    /// Hands `model`'s vectors to `body` block by block with the row of each block's first vector, in the row
    /// order of `vectors(model:)`, keeping only one block in memory. Should the chunks need merging with logged
    /// changes or be damaged, `body` is told to start afresh (`restart` true) and gets every vector in one block.
    ///
    /// - Parameters:
    ///   - model: the model's row id.
    ///   - dimensions: its vector length.
    ///   - body: `(vectors, firstRow, restart)`.
    /// - Throws: `IndexError` when the index cannot be read, and what `body` throws.
    public func streamVectors(
        model: Int64, dimensions: Int, _ body: (UnsafeBufferPointer<Float>, Int, Bool) throws -> Void
    ) throws {
        try read { db in
            if try VectorChunks.stream(db, model: model, dimensions: dimensions, { try body($0, $1, false) }) {
                return
            }
            let all = try IndexStore.loadVectors(db, model: model).vectors
            try all.storage.withUnsafeBufferPointer { try body($0, 0, true) }
        }
    }

    /// The embedding of `track` by `model`, if stored.
    public func embedding(track: TrackID, model: Int64) throws -> Embedding? {
        try read { db in
            try Data.fetchOne(
                db, sql: "SELECT vector FROM embeddings WHERE track_id = ? AND model_id = ?",
                arguments: [track.rawValue, model]
            ).map { Embedding(unchecked: VectorCodec.decode($0)) }
        }
    }

    /// Whether any model other than `model` has vectors (all models when `model` is nil).
    public func otherModelsHaveVectors(than model: Int64?) throws -> Bool {
        try read { db in
            // Two range seeks on `embeddings_by_model`; `model_id IS NOT ?` could walk this model's million entries.
            guard let model else { return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM embeddings)")! }
            return try Bool.fetchOne(
                db,
                sql: "SELECT EXISTS (SELECT 1 FROM embeddings WHERE model_id < ?1) "
                    + "OR EXISTS (SELECT 1 FROM embeddings WHERE model_id > ?1)",
                arguments: [model])!
        }
    }

    /// The number of tracks.
    public func trackCount() throws -> Int {
        try read { db in try TrackRow.fetchCount(db) }
    }

    /// The track with row id `id`, if any.
    public func track(id: TrackID) throws -> TrackRecord? {
        try read { db in try TrackRow.fetchOne(db, key: id.rawValue)?.record }
    }

    /// The track stored under `path`, if any.
    public func track(path: String) throws -> TrackRecord? {
        try read { db in try TrackRow.filter(TrackRow.Columns.path == path).fetchOne(db)?.record }
    }

    /// The tracks with these ids that exist, by ascending id.
    ///
    /// - Complexity: one indexed look-up per id, in statements of up to 500 ids.
    public func tracks(ids: [TrackID]) throws -> [TrackRecord] {
        try read { db in
            var records: [TrackRecord] = []
            records.reserveCapacity(ids.count)
            for start in stride(from: 0, to: ids.count, by: 500) {
                let keys = ids[start..<min(ids.count, start + 500)].map(\.rawValue)
                records += try TrackRow.fetchAll(db, keys: keys).map(\.record)
            }
            return records.sorted { $0.id!.rawValue < $1.id!.rawValue }
        }
    }

    /// Every track, by ascending id.
    public func allTracks() throws -> [TrackRecord] {
        try read(IndexStore.allTracks)
    }

    /// Hands every track to `body` by ascending id, one at a time: a caller that keeps them in its own form
    /// never holds them all as records (nor GRDB's rows) at once.
    ///
    /// - Throws: `IndexError` when the tracks cannot be read.
    public func forEachTrack(_ body: (TrackRecord) -> Void) throws {
        try read { db in
            let rows = try TrackRow.order(TrackRow.Columns.id).fetchCursor(db)
            while let row = try rows.next() { body(row.record) }
        }
    }

    /// Tracks whose file had these bytes (see `ContentHash`).
    public func tracks(withContentHash hash: String) throws -> [TrackRecord] {
        try read { db in
            try TrackRow.filter(TrackRow.Columns.contentHash == hash).order(TrackRow.Columns.id).fetchAll(db)
                .map(\.record)
        }
    }

    /// The ids of the tracks whose path is one of `folders` or lies below one (a byte-wise prefix ending at a
    /// `/` boundary, as `PathPrefix` matches), by a range scan of the path index.
    public func trackIDs(under folders: [String]) throws -> [TrackID] {
        try read { db in
            var ids: [Int64] = []
            for folder in folders {
                let range = PathPrefix(folder)
                ids += try Int64.fetchAll(
                    db, sql: "SELECT id FROM tracks WHERE path = ? OR (path >= ? AND path < ?)",
                    arguments: [range.folder, range.lowerBound, range.upperBound])
            }
            return ids.map(TrackID.init)
        }
    }

    /// Groups of two or more tracks with the same non-empty content fingerprint (byte-identical copies).
    ///
    /// - Complexity: one pass over the content-hash index.
    public func copyGroups() throws -> [[TrackID]] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, content_hash FROM tracks WHERE content_hash IN (
                        SELECT content_hash FROM tracks WHERE content_hash != ''
                        GROUP BY content_hash HAVING COUNT(*) > 1)
                    ORDER BY content_hash, id
                    """)
            var groups: [String: [TrackID]] = [:]
            for row in rows { groups[row[1], default: []].append(TrackID(row[0] as Int64)) }
            return groups.keys.sorted().map { groups[$0]! }
        }
    }

    /// The stored timbre profiles of those of `tracks` that have one by `model`.
    public func timbres(tracks: [TrackID], model: Int64) throws -> [TrackID: [Float]] {
        try read { db in try IndexStore.timbres(db, tracks: tracks, model: model) }
    }

    /// The kinds of the segment embeddings stored by `model` (empty: none).
    public func segmentVersions(model: Int64) throws -> Set<Int> {
        try read { db in try IndexStore.segmentVersions(db, model: model) }
    }

    /// The stored per-segment embeddings of `track` by `model` if they are of kind `version`; else empty.
    public func segments(track: TrackID, model: Int64, version: Int) throws -> [Embedding] {
        try read { db in try IndexStore.segments(db, track: track, model: model, version: version) }
    }

    /// The stored per-segment embeddings of `track` by `model`, in segment order (empty if none were kept).
    public func segments(track: TrackID, model: Int64) throws -> [Embedding] {
        try read { db in try IndexStore.segments(db, track: track, model: model) }
    }
}

/// A folder as a filter on paths: the folder itself, and every path below it, compared byte by byte (UTF-8),
/// so that `/music/a` does not match `/music/ab`. One definition for the index's range scan and for checking
/// a single path.
public struct PathPrefix: Sendable, Hashable {
    /// The folder without trailing `/` (`/` stays `/`).
    public let folder: String
    /// The folder with exactly one trailing `/`: every path below starts with it.
    public let lowerBound: String
    /// `lowerBound` with its final `/` replaced by `0`, the next byte: the end of the range of paths below.
    public let upperBound: String

    public init(_ folder: String) {
        var trimmed = folder
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.folder = trimmed
        lowerBound = trimmed == "/" ? "/" : trimmed + "/"
        upperBound = String(lowerBound.dropLast()) + "0"
    }

    /// Whether `path` is the folder or lies below it.
    public func contains(_ path: String) -> Bool {
        path == folder || path.utf8.starts(with: lowerBound.utf8)
    }
}

extension IndexView {
    /// The number of tracks and the newest `updated_at` among them: changes when a track is added, removed,
    /// moved or re-analysed (an export's resume check, beside its vectors).
    public func updateStamp() throws -> (tracks: Int, newestUpdate: Double) {
        try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM tracks")!
            return (row[0], row[1])
        }
    }
}
