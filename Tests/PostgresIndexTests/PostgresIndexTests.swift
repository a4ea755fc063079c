import Foundation
import PostgresIndex
import RetrieveCore
import Testing
import TestSupport
import VectorIndex

/// URLs parse without a server.
@Suite struct PostgresLocationTests {
    @Test func parsesEveryPartAndRedactsThePassword() throws {
        let location = try PostgresLocation("postgresql://alice:p%40ss%2Fword@db.example:6543/music?sslmode=require")
        #expect(location.user == "alice")
        #expect(location.password == "p@ss/word")
        #expect(location.host == "db.example")
        #expect(location.port == 6543)
        #expect(location.database == "music")
        #expect(location.tls == .require)
        #expect(location.description == "postgresql://alice:***@db.example:6543/music?sslmode=require")
        #expect(!location.description.contains("p@ss"))
    }

    @Test func defaultsToPort5432AndPreferredTLS() throws {
        let location = try PostgresLocation("postgres://bob@localhost/index")
        #expect(location.port == 5432)
        #expect(location.password == nil)
        #expect(location.tls == .prefer)
        #expect(location.description == "postgresql://bob@localhost:5432/index")
    }

    @Test(arguments: [
        ("postgresql://alice:secret@host", "names no database"),
        ("postgresql://host/db", "names no user"),
        ("postgresql://alice:secret@host/db?sslmode=maybe", "sslmode must be"),
        ("postgresql://alice:secret@host/db?timeout=3", "not supported"),
    ])
    func refusesIncompleteURLsWithoutShowingThePassword(url: String, reason: String) {
        #expect {
            try PostgresLocation(url)
        } throws: { error in
            let text = String(describing: error)
            return text.contains(reason) && !text.contains("secret") && text.contains("postgresql://USER")
        }
    }

    @Test func tellsURLsFromPaths() {
        #expect(PostgresLocation.isURL("postgresql://a@b/c"))
        #expect(PostgresLocation.isURL("postgres://a@b/c"))
        #expect(!PostgresLocation.isURL("/var/lib/retrieve/library.sqlite"))
        #expect(PostgresLocation.redact("postgresql://u:hunter2@h:1/d") == "postgresql://u:***@h:1/d")
    }
}

@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipReason)), .withPostgres)
struct PostgresStoreTests {
    @Test func migratesAnEmptyDatabaseOnceEvenWhenThreeProcessesOpenItAtOnce() async throws {
        let url = try WithPostgres.require().createDatabase()
        try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<3 {
                group.addTask {
                    let store = try await PostgresStore.open(url: url, migrate: true)
                    defer { Task { await store.close() } }
                    return try await store.schemaVersions()
                }
            }
            for try await versions in group { #expect(versions == [1, 2, 3, 4, 5]) }
        }
        let again = try await PostgresStore.open(url: url, migrate: true)
        #expect(try await again.schemaVersions() == [1, 2, 3, 4, 5])
        #expect(try await again.rowCounts() == RowCounts())
        await again.close()
    }

    @Test func readOnlyOpenOfAnEmptyDatabaseSaysHowToFillIt() async throws {
        let url = try WithPostgres.require().createDatabase()
        await #expect {
            try await PostgresStore.open(url: url, migrate: false)
        } throws: { error in
            String(describing: error).contains("retrieve migrate SRC")
        }
    }

    @Test func refusesADatabaseOfAnotherApplicationAndANewerSchema() async throws {
        let server = try WithPostgres.require()
        let foreign = try server.createDatabase()
        try server.psql(database: String(foreign.split(separator: "/").last!), "CREATE TABLE invoices (id int)")
        await #expect {
            try await PostgresStore.open(url: foreign, migrate: true)
        } throws: { error in
            String(describing: error).contains("another application")
        }

        let newer = try server.createDatabase()
        try await PostgresStore.open(url: newer, migrate: true).close()
        try server.psql(
            database: String(newer.split(separator: "/").last!),
            "INSERT INTO schema_migrations (version, identifier) VALUES (99, 'v99-future')")
        await #expect {
            try await PostgresStore.open(url: newer, migrate: true)
        } throws: { error in
            String(describing: error).contains("newer retrieve (schema version 99")
        }

        // An index of the first schema (the previous release's) is upgraded when a command opens it to read, as an
        // SQLite index is; an empty database is not made into an index by a reader.
        let old = try server.createDatabase()
        try await PostgresStore.open(url: old, migrate: true).close()
        try server.psql(
            database: String(old.split(separator: "/").last!),
            "DROP TABLE index_work; DROP TABLE index_changes; DROP FUNCTION retrieve_count_change() CASCADE; "
                + "ALTER TABLE embeddings DROP COLUMN timbre; ALTER TABLE embeddings DROP COLUMN segment_version; "
                + "DELETE FROM schema_migrations WHERE version > 1")
        let upgraded = try await PostgresStore.open(url: old, migrate: false)
        #expect(try await upgraded.schemaVersions() == [1, 2, 3, 4, 5])
        await upgraded.close()
        let empty = try server.createDatabase()
        await #expect {
            try await PostgresStore.open(url: empty, migrate: false)
        } throws: { error in
            String(describing: error).contains("has no complete retrieve index")
        }
    }

    @Test func connectionErrorsNameTheURLWithoutItsPasswordAndTheRemedy() async throws {
        let server = try WithPostgres.require()
        let nobody = "postgresql://retrieve:topsecret@127.0.0.1:\(try LoopbackPort.free())/postgres"
        await #expect {
            try await PostgresStore.open(url: nobody, migrate: true)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("cannot reach PostgreSQL at postgresql://retrieve:***@127.0.0.1")
                && text.contains("check that the server is running") && !text.contains("topsecret")
        }
        await #expect {
            try await PostgresStore.open(url: server.url(password: "wrong-password"), migrate: true)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("refused the login") && text.contains("check the user name and password")
                && !text.contains("wrong-password")
        }
        await #expect {
            try await PostgresStore.open(url: server.url(database: "no_such_db"), migrate: true)
        } throws: { error in
            String(describing: error).contains("has no database no_such_db — create it")
        }
    }
}

@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipReason)), .withPostgres)
struct MigrateTests {
    @Test func sqliteToPostgresToSQLiteKeepsEveryRowAndEveryVectorBit() async throws {
        let scratch = try Scratch()
        let url = try WithPostgres.require().createDatabase()
        let original = try GeneratedIndex.write(to: scratch.path("original.sqlite"), tracks: 1234)
        let copier = IndexCopier(batchRows: 200)
        let postgres = try await PostgresStore.open(url: url, migrate: true)
        let there = try await copier.copy(from: original, to: postgres, replace: false)
        let back = try IndexStore(path: scratch.path("back.sqlite"))
        let again = try await copier.copy(from: postgres, to: back, replace: false)
        await postgres.close()

        #expect(there.checksums == again.checksums)
        #expect(there.checksums.counts == (try original.rowCounts()))
        #expect(there.checksums.counts.tracks == 1234)
        #expect(there.checksums.counts.segments == 1234 * 3)
        #expect(there.checksums.counts.failures == 7)
        // Every row, compared field by field and byte by byte, not only through checksums.
        #expect(try back.storedTracks(after: .min, limit: 10_000) == original.storedTracks(after: .min, limit: 10_000))
        #expect(try back.storedModels() == original.storedModels())
        #expect(try back.failures() == original.failures())
        let originalVectors = try original.storedEmbeddings(after: .start, limit: 10_000)
        #expect(try back.storedEmbeddings(after: .start, limit: 10_000) == originalVectors)
        #expect(try back.storedSegments(after: .start, limit: 100_000) == original.storedSegments(after: .start, limit: 100_000))
        // The copy is a working index: its chunked vectors (what searches read) equal the original's rows, and
        // a new track gets a fresh id.
        for model in try original.storedModels() {
            let a = try original.vectorsFromRows(model: model.id)
            let b = try back.loadVectors(model: model.id)
            #expect(a.ids == b.ids)
            #expect(a.vectors.storage.map(\.bitPattern) == b.vectors.storage.map(\.bitPattern))
        }
        let ids = try back.commit(IndexBatch(items: [.init(track: TrackRecord(
            path: "/music/new.flac", size: 1, modificationTime: 1, contentHash: "h1:1:1", duration: 1,
            sampleRate: 8000, channels: 1, format: "flac"), embeddings: [])]))
        #expect(ids.first!.rawValue == (try original.storedTracks(after: .min, limit: 10_000)).last!.record.id!.rawValue + 1)
    }

    @Test func refusesANonEmptyDestinationUnlessToldToReplaceIt() async throws {
        let scratch = try Scratch()
        let url = try WithPostgres.require().createDatabase()
        let small = try GeneratedIndex.write(to: scratch.path("small.sqlite"), tracks: 20)
        let large = try GeneratedIndex.write(to: scratch.path("large.sqlite"), tracks: 50)
        let postgres = try await PostgresStore.open(url: url, migrate: true)
        defer { Task { await postgres.close() } }
        _ = try await IndexCopier().copy(from: large, to: postgres, replace: false)
        await #expect {
            try await IndexCopier().copy(from: small, to: postgres, replace: false)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("already holds an index (50 tracks") && text.contains("pass --replace")
        }
        #expect(try await postgres.rowCounts().tracks == 50)
        let report = try await IndexCopier().copy(from: small, to: postgres, replace: true)
        #expect(report.replaced?.tracks == 50)
        #expect(try await postgres.rowCounts() == (try small.rowCounts()))
    }

    @Test func aDamagedCopyFailsVerification() async throws {
        let scratch = try Scratch()
        let server = try WithPostgres.require()
        let url = try server.createDatabase()
        let original = try GeneratedIndex.write(to: scratch.path("original.sqlite"), tracks: 30)
        let postgres = try await PostgresStore.open(url: url, migrate: true)
        defer { Task { await postgres.close() } }
        let sums = try await IndexCopier().copy(from: original, to: postgres, replace: false).checksums
        #expect(try await IndexCopier().checksums(of: postgres) == sums)
        // One bit of one vector flipped in the database: the checksums tell.
        try server.psql(
            database: String(url.split(separator: "/").last!),
            "UPDATE embeddings SET vector = set_byte(vector, 0, get_byte(vector, 0) # 1) WHERE track_id = 7 AND model_id = 1")
        let damaged = try await IndexCopier().checksums(of: postgres)
        #expect(damaged.counts == sums.counts)
        #expect(damaged.embeddings != sums.embeddings)
        #expect(damaged.tracks == sums.tracks)
    }
}
