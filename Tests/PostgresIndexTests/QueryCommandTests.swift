import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import PostgresIndex
import RetrieveCore
import SequenceEncoding
import Testing
import TestSupport
import VectorIndex

/// `similar`, `list`, `export`, `remove` and `serve` with `--db postgresql://…`: the built binary run against an
/// SQLite index and against the same index migrated to the suite's PostgreSQL must print the same.
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipReason)), .withPostgres)
struct PostgresQueryCommandTests {
    /// The shipped model: queries need a model file whose digest the index knows (its vectors here are random).
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Index/default-model.safetensors").path

    struct Pair {
        var file: String
        var url: String
        var version: ModelVersion
    }

    /// An SQLite index of `tracks` tracks under the shipped model's version (and a second model on two tracks
    /// in three), and the same index migrated to a new PostgreSQL database.
    static func pair(_ scratch: Scratch, tracks: Int = 150) throws -> Pair {
        let version = try SequenceEncoding.Encoder.load(contentsOf: URL(fileURLWithPath: model)).version
        let other = ModelVersion(name: "older", digest: String(repeating: "c", count: 64), dimensions: 12)
        let file = scratch.path("index-\(tracks).sqlite")
        _ = try GeneratedIndex.write(to: file, tracks: tracks, models: [version, other])
        let url = try WithPostgres.require().createDatabase()
        let copy = try MigrateCommandTests.retrieve(["migrate", file, url, "--quiet"])
        try #require(copy.exit.status == 0, "\(copy.stderr)")
        return Pair(file: file, url: url, version: version)
    }

    /// Runs `arguments` against each database; expects the same exit status and standard output, and returns
    /// PostgreSQL's run.
    @discardableResult
    static func expectSame(
        _ arguments: [String], _ pair: Pair, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> MigrateCommandTests.Run {
        let here = try MigrateCommandTests.retrieve(arguments + ["--db", pair.file, "--model", model])
        let there = try MigrateCommandTests.retrieve(arguments + ["--db", pair.url, "--model", model])
        #expect(here.exit.status == there.exit.status, "\(arguments): \(there.stderr)", sourceLocation: sourceLocation)
        #expect(here.stdout == there.stdout, "\(arguments)", sourceLocation: sourceLocation)
        return there
    }

    @Test func similarListAndExportPrintTheSameOnBothDatabases() throws {
        let scratch = try Scratch()
        let pair = try Self.pair(scratch)
        let audio = scratch.path("query.wav")
        try Data(Signals.wav16(Signals.chord([220, 330], seconds: 4, sampleRate: 22_050), sampleRate: 22_050))
            .write(to: URL(fileURLWithPath: audio))
        let byID = try Self.expectSame(["similar", "5", "--k", "7"], pair)
        #expect(byID.exit.status == 0, "\(byID.stderr)")
        #expect(byID.stdout.split(separator: "\n").count == 8, "a header and 7 results: \(byID.stdout)")
        for arguments in [
            ["similar", "5", "12", "--k", "5", "--json"],
            ["similar", "/music/Ärtist 3/Album 3/00003 ünïcode.flac", "--exclude-same-artist", "--k", "10"],
            ["similar", "9", "--exclude-same-album", "--k", "6", "--m3u"],
            ["similar", "9", "--under", "/music/Ärtist 4", "--under", "/music/Ärtist 11", "--k", "5", "--csv"],
            ["similar", "39", "--dedupe", "--k", "10", "--dedupe-threshold", "0.2"],
            ["similar", audio, "--k", "5"],
            ["similar", "--identify", audio, "--k", "3", "--exact-pitch"],
            ["list"],
            ["list", "--json", "--limit", "10", "--offset", "5"],
            ["list", "--failures"],
            ["list", "--failures", "--json", "--offset", "2"],
            ["export", "--k", "5", "--out", "-"],
            ["export", "--k", "3", "--format", "jsonl", "--out", "-"],
        ] {
            let run = try Self.expectSame(arguments, pair)
            #expect(run.exit.status == 0 && !run.stdout.isEmpty, "\(arguments): \(run.stderr)")
        }
        // Track 39's byte-identical copy (the file 00039, track 40) is never among its results.
        for dedupe in [[], ["--dedupe"]] {
            let results = try Self.expectSame(["similar", "39", "--k", "30", "--json"] + dedupe, pair)
            #expect(results.stdout.split(separator: "\n").count == 30)
            #expect(!results.stdout.contains("00039 "))
        }
        let unknown = try Self.expectSame(["similar", "999999"], pair)
        #expect(unknown.stderr.contains("999999: no such file, indexed path or track id"))
    }

    @Test func removeLeavesTheSameRowsOnBothDatabases() throws {
        let scratch = try Scratch()
        let pair = try Self.pair(scratch, tracks: 90)
        let removed = try Self.expectSame(
            [
                "remove", "7", "/music/Ärtist 2", "/music/Ärtist 5/Album 0/00005 ünïcode.flac", "/music/broken 3.mp3",
                "/nowhere", "999999",
            ], pair)
        #expect(removed.exit.status == 0, "\(removed.stderr)")
        #expect(removed.stdout == "removed 8 track(s)\n")
        #expect(removed.stderr.contains("/nowhere: no indexed track has this id or path, and none is under it"))
        try Self.expectSame(["list"], pair)
        try Self.expectSame(["list", "--failures"], pair)
        // The vectors and segments went with their tracks: a copy back holds what the SQLite file holds.
        let back = scratch.path("back.sqlite")
        let copy = try MigrateCommandTests.retrieve(["migrate", pair.url, back, "--quiet"])
        #expect(copy.exit.status == 0, "\(copy.stderr)")
        let here = try IndexStore.openForReading(path: pair.file)
        let there = try IndexStore.openForReading(path: back)
        #expect(try here.rowCounts() == there.rowCounts())
        #expect(try here.rowCounts().tracks == 90 - 8)
        #expect(
            try here.storedSegments(after: .start, limit: 10_000) == there.storedSegments(after: .start, limit: 10_000))
    }

    /// `index --labels` on PostgreSQL labels the indexed tracks as it does in an SQLite file: afterwards `list`
    /// prints the same labels from both (paths not in the index are ignored, as on SQLite).
    @Test func indexLabelsTheTracksOnBothDatabasesAlike() throws {
        let scratch = try Scratch()
        let pair = try Self.pair(scratch, tracks: 30)
        let listed = try MigrateCommandTests.retrieve(["list", "--json", "--db", pair.file, "--model", Self.model])
        let paths = listed.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["path"] as? String
        }
        try #require(paths.count == 30 && !paths.contains { $0.contains(",") || $0.contains("\"") })
        let csv = scratch.path("labels.csv")
        let rows = ["path,label"] + paths.prefix(6).enumerated().map { "\($1),\($0 % 2 == 0 ? "calm" : "storm")" }
            + ["/not/indexed.flac,calm"]
        try rows.joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let empty = scratch.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        for db in [pair.file, pair.url] {  // their summaries differ (the index's name, the time taken)
            let run = try MigrateCommandTests.retrieve(["index", empty, "--labels", csv, "--db", db, "--model", Self.model])
            #expect(run.exit.status == 0, "\(run.stderr)")
        }
        let after = try Self.expectSame(["list", "--json"], pair)
        #expect(after.stdout.components(separatedBy: #""label":"calm""#).count - 1 == 3, "\(after.stdout)")
        #expect(after.stdout.components(separatedBy: #""label":"storm""#).count - 1 == 3)
    }

    @Test func badDatabasesAreNamedWithTheRemedy() async throws {
        let server = try WithPostgres.require()
        let port = try LoopbackPort.free()
        let nowhere = "postgresql://retrieve:s3cret@127.0.0.1:\(port)/x"
        for command in [
            ["similar", "1"], ["list"], ["remove", "1"], ["export", "--out", "-"], ["serve", "--port", "0"],
        ] {
            let down = try MigrateCommandTests.retrieve(command + ["--db", nowhere, "--model", Self.model])
            #expect(down.exit.status == 1, "\(command)")
            #expect(down.stderr.contains("cannot reach PostgreSQL at postgresql://retrieve:***@127.0.0.1:\(port)/x"))
            #expect(down.stderr.contains("check that the server is running"))
            #expect(!down.stderr.contains("s3cret"))
        }
        let empty = try server.createDatabase()
        let unfilled = try MigrateCommandTests.retrieve(["list", "--db", empty])
        #expect(unfilled.exit.status == 1)
        #expect(unfilled.stderr.contains("has no complete retrieve index"))
        #expect(unfilled.stderr.contains("retrieve migrate SRC"))
        #expect(!unfilled.stderr.contains(server.password))

        let login = try MigrateCommandTests.retrieve(["similar", "1", "--db", server.url(password: "guess")])
        #expect(login.stderr.contains("refused the login"))
        #expect(!login.stderr.contains("guess"))

        let newer = try server.createDatabase()
        try await PostgresStore.open(url: newer, migrate: true).close()
        try server.psql(
            database: String(newer.split(separator: "/").last!),
            "INSERT INTO schema_migrations (version, identifier) VALUES (99, 'v99-future')")
        let future = try MigrateCommandTests.retrieve(["similar", "1", "--db", newer, "--model", Self.model])
        #expect(future.stderr.contains("was migrated by a newer retrieve (schema version 99"))
        #expect(future.stderr.contains("upgrade retrieve"))
    }

    @Test func serveAnswersFromPostgresAndSeesCommitsOfOtherProcesses() async throws {
        let scratch = try Scratch()
        let pair = try Self.pair(scratch, tracks: 100)
        let onFile = try await Served.start(["--db", pair.file], scratch)
        defer { _ = onFile.child.stop(grace: 30) }
        let onPostgres = try await Served.start(["--db", pair.url], scratch)
        defer { _ = onPostgres.child.stop(grace: 30) }
        for query in ["/api/similar?id=5&k=8", "/api/similar?id=12&k=5&excludeSameArtist=true", "/api/tracks?limit=5"] {
            let a = try await onFile.get(query)
            let b = try await onPostgres.get(query)
            #expect(a.status == 200 && b.status == 200, "\(query): \(a.status), \(b.status); \(onPostgres.log)")
            #expect(a.body == b.body, "\(query): \(String(decoding: a.body, as: UTF8.self)) against \(String(decoding: b.body, as: UTF8.self))")
        }
        #expect(try await onPostgres.tracks() == 100, "\(onPostgres.log)")

        // Another process replaces the index (emptied in one transaction, then filled batch by batch, so the
        // server may see, and fail to load, the states between): the server ends on the whole new index without
        // a restart.
        let bigger = try Self.pair(scratch, tracks: 130)
        let replaced = try MigrateCommandTests.retrieve(["migrate", bigger.file, pair.url, "--replace", "--quiet"])
        #expect(replaced.exit.status == 0, "\(replaced.stderr)")
        #expect(try await onPostgres.waitForTracks(130), "\(onPostgres.log)")

        // And a direct insert of one track with its vector.
        let database = String(pair.url.split(separator: "/").last!)
        let vector = String(repeating: "0000803f", count: pair.version.dimensions)  // 1.0f, little-endian
        try WithPostgres.require().psql(
            database: database,
            """
            BEGIN;
            INSERT INTO tracks (id, path, size, mtime, content_hash, duration, sample_rate, channels, format,
                added_at, updated_at) VALUES (5000, '/music/new.flac', 1, 1, 'h-new', 60, 44100, 2, 'flac', 1, 1);
            INSERT INTO embeddings (track_id, model_id, vector, segment_count, created_at)
                SELECT 5000, id, decode('\(vector)', 'hex'), 0, 1 FROM models WHERE digest = '\(pair.version.digest)';
            COMMIT;
            """)
        #expect(try await onPostgres.waitForTracks(131), "\(onPostgres.log)")
        let found = try await onPostgres.get("/api/tracks/5000")
        #expect(found.status == 200)
        #expect(String(decoding: found.body, as: UTF8.self).contains("/music/new.flac"))
    }
}

/// A `retrieve serve` child on a free loopback port.
struct Served {
    let child: Child
    let base: String

    static func start(_ arguments: [String], _ scratch: Scratch) async throws -> Served {
        let child = try Child(
            try RetrieveBinary.require(),
            ["serve", "--port", "0", "--model", PostgresQueryCommandTests.model] + arguments,
            output: URL(fileURLWithPath: scratch.path("serve-\(UUID().uuidString)")))
        return Served(child: child, base: try await Polling.serveBase(child))
    }

    func get(_ path: String) async throws -> (status: Int, body: Data) {
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: URL(string: base + path)!) { data, response, error in
                if let error { return continuation.resume(throwing: error) }
                continuation.resume(returning: ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
            }.resume()
        }
    }

    /// What the server printed so far (its structured log lines and any error), for a failing expectation.
    var log: String { child.standardOutput + child.standardError }

    /// The number of tracks the server answers from (`/api/health`).
    func tracks() async throws -> Int {
        let health = try await get("/api/health")
        let object = try JSONSerialization.jsonObject(with: health.body) as? [String: Any]
        return object?["tracks"] as? Int ?? -1
    }

    /// Polls until the server answers from `count` tracks (up to 120 s: the whole suite may be running beside it).
    func waitForTracks(_ count: Int) async throws -> Bool {
        try await Polling.until(seconds: 120, interval: 0.2) { try await tracks() == count }
    }
}
