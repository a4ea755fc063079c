import Foundation
import GRDB
internal import GRDBSQLite
import RetrieveCore

// Reading: one sequential pass over a model's chunks.
extension VectorChunks {
    /// Every vector of `model` by ascending track id, read from the chunks (plus any logged change), or `nil`
    /// when a chunk is damaged (its BLOB lengths disagree with its count): the caller then reads the rows.
    ///
    /// The BLOBs are read with SQLite's incremental BLOB I/O straight into huge-page Float storage that is never
    /// zero-filled first: SQLite copies each overflow page from the file into place, with no buffer in between.
    ///
    /// - Complexity: O(vectors × dimensions) bytes copied, one row per chunk; memory 4 × dimensions bytes per
    ///   vector plus 8 per id.
    static func read(_ db: Database, model: Int64, dimensions: Int) throws -> (ids: [TrackID], vectors: Matrix)? {
        let chunks = try Row.fetchAll(
            db, sql: "SELECT rowid, count FROM vector_chunks WHERE model_id = ? ORDER BY first_track_id",
            arguments: [model]
        ).map { (rowid: $0[0] as Int64, count: $0[1] as Int) }
        let total = chunks.reduce(0) { $0 + $1.count }
        var ids = [Int64](repeating: 0, count: total)
        var intact = true
        let idBlob = ChunkBlob(db, column: "track_ids"), vectorBlob = ChunkBlob(db, column: "vectors")
        let storage = try HugePages.floats(count: total * dimensions) { out in
            var filled = 0
            for chunk in chunks where intact {
                let rows = filled..<(filled + chunk.count)
                intact =
                    try ids.withUnsafeMutableBytes {
                        try idBlob.read(
                            chunk.rowid,
                            into: UnsafeMutableRawBufferPointer(
                                rebasing: $0[(rows.lowerBound * 8)..<(rows.upperBound * 8)]))
                    }
                    && vectorBlob.read(
                        chunk.rowid,
                        into: UnsafeMutableRawBufferPointer(
                            UnsafeMutableBufferPointer(
                                rebasing: out[(rows.lowerBound * dimensions)..<(rows.upperBound * dimensions)])))
                filled += chunk.count
            }
        }
        guard intact else { return nil }
        #if _endian(big)
            ids = ids.map { Int64(littleEndian: $0) }
            let storage = storage.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
        let changed = try Int64.fetchAll(
            db, sql: "SELECT track_id FROM vector_changes WHERE model_id = ? ORDER BY track_id", arguments: [model])
        let vectors = Matrix(rows: total, columns: dimensions, storage: storage)
        if changed.isEmpty { return (ids.map(TrackID.init), vectors) }
        return try merging(db, model: model, ids: ids, vectors: vectors, changed: changed)
    }

    /// The chunks of `model` with no change logged against them, or nil when a change is logged (a write by
    /// another SQLite client): those can be streamed as they are.
    private static func streamable(_ db: Database, model: Int64) throws -> [(rowid: Int64, count: Int)]? {
        let pending = try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM vector_changes WHERE model_id = ?)", arguments: [model])!
        if pending { return nil }
        return try Row.fetchAll(
            db, sql: "SELECT rowid, count FROM vector_chunks WHERE model_id = ? ORDER BY first_track_id",
            arguments: [model]
        ).map { (rowid: $0[0] as Int64, count: $0[1] as Int) }
    }

    /// The track ids of `model`'s vectors in row order, from the chunks' id BLOBs alone (8 bytes per vector);
    /// nil when a change is logged or a chunk is damaged (then `read` gives them with the vectors).
    static func ids(_ db: Database, model: Int64) throws -> [TrackID]? {
        guard let chunks = try streamable(db, model: model) else { return nil }
        var ids = [Int64](repeating: 0, count: chunks.reduce(0) { $0 + $1.count })
        let blob = ChunkBlob(db, column: "track_ids")
        var filled = 0
        for chunk in chunks {
            let intact = try ids.withUnsafeMutableBytes {
                try blob.read(
                    chunk.rowid,
                    into: UnsafeMutableRawBufferPointer(rebasing: $0[(filled * 8)..<((filled + chunk.count) * 8)]))
            }
            if !intact { return nil }
            filled += chunk.count
        }
        return ids.map { TrackID(Int64(littleEndian: $0)) }
    }

    /// Hands `model`'s vectors to `body` chunk by chunk, in row order, through one reused buffer (a search that
    /// keeps no copy of the library: nothing but one chunk is ever in memory). Returns false, having called `body`
    /// for none or only some chunks, when a change is logged or a chunk is damaged: the caller then starts again
    /// from `read`.
    static func stream(
        _ db: Database, model: Int64, dimensions: Int, _ body: (UnsafeBufferPointer<Float>, Int) throws -> Void
    ) throws -> Bool {
        guard let chunks = try streamable(db, model: model) else { return false }
        var buffer = [Float](repeating: 0, count: (chunks.map(\.count).max() ?? 0) * dimensions)
        let blob = ChunkBlob(db, column: "vectors")
        var row = 0
        for chunk in chunks {
            let floats = chunk.count * dimensions
            let intact = try buffer.withUnsafeMutableBufferPointer {
                try blob.read(
                    chunk.rowid,
                    into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: $0[0..<floats])))
            }
            if !intact { return false }
            #if _endian(big)
                for i in 0..<floats { buffer[i] = Float(bitPattern: UInt32(littleEndian: buffer[i].bitPattern)) }
            #endif
            try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<floats]), row) }
            row += chunk.count
        }
        return true
    }

    /// `ids`/`vectors` from the chunks with the logged tracks replaced by their current rows (or dropped).
    private static func merging(
        _ db: Database, model: Int64, ids: [Int64], vectors: Matrix, changed: [Int64]
    ) throws -> (ids: [TrackID], vectors: Matrix) {
        let touched = Set(changed)
        var entries: [(id: Int64, values: [Float])] = ids.enumerated().compactMap { row, id in
            touched.contains(id) ? nil : (id, vectors.row(row))
        }
        for (id, vector) in try currentRows(db, model: model, ids: changed) {
            guard vector.count == vectors.columns * 4 else {
                throw IndexError.corruptVector(trackID: id, bytes: vector.count, expected: vectors.columns * 4)
            }
            entries.append((id, VectorCodec.decode(vector)))
        }
        entries.sort { $0.id < $1.id }
        var merged = Matrix(rows: 0, columns: vectors.columns)
        for entry in entries { merged.appendRow(entry.values) }
        return (entries.map { TrackID($0.id) }, merged)
    }
}

/// SQLite's incremental BLOB reader on one column of `vector_chunks`, moved from row to row.
private final class ChunkBlob {
    private let db: Database
    private let column: String
    private var handle: OpaquePointer?

    init(_ db: Database, column: String) {
        self.db = db
        self.column = column
    }

    deinit { sqlite3_blob_close(handle) }

    /// Reads the BLOB of row `rowid` into `destination`; false when its length differs (a damaged chunk).
    func read(_ rowid: Int64, into destination: UnsafeMutableRawBufferPointer) throws -> Bool {
        var code: Int32
        if let handle {
            code = sqlite3_blob_reopen(handle, rowid)
        } else {
            code = sqlite3_blob_open(db.sqliteConnection, "main", "vector_chunks", column, rowid, 0, &handle)
        }
        guard code == SQLITE_OK, let handle else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
        guard Int(sqlite3_blob_bytes(handle)) == destination.count else { return false }
        if destination.isEmpty { return true }
        code = sqlite3_blob_read(handle, destination.baseAddress, Int32(destination.count), 0)
        guard code == SQLITE_OK else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
        return true
    }
}
