import Foundation
import GRDB

/// How a read-only store opens its file, decided from what the folder allows and what lies beside the file.
///
/// SQLite reads a WAL-mode database through its `-shm` index, which it creates beside the file when missing —
/// impossible in a folder the user cannot write (a shared library, a read-only mount), where an ordinary
/// read-only open fails with "attempt to write a readonly database". So:
/// - folder writable: `.shared`, ordinary read-only connections with locking, safe beside a running writer;
/// - folder not writable, no write-ahead log or an empty one: `.immutable`, the file opened as an
///   `immutable=1` URI — no locks, no `-shm`, no log to replay; the main file holds every commit. (No writer can
///   run there without creating a `-wal`; one that starts afterwards is not seen by this open.)
/// - folder not writable, a log with commits and its `-shm` present: `.shared`, SQLite reads the existing index;
/// - folder not writable, a log with commits but no `-shm`: `.blockedLog` — SQLite cannot read those commits,
///   and skipping them would show an old state, so the open is refused with `IndexError.unreadableLog`, whose
///   sentence says what to do (checkpoint the log as someone who can write the folder, or copy the file and its
///   `-wal` to a writable folder).
enum ReadOnlyAccess: Equatable {
    case shared
    case immutable
    case blockedLog

    init(folderWritable: Bool, logBytes: Int64?, sharedMemoryExists: Bool) {
        if folderWritable {
            self = .shared
        } else if (logBytes ?? 0) == 0 {
            self = .immutable
        } else {
            self = sharedMemoryExists ? .shared : .blockedLog
        }
    }

    /// Looks at `path`'s folder and its `-wal` and `-shm` files; `folderWritable` overrides the folder check.
    init(path: String, folderWritable: Bool? = nil) {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let log = (try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber
        self.init(
            folderWritable: folderWritable ?? (access(folder, W_OK) == 0), logBytes: log?.int64Value,
            sharedMemoryExists: FileManager.default.fileExists(atPath: path + "-shm"))
    }
}

/// How far the schema of an open file is migrated.
enum SchemaState: Equatable {
    /// Every migration of this build is applied.
    case complete
    /// Some migrations are applied, newer ones are not: written by an older build.
    case outdated
    /// No migration is applied: a new file, or one another process is creating right now.
    case empty
}

extension IndexStore {
    /// Whether this process may write `path` and its folder (`access(2)`: for root only a read-only mount says no).
    static func isWritable(_ path: String) -> Bool {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return access(path, W_OK) == 0 && access(folder, W_OK) == 0
    }

    /// `file:` URI opening `path` immutable (SQLite takes no locks and creates no `-wal`/`-shm`).
    static func immutableURI(_ path: String) -> String {
        var escaped = ""
        for character in path.unicodeScalars {
            switch character {
            case "%": escaped += "%25"
            case "?": escaped += "%3F"
            case "#": escaped += "%23"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return "file:\(escaped)?immutable=1"
    }

    /// The `user_version` in the file's header: the number of the newest migration applied; nil if unreadable.
    static func userVersion(of path: String) -> Int32? {
        guard let header = HeaderReader.first100Bytes(of: path), header.count == 100 else { return nil }
        return header[60..<64].reduce(0) { ($0 << 8) | Int32($1) }
    }

    /// Throws if the schema is newer or foreign; returns how far it is migrated.
    static func checkSchema(_ db: Database) throws -> SchemaState {
        let migrator = Schema.migrator
        let path = db.configuration.label ?? ""
        let applied: Set<String>
        do {
            applied = try migrator.appliedIdentifiers(db)
        } catch let error as DatabaseError where error.message?.contains("no such table: grdb_migrations") == true {
            // Another process is creating this index right now: it added GRDB's table after this connection
            // read the schema, so SQLite lists the table but the statement was compiled without it. Nothing is
            // complete yet.
            return .empty
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
        if applied.isEmpty { return .empty }
        return try migrator.hasCompletedMigrations(db) ? .complete : .outdated
    }

    /// Checks an existing file's schema through a read-only connection, which (unlike the pool's writer)
    /// never checkpoints the write-ahead log on close, so a refused file keeps every byte.
    ///
    /// Without a `-wal` file beside it (or, in an unwritable folder, with an empty one) the main file holds
    /// every commit, and the check opens it as an immutable URI so that SQLite creates no `-wal`/`-shm` files
    /// either (a plain read-only connection would create and leave both). With a log it reads through the log.
    /// Returns how far the schema is migrated, so that a read-only open refuses an outdated file before it opens
    /// the pool (whose connections would leave `-wal` and `-shm` files).
    static func inspectSchema(path: String, access: ReadOnlyAccess) throws -> SchemaState {
        if access == .blockedLog { throw IndexError.unreadableLog(path: path) }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = path
        configuration.busyMode = .timeout(30)
        let noLog = !FileManager.default.fileExists(atPath: path + "-wal")
        let openPath = noLog || access == .immutable ? immutableURI(path) : path
        do {
            let queue = try DatabaseQueue(path: openPath, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read(checkSchema)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw IndexError.notADatabase(path: path)
        } catch let error as DatabaseError {
            throw IndexError.database(DatabaseFailure(path: path, cause: error))
        }
    }

    /// Refuses foreign, non-SQLite and newer files from their first 100 bytes, without opening them.
    static func inspectHeader(path: String) throws {
        guard let header = HeaderReader.first100Bytes(of: path) else {
            throw IndexError.database(
                DatabaseFailure(kind: .cannotOpen, path: path, cause: CocoaError(.fileReadNoPermission)))
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
}
