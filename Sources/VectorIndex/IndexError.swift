public import GRDB

/// Why an index operation failed; `description` is one sentence saying what went wrong and what to do.
///
/// Every error that leaves `VectorIndex` is an `IndexError`. Failures of SQLite (and of the file system around
/// the database file) are `.database(DatabaseFailure)`: a class that decides the remedy, the file, and the
/// original error as `cause`, so a caller can still match GRDB's result code.
public enum IndexError: Error, CustomStringConvertible, Equatable {
    /// The file exists but is not an SQLite database; it was left untouched.
    case notADatabase(path: String)
    /// The file is an SQLite database written by another application.
    case notAnIndex(path: String, applicationID: Int32)
    /// The index was written by a newer `retrieve`; it was left untouched.
    case newerSchema(path: String, found: String, known: String)
    /// A read-only open of an index that does not exist.
    case missing(path: String)
    /// A read-only open of an index whose schema still needs migrating (or is being created right now).
    case outdatedSchema(path: String)
    /// A read-only open of an index whose folder cannot be written and whose write-ahead log (`-wal`) holds
    /// commits that SQLite cannot replay without creating its `-shm` index beside it.
    case unreadableLog(path: String)
    /// A model id that is not registered in this index.
    case unknownModel(id: Int64)
    /// The same weights digest registered again with a different name or size.
    case modelConflict(digest: String, stored: String, offered: String)
    /// An embedding whose length differs from its model's.
    case dimensionMismatch(path: String, model: String, expected: Int, found: Int)
    /// A stored vector whose byte length does not match its model.
    case corruptVector(trackID: Int64, bytes: Int, expected: Int)
    /// A move onto a path that another track already has.
    case pathTaken(path: String)
    /// SQLite or the file system refused an operation on the database file.
    case database(DatabaseFailure)

    public var description: String {
        switch self {
        case .notADatabase(let path):
            return "\(path) is not an SQLite database; left it untouched — pass another --db path or move the file away"
        case .notAnIndex(let path, let id):
            return
                "\(path) is an SQLite database of another application (application_id \(id)); left it untouched — pass another --db path"
        case .newerSchema(let path, let found, let known):
            return
                "\(path) was written by a newer retrieve (schema \(found), this build knows \(known)); left it untouched — upgrade retrieve or use another --db path"
        case .missing(let path):
            return "no index at \(path) — run `retrieve index <music folder>` first or pass --db"
        case .outdatedSchema(let path):
            return
                "\(path) uses an older schema (or is being created right now) and was opened read-only, so it was not upgraded — run `retrieve index` once with write access to the file and its folder, or copy the file to a writable folder and pass --db"
        case .unreadableLog(let path):
            return
                "\(path) has commits in its write-ahead log \(path)-wal that SQLite can only read by creating \(path)-shm, and its folder is not writable — ask someone who can write that folder to run `sqlite3 '\(path)' 'PRAGMA wal_checkpoint(TRUNCATE)'` (or any `retrieve index` run), or copy the file together with its -wal to a writable folder and pass --db"
        case .unknownModel(let id):
            return
                "model id \(id) is not registered in this index — register the model before committing its embeddings"
        case .modelConflict(let digest, let stored, let offered):
            return
                "model digest \(digest.prefix(12)) is registered as \(stored) but offered as \(offered) — the weights file is the same, so fix the model's name or size"
        case .dimensionMismatch(let path, let model, let expected, let found):
            return
                "embedding of \(path) has \(found) dimensions but model \(model) has \(expected) — the encoder and registered model disagree"
        case .corruptVector(let trackID, let bytes, let expected):
            return
                "stored vector of track \(trackID) has \(bytes) bytes, expected \(expected) — remove that track from the index and run `retrieve index` again"
        case .pathTaken(let path):
            return "cannot move a track to \(path): another track already has that path — remove it first"
        case .database(let failure):
            return failure.description
        }
    }
}

/// A failure of SQLite (or of the file system) on the index file: its class, the file, what was being done,
/// and the original error.
///
/// The class decides the sentence the user reads; `cause` keeps GRDB's `DatabaseError` (result code, message,
/// SQL) for whoever needs more, e.g. `catch IndexError.database(let f) where f.databaseError?.resultCode ==
/// .SQLITE_FULL`. Two failures are equal when class, file, action and the cause's text are.
public struct DatabaseFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of trouble, as far as the remedy is concerned.
    public enum Kind: String, Sendable, Equatable {
        /// The disk (or the database's size limit) is full: `SQLITE_FULL`.
        case diskFull
        /// The file, its folder or the file system cannot be written: `SQLITE_READONLY`.
        case readOnly
        /// The file's pages or rows are malformed: `SQLITE_CORRUPT`, `SQLITE_NOTADB` after opening, or a row this
        /// build cannot decode.
        case damaged
        /// Another connection holds the lock beyond the busy timeout: `SQLITE_BUSY`, `SQLITE_LOCKED`.
        case busy
        /// The file or its folder cannot be opened or created: `SQLITE_CANTOPEN`, `SQLITE_PERM`, or the file
        /// system refusing to create the folder.
        case cannotOpen
        /// The operating system reported an I/O error: `SQLITE_IOERR`.
        case ioError
        /// Anything else: a defect in retrieve rather than a state of the file.
        case other
    }

    /// The class of failure.
    public var kind: Kind
    /// The database file.
    public var path: String
    /// What was being done, as a gerund phrase ("removing 3 tracks"); `nil` for opening the file.
    public var action: String?
    /// The original error: a GRDB `DatabaseError` for SQLite failures, a Foundation error for the file system,
    /// GRDB's `RowDecodingError` for a row that does not decode.
    public var cause: any Error

    public init(kind: Kind, path: String, action: String? = nil, cause: any Error) {
        self.kind = kind
        self.path = path
        self.action = action
        self.cause = cause
    }

    /// Classifies `cause` (a `DatabaseError` by its primary result code; any other error as `.damaged` when it
    /// is a row decoding error, else `.other`).
    public init(path: String, action: String? = nil, cause: any Error) {
        self.init(kind: Self.kind(of: cause), path: path, action: action, cause: cause)
    }

    /// The cause as GRDB's error, when SQLite reported the failure.
    public var databaseError: DatabaseError? { cause as? DatabaseError }

    static func kind(of error: any Error) -> Kind {
        guard let error = error as? DatabaseError else {
            return error is RowDecodingError ? .damaged : .other
        }
        switch error.resultCode {
        case .SQLITE_FULL: return .diskFull
        case .SQLITE_READONLY: return .readOnly
        case .SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_FORMAT: return .damaged
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .busy
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH: return .cannotOpen
        case .SQLITE_IOERR: return .ioError
        default: return .other
        }
    }

    public var description: String {
        let failed = action.map { "\($0) failed and changed nothing" }
        switch kind {
        case .diskFull:
            return
                "the disk holding \(path) is full, so \(action.map { "\($0) failed and nothing of it was written (it is one transaction, all or nothing)" } ?? "the index could not be opened") — free some space on that disk and run the command again"
        case .readOnly:
            return
                "\(path) cannot be written (the file, its folder or the disk is read-only)\(failed.map { ", so \($0)" } ?? "") — the commands that only read (stats, list, similar, export) work on it as it is; to change it, make the file and its folder writable, or copy the file to a writable folder and pass --db"
        case .damaged:
            return
                "\(path) is damaged (SQLite finds it malformed)\(failed.map { "; \($0)" } ?? "") — restore it from a backup, or move it away and rebuild the index with `retrieve index <music folders>` (the audio files are not touched)"
        case .busy:
            return
                "\(path) is locked by another process writing to it (waited 30 s)\(failed.map { ", so \($0)" } ?? "") — wait until the other `retrieve index` or `retrieve remove` has finished and run the command again"
        case .cannotOpen:
            return
                "cannot open or create \(path): the file or its folder is missing or not accessible to you, or too many files are open — check the path and its permissions, or pass another --db"
        case .ioError:
            return
                "reading or writing \(path) failed with an input/output error\(failed.map { ", so \($0)" } ?? "") — check the disk (a failing drive, an unplugged disk or a lost network mount) and run the command again"
        case .other:
            let detail = (cause as? DatabaseError)?.message ?? String(describing: cause)
            return
                "\(path): unexpected database failure (\(detail.split(separator: "\n").first ?? ""))\(failed.map { "; \($0)" } ?? "") — please report it with the command you ran"
        }
    }

    public static func == (a: DatabaseFailure, b: DatabaseFailure) -> Bool {
        a.kind == b.kind && a.path == b.path && a.action == b.action
            && String(describing: a.cause) == String(describing: b.cause)
    }
}
