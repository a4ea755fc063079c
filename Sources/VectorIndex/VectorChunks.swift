import Foundation
import GRDB
import RetrieveCore

/// Every model's vectors packed into a few large BLOBs, kept in step with the per-track `embeddings` rows in
/// the same SQLite transactions, so that a search reads a library in one sequential pass.
///
/// The `embeddings` rows stay the source of truth; `vector_chunks` is derived from them. Each chunk holds up to
/// `capacity(dimensions:)` consecutive (by track id) vectors of one model: `track_ids` (int64 LE) and `vectors`
/// (float32 LE, `VectorCodec`'s layout, rows in the same order). Chunks of one model never overlap in track ids
/// and are read in `first_track_id` order, so the result is ordered by track id as the per-row read is.
///
/// How they stay in step: triggers on `embeddings` (insert, update, delete, cascades included) record every
/// touched (model, track) in `vector_changes` inside the writer's own transaction; `fold(_:)` runs at the end
/// of every `IndexStore` write transaction, rewrites the chunks those tracks fall in from the current rows and
/// empties the log. A kill at any moment therefore leaves either the whole transaction (rows, chunks, empty
/// log) or none of it. A reader still merges a non-empty log (a file written by some other SQLite client), so
/// chunks plus log always equal the rows; `IndexStore.vectorsFromRows` is the reference read that tests compare
/// against, and the fallback when a chunk is damaged.
enum VectorChunks {
    /// Bytes of vectors per chunk: 1 MiB (2048 vectors of 128 dimensions). Appending a batch rewrites at most
    /// the last chunk (≤ 1 MiB) plus the new ones; a search reads one BLOB per 2048 vectors.
    static let chunkBytes = 1 << 20

    static func capacity(dimensions: Int) -> Int { max(1, chunkBytes / max(1, dimensions * 4)) }

    /// Folds every pending change of `vector_changes` into `vector_chunks`, then empties the log.
    ///
    /// - Complexity: O(changed tracks + vectors in the chunks they fall in); O(1) with no change.
    static func fold(_ db: Database) throws {
        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM vector_changes)") == true else { return }
        for model in try Int64.fetchAll(db, sql: "SELECT DISTINCT model_id FROM vector_changes") {
            if let dimensions = try Int.fetchOne(
                db, sql: "SELECT dimensions FROM models WHERE id = ?", arguments: [model])
            {
                try fold(db, model: model, dimensions: dimensions)
            }
            try db.execute(sql: "DELETE FROM vector_changes WHERE model_id = ?", arguments: [model])
        }
    }

    /// A chunk's key and id range, read without touching its BLOBs.
    private struct Extent {
        var first: Int64
        var last: Int64
    }

    private static func fold(_ db: Database, model: Int64, dimensions: Int) throws {
        let extents = try Row.fetchAll(
            db,
            sql: "SELECT first_track_id, last_track_id FROM vector_chunks WHERE model_id = ? ORDER BY first_track_id",
            arguments: [model]
        ).map { Extent(first: $0[0], last: $0[1]) }
        if extents.isEmpty { return try rebuild(db, model: model, dimensions: dimensions) }
        let changed = try Int64.fetchAll(
            db, sql: "SELECT track_id FROM vector_changes WHERE model_id = ? ORDER BY track_id", arguments: [model])
        // Each changed id goes to the last chunk starting at or before it (the first chunk for smaller ids).
        var groups: [Int: [Int64]] = [:]
        var e = 0
        for id in changed {
            while e + 1 < extents.count && extents[e + 1].first <= id { e += 1 }
            groups[e, default: []].append(id)
        }
        for (index, ids) in groups.sorted(by: { $0.key < $1.key }) {
            var rows = try chunkRows(db, model: model, extent: extents[index], dimensions: dimensions)
            try db.execute(
                sql: "DELETE FROM vector_chunks WHERE model_id = ? AND first_track_id = ?",
                arguments: [model, extents[index].first])
            let touched = Set(ids)
            rows.removeAll { touched.contains($0.id) }
            rows += try currentRows(db, model: model, ids: ids)
            rows.sort { $0.id < $1.id }
            try insert(db, model: model, rows: rows, capacity: capacity(dimensions: dimensions))
        }
    }

    /// One vector of a chunk, its bytes as stored.
    typealias Entry = (id: Int64, vector: Data)

    /// Every model's chunks rebuilt from its rows, streamed in track order (a new model, the migration from
    /// per-row storage, or a model whose chunks were all removed).
    private static func rebuild(_ db: Database, model: Int64, dimensions: Int) throws {
        try db.execute(sql: "DELETE FROM vector_chunks WHERE model_id = ?", arguments: [model])
        let capacity = capacity(dimensions: dimensions)
        let rows = try Row.fetchCursor(
            db, sql: "SELECT track_id, vector FROM embeddings WHERE model_id = ? ORDER BY track_id", arguments: [model])
        var pending: [Entry] = []
        pending.reserveCapacity(capacity)
        while let row = try rows.next() {
            pending.append((row[0], row[1]))
            if pending.count == capacity {
                try insert(db, model: model, rows: pending, capacity: capacity)
                pending.removeAll(keepingCapacity: true)
            }
        }
        try insert(db, model: model, rows: pending, capacity: capacity)
    }

    private static func chunkRows(_ db: Database, model: Int64, extent: Extent, dimensions: Int) throws -> [Entry] {
        let first = extent.first
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT track_ids, vectors FROM vector_chunks WHERE model_id = ? AND first_track_id = ?",
                arguments: [model, first])
        else { return [] }
        let idBytes: Data = row[0], vectorBytes: Data = row[1]
        let count = idBytes.count / 8, width = dimensions * 4
        guard idBytes.count == count * 8, vectorBytes.count == count * width else {
            // A damaged chunk: rebuild its range from the rows, which are the source of truth.
            return try rowsInRange(db, model: model, from: first, through: extent.last)
        }
        let ids = decodeIDs(idBytes)
        return ids.enumerated().map { (i, id) in (id, vectorBytes.subdata(in: (i * width)..<((i + 1) * width))) }
    }

    private static func rowsInRange(_ db: Database, model: Int64, from: Int64, through: Int64) throws -> [Entry] {
        try Row.fetchAll(
            db,
            sql: "SELECT track_id, vector FROM embeddings WHERE model_id = ? AND track_id BETWEEN ? AND ?",
            arguments: [model, from, through]
        ).map { ($0[0], $0[1]) }
    }

    /// The current vectors of `ids` (those still stored: a deleted embedding simply has none).
    static func currentRows(_ db: Database, model: Int64, ids: [Int64]) throws -> [Entry] {
        let statement = try db.cachedStatement(
            sql: "SELECT vector FROM embeddings WHERE track_id = ? AND model_id = ?")
        var rows: [Entry] = []
        rows.reserveCapacity(ids.count)
        for id in ids {
            if let vector = try Data.fetchOne(statement, arguments: [id, model]) { rows.append((id, vector)) }
        }
        return rows
    }

    /// Writes `rows` (ascending ids) as chunks of at most `capacity` vectors, all full but the last.
    private static func insert(_ db: Database, model: Int64, rows: [Entry], capacity: Int) throws {
        for start in stride(from: 0, to: rows.count, by: capacity) {
            let piece = rows[start..<min(rows.count, start + capacity)]
            var ids = Data(capacity: piece.count * 8)
            var vectors = Data(capacity: piece.reduce(0) { $0 + $1.vector.count })
            for entry in piece {
                withUnsafeBytes(of: entry.id.littleEndian) { ids.append(contentsOf: $0) }
                vectors.append(entry.vector)
            }
            try db.execute(
                sql: """
                    INSERT INTO vector_chunks (model_id, first_track_id, last_track_id, count, track_ids, vectors)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [model, piece.first!.id, piece.last!.id, piece.count, ids, vectors])
        }
    }

    static func decodeIDs(_ bytes: Data) -> [Int64] {
        let count = bytes.count / 8
        return [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: raw[0..<(count * 8)]))
            }
            #if _endian(big)
                for i in 0..<count { buffer[i] = Int64(littleEndian: buffer[i]) }
            #endif
            initialized = count
        }
    }
}
