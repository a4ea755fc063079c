import Foundation
import GRDB
public import RetrieveCore

/// The on-disk index: one SQLite file holding tracks, models, embeddings and failures.
///
/// Wraps a GRDB `DatabasePool` in WAL mode: any number of readers (other processes included) see a
/// consistent snapshot while one writer commits, and a busy timeout (30 s) absorbs the short exclusive
/// moments of checkpoints and concurrent writers, so callers never see `SQLITE_BUSY`. Foreign keys are on;
/// deleting a track deletes its embeddings. The schema is migrated on open (unless read-only); a file that
/// is not SQLite, belongs to another application, or was written by a newer build is refused before
/// anything is written to it.
///
/// All methods are synchronous and thread-safe; each is one transaction.
public final class IndexStore: Sendable {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    private static let trackColumns =
        "id, path, size, mtime, content_hash, duration, sample_rate, channels, format, title, artist, album, genre, label"
    private static let modelColumns = "id, name, digest, dimensions, configuration, created_at"

    /// Opens (creating if needed, with its parent directory) the index at `path` and migrates its schema.
    ///
    /// With `readOnly`, the file must exist and be fully migrated, and nothing is ever written.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw IndexError.notADatabase(path: path) }
            try Self.inspectHeader(path: path)
            if let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber, size.intValue > 0
            {
                try Self.inspectSchema(path: path)
            }
        } else if readOnly {
            throw IndexError.missing(path: path)
        } else {
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw IndexError.database(
                    path: path, message: "cannot create directory \(parent.path): \(error.localizedDescription)")
            }
        }
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(30)
        configuration.label = path
        configuration.prepareDatabase { db in
            // In WAL mode NORMAL keeps every committed batch across a process kill; only a power cut can
            // lose the last commits, never corrupt the file.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw IndexError.notADatabase(path: path)
        } catch let error as DatabaseError {
            throw IndexError.database(path: path, message: Self.oneLine(error))
        }
        try wrap {
            let complete = try pool.read(Self.checkSchema)
            if readOnly {
                if !complete { throw IndexError.outdatedSchema(path: path) }
            } else {
                try Schema.migrator.migrate(pool)
            }
        }
    }

    /// Throws if the schema is newer or foreign; returns whether every known migration has been applied.
    private static func checkSchema(_ db: Database) throws -> Bool {
        let migrator = Schema.migrator
        let path = db.configuration.label ?? ""
        let applied: Set<String>
        do {
            applied = try migrator.appliedIdentifiers(db)
        } catch let error as DatabaseError where error.message?.contains("no such table: grdb_migrations") == true {
            // Another process is creating this index right now: it added GRDB's table after this connection
            // read the schema, so SQLite lists the table but the statement was compiled without it. Nothing is
            // complete yet.
            return false
        }
        let unknown = applied.subtracting(Schema.migrations.map(\.identifier))
        if !unknown.isEmpty {
            throw IndexError.newerSchema(
                path: path, found: "migrations \(unknown.sorted().joined(separator: ", "))",
                known: Schema.migrations.last!.identifier)
        }
        // GRDB creates its own `grdb_migrations` table before the first migration commits, so a reader that
        // opens a brand-new index in that moment sees that table alone: it is not another application's data.
        let tables = try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'")!
        if applied.isEmpty && tables > 0 { throw IndexError.notAnIndex(path: path, applicationID: 0) }
        return try migrator.hasCompletedMigrations(db)
    }

    /// Checks an existing file's schema through a read-only connection, which (unlike the pool's writer)
    /// never checkpoints the write-ahead log on close, so a refused file keeps every byte.
    ///
    /// Without a `-wal` file beside it the main file holds every commit, and the check opens it as an
    /// immutable URI so that SQLite creates no `-wal`/`-shm` files either (a plain read-only connection would
    /// create and leave both). With a `-wal` present (in use, or left by a crash) it reads through the log.
    private static func inspectSchema(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = path
        configuration.busyMode = .timeout(30)
        var openPath = path
        if !FileManager.default.fileExists(atPath: path + "-wal") {
            var escaped = ""
            for character in path.unicodeScalars {
                switch character {
                case "%": escaped += "%25"
                case "?": escaped += "%3F"
                case "#": escaped += "%23"
                default: escaped.unicodeScalars.append(character)
                }
            }
            openPath = "file:\(escaped)?immutable=1"
        }
        do {
            let queue = try DatabaseQueue(path: openPath, configuration: configuration)
            defer { try? queue.close() }
            _ = try queue.read(checkSchema)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw IndexError.notADatabase(path: path)
        } catch let error as DatabaseError {
            throw IndexError.database(path: path, message: oneLine(error))
        }
    }

    /// Refuses foreign, non-SQLite and newer files from their first 100 bytes, without opening them.
    private static func inspectHeader(path: String) throws {
        guard let header = HeaderReader.first100Bytes(of: path) else {
            throw IndexError.database(path: path, message: "cannot read the file (permissions?)")
        }
        if header.isEmpty { return }  // SQLite treats an empty file as a new database.
        guard header.count == 100, header.prefix(16) == Data("SQLite format 3\0".utf8) else {
            throw IndexError.notADatabase(path: path)
        }
        func int32(at offset: Int) -> Int32 {
            header[offset..<(offset + 4)].reduce(0) { ($0 << 8) | Int32($1) }
        }
        let userVersion = int32(at: 60), applicationID = int32(at: 68)
        if applicationID != 0 && applicationID != Schema.applicationID {
            throw IndexError.notAnIndex(path: path, applicationID: applicationID)
        }
        if userVersion > Schema.version {
            throw IndexError.newerSchema(
                path: path, found: "version \(userVersion)", known: "version \(Schema.version)")
        }
    }

    private static func oneLine(_ error: DatabaseError) -> String {
        error.description.replacingOccurrences(of: "\n", with: " ")
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as IndexError {
            throw error
        } catch let error as DatabaseError {
            throw IndexError.database(path: path, message: Self.oneLine(error))
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        try wrap { try pool.read(body) }
    }

    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        try wrap { try pool.write(body) }
    }

    // MARK: - Tracks

    private static func track(_ row: Row) -> TrackRecord {
        TrackRecord(
            id: TrackID(row[0]), path: row[1], size: row[2], modificationTime: row[3], contentHash: row[4],
            duration: row[5], sampleRate: row[6], channels: row[7], format: row[8], title: row[9], artist: row[10],
            album: row[11], genre: row[12], label: row[13])
    }

    private func fetchTracks(_ sql: String, _ arguments: StatementArguments = []) throws -> [TrackRecord] {
        try read { db in try Self.fetchTracks(db, sql, arguments) }
    }

    private static func fetchTracks(_ db: Database, _ sql: String, _ arguments: StatementArguments = []) throws
        -> [TrackRecord]
    {
        try Row.fetchAll(db, sql: "SELECT \(trackColumns) FROM tracks \(sql)", arguments: arguments).map(track)
    }

    /// The track stored under `path`, if any.
    public func track(path: String) throws -> TrackRecord? {
        try fetchTracks("WHERE path = ?", [path]).first
    }

    /// The track with row id `id`, if any.
    public func track(id: TrackID) throws -> TrackRecord? {
        try fetchTracks("WHERE id = ?", [id.rawValue]).first
    }

    /// Tracks whose file had these bytes (see `ContentHash`): candidates for a moved file.
    public func tracks(withContentHash hash: String) throws -> [TrackRecord] {
        try fetchTracks("WHERE content_hash = ? ORDER BY id", [hash])
    }

    /// Every track, by ascending id.
    ///
    /// - Complexity: O(tracks); about 0.3 KB per track in memory.
    public func allTracks() throws -> [TrackRecord] {
        try fetchTracks("ORDER BY id")
    }

    /// The number of tracks.
    public func trackCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tracks")! }
    }

    /// Tracks that have no embedding from model `model`: after a model change, exactly the ones to re-embed.
    public func tracksNeedingEmbedding(model: Int64) throws -> [TrackRecord] {
        try fetchTracks(
            "WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.track_id = tracks.id AND e.model_id = ?) ORDER BY id",
            [model])
    }

    // MARK: - Failures

    /// Every recorded failure, by path.
    public func failures() throws -> [FailureRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT path, kind, reason, size, mtime, failed_at FROM failures ORDER BY path")
                .map(Self.failure)
        }
    }

    /// The recorded failure of `path`, if any (the indexer skips a file that failed unchanged).
    public func failure(path: String) throws -> FailureRecord? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT path, kind, reason, size, mtime, failed_at FROM failures WHERE path = ?",
                arguments: [path]
            ).map(Self.failure)
        }
    }

    private static func failure(_ row: Row) -> FailureRecord {
        FailureRecord(
            path: row[0], kind: row[1], reason: row[2], size: row[3], modificationTime: row[4], failedAt: row[5])
    }

    // MARK: - Models

    private static func model(_ row: Row) -> ModelRecord {
        ModelRecord(
            id: row[0], version: ModelVersion(name: row[1], digest: row[2], dimensions: row[3]),
            configurationJSON: row[4], createdAt: row[5])
    }

    /// Registers `model` (or finds it by digest) and returns its row id.
    ///
    /// The digest identifies a model: registering the same digest again returns the same id, and throws
    /// `modelConflict` if the name or size differ.
    public func register(model: ModelVersion, configurationJSON: String = "{}") throws -> Int64 {
        try write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT \(Self.modelColumns) FROM models WHERE digest = ?",
                arguments: [model.digest])
            {
                let stored = Self.model(row)
                guard stored.version == model else {
                    throw IndexError.modelConflict(
                        digest: model.digest, stored: stored.version.description,
                        offered: model.description)
                }
                return stored.id
            }
            try db.execute(
                sql: "INSERT INTO models (name, digest, dimensions, configuration, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    model.name, model.digest, model.dimensions, configurationJSON, Date().timeIntervalSince1970,
                ])
            return db.lastInsertedRowID
        }
    }

    /// The model with row id `id`, if registered.
    public func model(id: Int64) throws -> ModelRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.modelColumns) FROM models WHERE id = ?", arguments: [id]).map(
                Self.model)
        }
    }

    /// Every registered model with its embedding count, oldest first: a query uses one model only and can
    /// tell the user which tracks lack its embeddings (and that `retrieve index` fixes it).
    public func embeddingModels() throws -> [ModelUsage] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.modelColumns), (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = models.id)
                    FROM models ORDER BY id
                    """
            ).map { ModelUsage(model: Self.model($0), embeddingCount: $0[6]) }
        }
    }

    /// Deletes a model and all its embeddings (to reclaim space after an upgrade). Returns whether it existed.
    @discardableResult
    public func removeModel(id: Int64) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM embeddings WHERE model_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM models WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    // MARK: - Writing

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
        return try write { db in
            var models: [Int64: ModelVersion] = [:]
            var ids: [TrackID] = []
            ids.reserveCapacity(batch.items.count)
            for item in batch.items {
                let t = item.track
                let id: Int64
                if let existing = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT id, content_hash FROM tracks WHERE path = ?"),
                    arguments: [t.path])
                {
                    id = existing[0]
                    try db.cachedStatement(
                        sql: """
                            UPDATE tracks SET size = ?, mtime = ?, content_hash = ?, duration = ?, sample_rate = ?, channels = ?,
                                format = ?, title = ?, artist = ?, album = ?, genre = ?, label = ?, updated_at = ?
                            WHERE id = ?
                            """
                    ).execute(arguments: [
                        t.size, t.modificationTime, t.contentHash, t.duration, t.sampleRate, t.channels, t.format,
                        t.title, t.artist, t.album, t.genre, t.label, now, id,
                    ])
                    if (existing[1] as String) != t.contentHash {
                        try db.cachedStatement(sql: "DELETE FROM embeddings WHERE track_id = ?").execute(arguments: [id]
                        )
                    }
                } else {
                    try db.cachedStatement(
                        sql: """
                            INSERT INTO tracks (path, size, mtime, content_hash, duration, sample_rate, channels, format,
                                title, artist, album, genre, label, added_at, updated_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """
                    ).execute(arguments: [
                        t.path, t.size, t.modificationTime, t.contentHash, t.duration, t.sampleRate, t.channels,
                        t.format, t.title, t.artist, t.album, t.genre, t.label, now, now,
                    ])
                    id = db.lastInsertedRowID
                }
                for e in item.embeddings {
                    let model: ModelVersion
                    if let known = models[e.modelID] {
                        model = known
                    } else {
                        guard
                            let row = try Row.fetchOne(
                                db, sql: "SELECT \(Self.modelColumns) FROM models WHERE id = ?",
                                arguments: [e.modelID])
                        else {
                            throw IndexError.unknownModel(id: e.modelID)
                        }
                        model = Self.model(row).version
                        models[e.modelID] = model
                    }
                    for v in [e.embedding] + e.segments where v.dimensions != model.dimensions {
                        throw IndexError.dimensionMismatch(
                            path: t.path, model: model.description,
                            expected: model.dimensions, found: v.dimensions)
                    }
                    try db.cachedStatement(
                        sql: """
                            INSERT INTO embeddings (track_id, model_id, vector, segment_count, created_at) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT (track_id, model_id) DO UPDATE
                            SET vector = excluded.vector, segment_count = excluded.segment_count, created_at = excluded.created_at
                            """
                    ).execute(arguments: [id, e.modelID, VectorCodec.encode(e.embedding.values), e.segmentCount, now])
                    try db.cachedStatement(sql: "DELETE FROM segment_embeddings WHERE track_id = ? AND model_id = ?")
                        .execute(arguments: [id, e.modelID])
                    for (index, segment) in e.segments.enumerated() {
                        try db.cachedStatement(
                            sql: "INSERT INTO segment_embeddings (track_id, model_id, idx, vector) VALUES (?, ?, ?, ?)"
                        )
                        .execute(arguments: [id, e.modelID, index, VectorCodec.encode(segment.values)])
                    }
                }
                try db.cachedStatement(sql: "DELETE FROM failures WHERE path = ?").execute(arguments: [t.path])
                ids.append(TrackID(id))
            }
            for f in batch.failures {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO failures (path, kind, reason, size, mtime, failed_at) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, reason = excluded.reason, size = excluded.size,
                            mtime = excluded.mtime, failed_at = excluded.failed_at
                        """
                ).execute(arguments: [f.path, f.kind, f.reason, f.size, f.modificationTime, f.failedAt])
            }
            return ids
        }
    }

    /// Records that track `id` now lives at `newPath` (a moved file recognised by its content hash), keeping
    /// its embeddings. Returns whether the track existed; throws `pathTaken` if another track has `newPath`.
    @discardableResult
    public func moveTrack(id: TrackID, to newPath: String, size: Int64, modificationTime: Double) throws -> Bool {
        try write { db in
            if let other = try Int64.fetchOne(db, sql: "SELECT id FROM tracks WHERE path = ?", arguments: [newPath]),
                other != id.rawValue
            {
                throw IndexError.pathTaken(path: newPath)
            }
            try db.execute(
                sql: "UPDATE tracks SET path = ?, size = ?, mtime = ?, updated_at = ? WHERE id = ?",
                arguments: [newPath, size, modificationTime, Date().timeIntervalSince1970, id.rawValue])
            let moved = db.changesCount > 0
            if moved { try db.execute(sql: "DELETE FROM failures WHERE path = ?", arguments: [newPath]) }
            return moved
        }
    }

    /// Sets the class label of the tracks at these paths (evaluation and `retrieve map` colour by it), in one
    /// transaction. Paths not in the index are ignored. Returns how many tracks changed.
    @discardableResult
    public func setLabels(_ labels: [String: String]) throws -> Int {
        try write { db in
            var changed = 0
            for (path, label) in labels {
                try db.execute(sql: "UPDATE tracks SET label = ? WHERE path = ? AND label IS NOT ?",
                               arguments: [label, path, label])
                changed += db.changesCount
            }
            return changed
        }
    }

    /// Deletes tracks (and, by cascade, their embeddings). Returns how many existed.
    @discardableResult
    public func removeTracks(ids: [TrackID]) throws -> Int {
        try write { db in
            var removed = 0
            for id in ids {
                try db.cachedStatement(sql: "DELETE FROM tracks WHERE id = ?").execute(arguments: [id.rawValue])
                removed += db.changesCount
            }
            return removed
        }
    }

    /// Deletes every track and failure at or below `directory` (a path prefix ending at a `/` boundary, so
    /// `/music/a` does not touch `/music/ab`). Returns how many tracks were removed.
    @discardableResult
    public func removeTracks(under directory: String) throws -> Int {
        var prefix = directory
        while prefix.count > 1 && prefix.hasSuffix("/") { prefix.removeLast() }
        let below = prefix == "/" ? "/" : prefix + "/"
        return try write { db in
            let condition = "path = ?1 OR substr(path, 1, length(?2)) = ?2"
            try db.execute(sql: "DELETE FROM failures WHERE \(condition)", arguments: [prefix, below])
            try db.execute(sql: "DELETE FROM tracks WHERE \(condition)", arguments: [prefix, below])
            return db.changesCount
        }
    }

    /// Deletes the tracks and failures whose path `isMissing` says is gone. Returns how many tracks were removed.
    ///
    /// `isMissing` runs outside any transaction (it may touch the file system at leisure); the deletion is
    /// one transaction afterwards.
    @discardableResult
    public func prune(where isMissing: (String) -> Bool) throws -> Int {
        let (tracks, failed) = try read { db in
            (
                try Row.fetchAll(db, sql: "SELECT id, path FROM tracks").map { row -> (Int64, String) in
                    (row[0], row[1])
                },
                try String.fetchAll(db, sql: "SELECT path FROM failures")
            )
        }
        let goneTracks = tracks.filter { isMissing($0.1) }.map { $0.0 }
        let goneFailures = failed.filter(isMissing)
        if goneTracks.isEmpty && goneFailures.isEmpty { return 0 }
        return try write { db in
            var removed = 0
            for id in goneTracks {
                try db.cachedStatement(sql: "DELETE FROM tracks WHERE id = ?").execute(arguments: [id])
                removed += db.changesCount
            }
            for path in goneFailures {
                try db.cachedStatement(sql: "DELETE FROM failures WHERE path = ?").execute(arguments: [path])
            }
            return removed
        }
    }

    // MARK: - Vectors

    /// Every embedding of model `model`, by ascending track id, as one contiguous matrix (rows = tracks).
    ///
    /// One read transaction, so ids and rows always match. BLOB bytes are copied into the matrix's Float
    /// storage (SQLite returns BLOBs at any alignment). Throws `corruptVector` if a BLOB's length is not
    /// dimensions × 4.
    ///
    /// - Complexity: O(tracks × dimensions); memory 4 × dimensions bytes per track plus the ids.
    public func loadVectors(model: Int64) throws -> (ids: [TrackID], vectors: Matrix) {
        try read { db in try Self.loadVectors(db, model: model) }
    }

    /// `model`'s vectors and every track, read in one transaction: a query engine compares the two (tracks
    /// without a vector mean a model change in progress), which separate reads could see at different commits
    /// while another process indexes.
    public func searchSnapshot(model: Int64?) throws -> (ids: [TrackID], vectors: Matrix, tracks: [TrackRecord]) {
        try read { db in
            let (ids, vectors) = try model.map { try Self.loadVectors(db, model: $0) } ?? ([], Matrix(rows: 0, columns: 0))
            return (ids, vectors, try Self.fetchTracks(db, "ORDER BY id"))
        }
    }

    private static func loadVectors(_ db: Database, model: Int64) throws -> (ids: [TrackID], vectors: Matrix) {
        guard
            let dimensions = try Int.fetchOne(
                db, sql: "SELECT dimensions FROM models WHERE id = ?", arguments: [model])
        else { throw IndexError.unknownModel(id: model) }
        let count = try Int.fetchOne(
            db, sql: "SELECT COUNT(*) FROM embeddings WHERE model_id = ?", arguments: [model])!
        var ids = [TrackID]()
        ids.reserveCapacity(count)
        var storage = HugePages.zeroedFloats(count: count * dimensions)
        let rows = try Row.fetchCursor(
            db, sql: "SELECT track_id, vector FROM embeddings WHERE model_id = ? ORDER BY track_id",
            arguments: [model])
        try storage.withUnsafeMutableBufferPointer { out in
            var r = 0
            while let row = try rows.next() {
                let id: Int64 = row[0]
                try row.withUnsafeData(atIndex: 1) { data in
                    let bytes = data?.count ?? 0
                    guard let data, bytes == dimensions * 4 else {
                        throw IndexError.corruptVector(trackID: id, bytes: bytes, expected: dimensions * 4)
                    }
                    data.withUnsafeBytes { raw in
                        VectorCodec.decode(
                            raw,
                            into: UnsafeMutableBufferPointer(
                                rebasing: out[(r * dimensions)..<((r + 1) * dimensions)]))
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
            try Data.fetchOne(
                db, sql: "SELECT vector FROM embeddings WHERE track_id = ? AND model_id = ?",
                arguments: [track.rawValue, model]
            )
            .map { Embedding(unchecked: VectorCodec.decode($0)) }
        }
    }

    /// The ids of the tracks that have stored segment embeddings by `model`.
    public func tracksWithSegments(model: Int64) throws -> Set<TrackID> {
        try read { db in
            Set(try Int64.fetchAll(db, sql: "SELECT DISTINCT track_id FROM segment_embeddings WHERE model_id = ?",
                                   arguments: [model]).map(TrackID.init))
        }
    }

    /// The stored per-segment embeddings of `track` by `model`, in segment order (empty if none were kept).
    public func segments(track: TrackID, model: Int64) throws -> [Embedding] {
        try read { db in
            try Data.fetchAll(
                db, sql: "SELECT vector FROM segment_embeddings WHERE track_id = ? AND model_id = ? ORDER BY idx",
                arguments: [track.rawValue, model]
            )
            .map { Embedding(unchecked: VectorCodec.decode($0)) }
        }
    }

    // MARK: - Statistics

    /// Counts, total duration, per-model embedding counts and bytes on disk.
    public func statistics() throws -> IndexStatistics {
        let models = try embeddingModels()
        let (tracks, failures, duration) = try read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tracks")!,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM failures")!,
                try Double.fetchOne(db, sql: "SELECT COALESCE(SUM(duration), 0) FROM tracks")!
            )
        }
        var bytes: Int64 = 0
        for file in [path, path + "-wal"] {
            if let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber {
                bytes += size.int64Value
            }
        }
        return IndexStatistics(
            trackCount: tracks, failureCount: failures, totalDuration: duration, models: models,
            databaseBytes: bytes)
    }
}

/// Reads the first bytes of database files without ever closing a descriptor of a file SQLite may have open.
///
/// POSIX record locks belong to the process and the file, not to the descriptor: closing *any* descriptor of the
/// database file drops every lock this process's SQLite connections hold on it. Reading the header with a
/// `FileHandle` and closing it therefore broke the locking of other `IndexStore`s open on the same index in the
/// same process (seen as "disk I/O error" on `BEGIN IMMEDIATE` while another process wrote). One descriptor per
/// file is kept open for the process's lifetime instead; it is replaced (and the old one closed, which is safe
/// because locks are per file) only when the path names another file.
enum HeaderReader {
    private struct Open {
        let descriptor: Int32
        let device: UInt64
        let inode: UInt64
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var open: [String: Open] = [:]

    /// The first 100 bytes (fewer if the file is shorter), or nil if the file cannot be opened.
    static func first100Bytes(of path: String) -> Data? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        lock.lock()
        defer { lock.unlock() }
        var entry = open[path]
        if let current = entry, current.device != UInt64(info.st_dev) || current.inode != UInt64(info.st_ino) {
            Foundation.close(current.descriptor)
            entry = nil
        }
        if entry == nil {
            let descriptor = Foundation.open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            entry = Open(descriptor: descriptor, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            open[path] = entry
        }
        var buffer = [UInt8](repeating: 0, count: 100)
        let count = pread(entry!.descriptor, &buffer, 100, 0)
        guard count >= 0 else { return nil }
        return Data(buffer.prefix(count))
    }
}
