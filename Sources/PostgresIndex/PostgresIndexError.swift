import Foundation
import PostgresNIO
public import VectorIndex

/// Why an operation on a PostgreSQL index (or a copy between two indexes) failed; `description` is one sentence
/// saying what went wrong, naming the database (its URL with the password redacted) and the remedy.
///
/// The original error (PostgresNIO's `PSQLError`, a socket error) is kept as `cause` where there is one.
public enum PostgresIndexError: Error, CustomStringConvertible {
    /// The text given as a PostgreSQL URL does not parse.
    case invalidURL(url: String, reason: String)
    /// Nothing answered at the URL's host and port, or the connection broke.
    case unreachable(url: String, cause: any Error)
    /// The server refused the user name or password.
    case loginFailed(url: String, detail: String)
    /// The server is there but the database is not.
    case missingDatabase(url: String, database: String)
    /// The database holds tables but no `schema_migrations`: it belongs to something else.
    case notAnIndex(url: String)
    /// The database was migrated by a newer `retrieve`.
    case newerSchema(url: String, found: Int, known: Int)
    /// The database has no (or an incomplete) retrieve schema and was opened only to read.
    case outdatedSchema(url: String)
    /// A statement failed on the server; `action` says what was being done.
    case query(url: String, action: String, detail: String, cause: any Error)
    /// `retrieve migrate` into an index that already holds rows, without being told to replace them.
    case destinationNotEmpty(name: String, counts: RowCounts)
    /// The copy's read-back does not match what was read from the source.
    case verificationFailed(source: String, destination: String, details: [String])
    /// The source changed while it was being copied.
    case sourceChanged(name: String, before: RowCounts, after: RowCounts)
    /// A row breaks the index's own rules (a vector of the wrong length): written by hand or damaged.
    case damagedRow(url: String, detail: String)

    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            return
                "\(url) is not a usable PostgreSQL URL: \(reason) — write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        case .unreachable(let url, let cause):
            return
                "cannot reach PostgreSQL at \(url) (\(Self.summary(of: cause))) — check that the server is running and listens on that host and port (listen_addresses, pg_hba.conf, a firewall), and that the URL is right"
        case .loginFailed(let url, let detail):
            return
                "PostgreSQL at \(url) refused the login (\(detail)) — check the user name and password in the URL (or the server's pg_hba.conf)"
        case .missingDatabase(let url, let database):
            return
                "PostgreSQL at \(url) has no database \(database) — create it (`createdb \(database)` or CREATE DATABASE) or name another one in the URL"
        case .notAnIndex(let url):
            return
                "\(url) holds tables of another application (no schema_migrations table); left it untouched — name an empty database or one made by retrieve"
        case .newerSchema(let url, let found, let known):
            return
                "\(url) was migrated by a newer retrieve (schema version \(found), this build knows \(known)); left it untouched — upgrade retrieve"
        case .outdatedSchema(let url):
            return
                "\(url) has no complete retrieve index (its schema is missing or older) and was opened only to read — copy an index into it with `retrieve migrate SRC \(url)`, or run a command that writes to it"
        case .query(let url, let action, let detail, _):
            return "\(action) on \(url) failed: \(detail) — nothing of that step was written (it is one transaction)"
        case .destinationNotEmpty(let name, let counts):
            return
                "\(name) already holds an index (\(counts)); left it untouched — pass --replace to delete its contents and copy over them, or name an empty destination"
        case .verificationFailed(let source, let destination, let details):
            return
                "the copy in \(destination) does not match \(source): \(details.joined(separator: "; ")) — do not use the copy; run `retrieve migrate` again with --replace"
        case .damagedRow(let url, let detail):
            return
                "\(url) holds a damaged row: \(detail) — re-create the index there (`retrieve migrate` from a good copy with --replace, or `retrieve index`)"
        case .sourceChanged(let name, let before, let after):
            return
                "\(name) changed while it was copied (\(before) before, \(after) after) — stop the `retrieve index` or `remove` writing to it and run `retrieve migrate` again with --replace"
        }
    }

    /// Whether the connection broke (a server restart, a terminated backend, the network): the remedy is to
    /// reconnect and try again, which `retrieve index` does by itself.
    public var isConnectionLoss: Bool {
        switch self {
        case .unreachable: return true
        case .query(_, _, _, let cause):
            guard let psql = cause as? PSQLError else { return false }
            if let state = psql.serverInfo?[.sqlState], state.hasPrefix("08") || state.hasPrefix("57P") { return true }
            switch psql.code {
            case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection: return true
            default: return false
            }
        default: return false
        }
    }

    /// The first line of an error's own description, without PostgresNIO's debugging dump.
    public static func summary(of error: any Error) -> String {
        String(String(describing: error).split(separator: "\n").first ?? "")
    }
}
