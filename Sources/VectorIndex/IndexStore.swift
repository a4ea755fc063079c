import Foundation
import GRDB
import RetrieveCore

/// The on-disk index: one SQLite file holding tracks, models, embeddings and failures.
///
/// A read-write store wraps a GRDB `DatabasePool` in WAL mode: any number of readers (other processes included)
/// see a consistent snapshot while one writer commits, and a busy timeout (30 s) absorbs the short exclusive
/// moments of checkpoints and concurrent writers. Foreign keys are on; deleting a track deletes its embeddings.
/// The schema is migrated on open; a file that is not SQLite, belongs to another application, or was written by
/// a newer build is refused before anything is written to it.
///
/// A read-only store (`readOnly: true`, or `openForReading(path:)`) never writes and never migrates. It works
/// where the file, its folder or the whole mount is read-only: see `ReadOnlyAccess` for how it is opened.
///
/// The API is split by concern over `IndexStore+*.swift`: tracks, writing, models, vectors, failures and
/// maintenance. All methods are synchronous and thread-safe; each is one transaction. Every error thrown is an
/// `IndexError` whose description names the file and the remedy.
public final class IndexStore: Sendable {
    /// The database file.
    public let path: String
    /// A `DatabasePool`, or for an immutable read-only open a `DatabaseQueue`.
    let database: any DatabaseWriter

    /// Opens (creating if needed, with its parent directory) the index at `path` and migrates its schema.
    ///
    /// With `readOnly`, the file must exist and be fully migrated, and nothing of it is ever written (no
    /// migration, no checkpoint); the file, its folder or the mount may be read-only (see `ReadOnlyAccess`). Where
    /// the folder is writable SQLite may still create its empty `-wal`/`-shm` side files, as any reader does.
    public convenience init(path: String, readOnly: Bool = false) throws {
        try self.init(path: path, readOnly: readOnly, folderWritable: nil)
    }

    /// Opens an index for commands that only read (stats, list, similar, export, map).
    ///
    /// The store is read-only. An index written by an older build whose schema needs upgrading is upgraded
    /// first — in its own short read-write open — when the file and its folder are writable; when they are not,
    /// this throws `IndexError.outdatedSchema`, whose sentence says how to upgrade it. An index being created
    /// by another process right now is never touched.
    public static func openForReading(path: String) throws -> IndexStore {
        try openForReading(path: path, writable: isWritable(path))
    }

    /// `openForReading(path:)` with the file's writability given (tests take the unwritable path as root).
    static func openForReading(path: String, writable: Bool) throws -> IndexStore {
        do {
            return try IndexStore(path: path, readOnly: true)
        } catch IndexError.outdatedSchema(let outdated) {
            // user_version 0: no migration has committed yet, so another process is creating this index.
            guard (Self.userVersion(of: path) ?? 0) > 0, writable else {
                throw IndexError.outdatedSchema(path: outdated)
            }
            do {
                _ = try IndexStore(path: path)
            } catch {
                // Another reader may have upgraded it in the same moment; then the read-only open succeeds.
                if let store = try? IndexStore(path: path, readOnly: true) { return store }
                throw error
            }
            return try IndexStore(path: path, readOnly: true)
        }
    }

    /// - Parameters:
    ///   - path: the database file.
    ///   - readOnly: open without writing (no migration, no side files where the folder is not writable).
    ///   - folderWritable: overrides the check of the folder's writability for read-only opens (tests use it
    ///     to take the path of an unwritable folder while running as root, whom file modes do not stop).
    ///   - prepare: runs on every new connection after the store's own settings (tests use it to limit
    ///     `max_page_count` and so simulate a full disk).
    /// - Throws: `IndexError` naming the file and the remedy.
    init(
        path: String, readOnly: Bool, folderWritable: Bool?,
        prepare: (@Sendable (Database) throws -> Void)? = nil
    ) throws {
        self.path = path
        let access = ReadOnlyAccess(path: path, folderWritable: folderWritable)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw IndexError.notADatabase(path: path) }
            try Self.inspectHeader(path: path)
            if let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber, size.intValue > 0
            {
                let state = try Self.inspectSchema(path: path, access: access)
                if readOnly && state != .complete { throw IndexError.outdatedSchema(path: path) }
            }
        } else if readOnly {
            throw IndexError.missing(path: path)
        } else {
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw IndexError.database(DatabaseFailure(kind: .cannotOpen, path: path, cause: error))
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
        if let prepare { configuration.prepareDatabase(prepare) }
        database = try Self.open(path: path, readOnly: readOnly, access: access, configuration: configuration)
        try wrap(nil) {
            let state = try database.read(Self.checkSchema)
            if readOnly {
                if state != .complete { throw IndexError.outdatedSchema(path: path) }
            } else {
                try Schema.migrator.migrate(database)
            }
        }
    }

    private static func open(
        path: String, readOnly: Bool, access: ReadOnlyAccess, configuration: Configuration
    )
        throws -> any DatabaseWriter
    {
        do {
            guard readOnly else { return try DatabasePool(path: path, configuration: configuration) }
            switch access {
            case .shared:
                return try DatabasePool(path: path, configuration: configuration)
            case .immutable:
                return try DatabaseQueue(path: immutableURI(path), configuration: configuration)
            case .blockedLog:
                throw IndexError.unreadableLog(path: path)
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw IndexError.notADatabase(path: path)
        } catch let error as DatabaseError {
            throw IndexError.database(DatabaseFailure(path: path, cause: error))
        }
    }

    /// Runs `body`, turning every error that is not already an `IndexError` into `IndexError.database`.
    ///
    /// - Parameters:
    ///   - action: what `body` does, as a gerund phrase for the message ("removing 3 tracks"); `nil` for reads
    ///     and opening.
    ///   - body: the database work.
    /// - Returns: what `body` returns.
    /// - Throws: `IndexError`, with any other error as its cause.
    func wrap<T>(_ action: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as IndexError {
            throw error
        } catch {
            throw IndexError.database(DatabaseFailure(path: path, action: action, cause: error))
        }
    }

    /// One read transaction.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try wrap(nil) { try database.read(body) }
    }

    /// One write transaction: all of `body` is committed, or nothing. Before it commits, the vector chunks are
    /// brought in step with whatever `body` changed in `embeddings` (`VectorChunks.fold`), in the same transaction.
    func write<T>(_ action: String, _ body: (Database) throws -> T) throws -> T {
        try wrap(action) {
            try database.write { db in
                let result = try body(db)
                try VectorChunks.fold(db)
                return result
            }
        }
    }
}
