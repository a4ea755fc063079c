import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import RetrieveCore
import VectorIndex

/// An index in a PostgreSQL database: one connection, the schema migrated on open, and the rows of `VectorIndex`'s
/// tables read and written as stored.
///
/// Every method is one statement or one transaction; every error thrown is a `PostgresIndexError` naming the URL
/// (password redacted) and the remedy. Not for use from several tasks at once: calls on one connection queue.
public final class PostgresStore: Sendable {
    /// Where the database is.
    public let location: PostgresLocation
    let connection: PostgresConnection
    let logger: Logger

    private init(location: PostgresLocation, connection: PostgresConnection, logger: Logger) {
        self.location = location
        self.connection = connection
        self.logger = logger
    }

    /// Connects to `location`; with `migrate` brings the schema up to this build's (creating it in an empty
    /// database), else requires an index there already (`outdatedSchema` otherwise) and upgrades one of an earlier
    /// schema version. Either way a newer schema or a
    /// database of another application is refused before anything is written.
    public static func open(_ location: PostgresLocation, migrate: Bool) async throws -> PostgresStore {
        let logger = Logger(label: "retrieve.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        do {
            switch location.tls {
            case .disable: break
            case .prefer: configuration.tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: configuration.tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw PostgresIndexError.unreachable(url: location.description, cause: error)
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        } catch {
            throw classify(connectionError: error, location: location)
        }
        let store = PostgresStore(location: location, connection: connection, logger: logger)
        do {
            try await store.prepareSchema(migrate: migrate)
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// Opens `text` (a `postgresql://` URL) as `open(_:migrate:)` does.
    public static func open(url text: String, migrate: Bool) async throws -> PostgresStore {
        try await open(PostgresLocation(text), migrate: migrate)
    }

    /// Opens `url`, runs `body` with the store and closes it again, whether `body` returns or throws.
    public static func with<T: Sendable>(
        url: String, migrate: Bool, _ body: (PostgresStore) async throws -> T
    ) async throws -> T {
        let store = try await open(url: url, migrate: migrate)
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }

    /// Whether the connection has closed (the server ended it, or the network broke).
    public var isClosed: Bool { connection.isClosed }

    /// Closes the connection (after the queries in flight).
    public func close() async {
        try? await connection.close()
    }

    /// Login refused, no such database, or nothing there: the error that names the remedy.
    static func classify(connectionError error: any Error, location: PostgresLocation) -> PostgresIndexError {
        let url = location.description
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState]
            let message = error.serverInfo?[.message] ?? PostgresIndexError.summary(of: error)
            switch state {
            case "28P01", "28000": return .loginFailed(url: url, detail: message)
            case "3D000": return .missingDatabase(url: url, database: location.database)
            default: break
            }
            if error.code == .authMechanismRequiresPassword {
                return .loginFailed(url: url, detail: "the server asks for a password and the URL has none")
            }
            if error.code == .server {
                return .query(url: url, action: "connecting", detail: message, cause: error)
            }
            if let underlying = error.underlying { return .unreachable(url: url, cause: underlying) }
        }
        return .unreachable(url: url, cause: error)
    }

    /// Runs `body`, turning a failure into `PostgresIndexError.query` that says what `action` was.
    func run<T>(_ action: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresIndexError {
            throw error
        } catch let error as PostgresTransactionError {
            // An error of our own (a refused prune, a model conflict) thrown inside a transaction is the error.
            if let inner = error.closureError, !(inner is PSQLError), error.rollbackError == nil { throw inner }
            throw failure(action, error)
        } catch {
            throw failure(action, error)
        }
    }

    func failure(_ action: String, _ error: any Error) -> PostgresIndexError {
        let url = location.description
        var cause = error
        if let transaction = error as? PostgresTransactionError {
            cause = transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error
        }
        guard let psql = cause as? PSQLError else {
            return .query(url: url, action: action, detail: PostgresIndexError.summary(of: cause), cause: cause)
        }
        if let message = psql.serverInfo?[.message] {
            let state = psql.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return .query(url: url, action: action, detail: message + state, cause: psql)
        }
        switch psql.code {
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            return .unreachable(url: url, cause: psql.underlying ?? psql)
        default:
            return .query(url: url, action: action, detail: PostgresIndexError.summary(of: psql), cause: psql)
        }
    }

    // MARK: Schema

    /// The migrations this build applies: each SQL text split into its statements (the extended query protocol
    /// takes one at a time).
    static func statements(_ sql: String) -> [String] {
        sql.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }
    }

    private func prepareSchema(migrate: Bool) async throws {
        let url = location.description
        try await run("checking the schema") {
            var applied = try await appliedMigrations()
            if applied == nil {
                let tables =
                    try await connection.query(
                        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                        logger: logger
                    ).decode(Int.self).first { _ in true } ?? 0
                // Another process's first migration may have committed between the two reads (its tables and
                // schema_migrations appear together): look again before calling the database someone else's.
                if tables > 0 { applied = try await appliedMigrations() }
                if tables > 0 && applied == nil { throw PostgresIndexError.notAnIndex(url: url) }
            }
            let versions = applied ?? []
            if let newest = versions.max(), newest > PostgresSchema.version {
                throw PostgresIndexError.newerSchema(url: url, found: newest, known: PostgresSchema.version)
            }
            if versions.count == PostgresSchema.version { return }
            // Reading needs an index there already; one of an earlier release is upgraded (migrations only add
            // tables, columns and triggers, and run under a lock), as an SQLite index is when it is opened.
            guard migrate || !versions.isEmpty else { throw PostgresIndexError.outdatedSchema(url: url) }
        }
        try await run("migrating the schema") {
            try await connection.withTransaction(logger: logger) { connection in
                // One migrator at a time: the others wait here, then find the work done.
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.lockKey))", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: PostgresSchema.migrationsTable), logger: logger)
                var done = Set<Int>()
                for try await version in try await connection.query(
                    "SELECT version FROM schema_migrations", logger: logger
                ).decode(Int.self) {
                    done.insert(version)
                }
                if let newest = done.max(), newest > PostgresSchema.version {
                    throw PostgresIndexError.newerSchema(url: url, found: newest, known: PostgresSchema.version)
                }
                for (index, migration) in PostgresSchema.migrations.enumerated() where !done.contains(index + 1) {
                    for statement in Self.statements(migration.sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, identifier) VALUES (\(index + 1), \(migration.identifier))",
                        logger: logger)
                }
            }
        }
    }

    /// The versions recorded in `schema_migrations`, or `nil` when the table does not exist.
    private func appliedMigrations() async throws -> [Int]? {
        let exists =
            try await connection.query(
                "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
            ).decode(Bool.self).first { _ in true } ?? false
        guard exists else { return nil }
        var versions: [Int] = []
        for try await version in try await connection.query(
            "SELECT version FROM schema_migrations ORDER BY version", logger: logger
        ).decode(Int.self) {
            versions.append(version)
        }
        return versions
    }

    /// The versions of the migrations applied, in order (for tests and `stats`).
    public func schemaVersions() async throws -> [Int] {
        try await run("reading schema_migrations") { try await appliedMigrations() ?? [] }
    }
}
