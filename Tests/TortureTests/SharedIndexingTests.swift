import AudioDecoding
import Foundation
import GRDB
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `retrieve index --db postgresql://…` with several worker processes on one library: the kill fixture's
/// collection indexed into a real PostgreSQL 15, compared with the fixture's uninterrupted single-process SQLite run.
@Suite(.serialized, .enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipReason)))
struct SharedIndexingTests {
    /// The kill tests' kind of collection with longer files (8 s), so that a worker started again after a kill
    /// still finds work to claim before the others finish.
    static let fixture: Result<KillFixture, any Error> = Result { try KillFixture(tracks: 48, seconds: 8) }

    /// Index arguments of one worker: one analysis thread (three workers share the two cores), batches of two
    /// files, a two-second lease so a killed worker's files are taken over quickly.
    static func arguments(_ fixture: KillFixture, url: String, jobs: Int = 1, lease: Int = 2) -> [String] {
        [
            "index", fixture.music.path, "--db", url, "--model", fixture.model.path, "--batch-size", "2",
            "--jobs", "\(jobs)", "--lease", "\(lease)", "-q", "--json",
        ]
    }

    /// Starts a worker; its crash journals go to the fixture's folder, not the user's state folder.
    static func start(_ arguments: [String], in fixture: KillFixture, name: String) throws -> Child {
        try Child(
            try RetrieveBinary.require(), arguments, output: fixture.folder.path("\(name)-\(UUID().uuidString)"),
            environment: ["XDG_STATE_HOME": fixture.folder.path("state").path])
    }

    /// Waits (up to a minute) until `condition` holds, polling.
    static func waitUntil(_ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while !(try condition()) {
            guard Date() < deadline else { throw TortureFailure("timed out waiting until \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Whether the worker process `pid` holds a claim right now (false before the schema exists).
    static func holdsClaim(_ server: PostgresServer, _ database: String, pid: Int32) -> Bool {
        let n = try? server.psql(database: database, "SELECT count(*) FROM index_work WHERE worker LIKE '%:\(pid):%'")
        return (n.flatMap { Int($0) } ?? 0) > 0
    }

    static func integer(_ server: PostgresServer, _ database: String, _ sql: String) throws -> Int {
        let text = try server.psql(database: database, sql)
        guard let n = Int(text) else { throw TortureFailure("\(sql) printed \(text)") }
        return n
    }

    /// No claims or queued files left, one embedding per track, no track written twice, nothing failed; then the
    /// index copied to SQLite equals the fixture's uninterrupted SQLite run, vector for vector.
    static func expectComplete(
        _ fixture: KillFixture, _ server: PostgresServer, database: String, url: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(try integer(server, database, "SELECT count(*) FROM index_work") == 0, sourceLocation: sourceLocation)
        #expect(
            try integer(server, database, "SELECT count(*) FROM tracks") == fixture.trackCount,
            sourceLocation: sourceLocation)
        #expect(
            try integer(server, database, "SELECT count(*) FROM embeddings") == fixture.trackCount,
            sourceLocation: sourceLocation)
        // A track written by a second batch would have been updated after it was added.
        #expect(
            try integer(server, database, "SELECT count(*) FROM tracks WHERE updated_at <> added_at") == 0,
            "a file was committed twice", sourceLocation: sourceLocation)
        #expect(try integer(server, database, "SELECT count(*) FROM failures") == 0, sourceLocation: sourceLocation)
        let copy = fixture.folder.path("copy-\(UUID().uuidString).sqlite").path
        let migrate = try runRetrieve(["migrate", url, copy, "--quiet"], in: fixture.folder.url)
        try #require(migrate.exit.status == 0, "\(migrate.stderr)", sourceLocation: sourceLocation)
        fixture.expectEqualsReference(try IndexSnapshot.read(copy), sourceLocation: sourceLocation)
    }

    /// A temporary folder with six 2-s tones `music/t0.wav` … `t5.wav` and a random-weight model.
    static func sixTracks(prefix: String) throws -> (folder: TemporaryDirectory, music: URL, model: URL) {
        let folder = try TemporaryDirectory(prefix: prefix)
        let music = folder.path("music"), model = folder.path("model.safetensors")
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        _ = try Torture.makeModel(at: model, seed: 12)
        for i in 0..<6 {
            try AudioFileWriter.write(
                Torture.tone(i, seconds: 2), sampleRate: 22_050, format: .wav16, to: music.appendingPathComponent("t\(i).wav"))
        }
        return (folder, music, model)
    }

    /// `retrieve index MUSIC --db DB --model MODEL --json` in `folder` (its crash journals there too): the summary.
    static func index(
        _ music: URL, into db: String, model: URL, in folder: TemporaryDirectory, _ extra: [String] = []
    ) throws -> [String: Any] {
        let run = try runRetrieve(
            ["index", music.path, "--db", db, "--model", model.path, "--json", "-q"] + extra, in: folder.url,
            environment: ["XDG_STATE_HOME": folder.path("state").path])
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        return try #require(object, "\(run.exit): \(run.stderr)")
    }

    static func json(_ child: Child) throws -> [String: Any] {
        let data = Data(child.standardOutput.utf8)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TortureFailure("not a JSON object: \(child.standardOutput)")
        }
        return object
    }

    /// Three workers at once, one of them SIGKILLed twice while it holds claims and started again: every file is
    /// indexed exactly once, the killed worker's files are taken over, and the vectors equal a single SQLite run's.
    @Test func threeWorkersOneKilledTwiceIndexEveryFileOnce() throws {
        let fixture = try Self.fixture.get()
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.createDatabase(prefix: "shared")
        let database = String(url.split(separator: "/").last!)
        let arguments = Self.arguments(fixture, url: url)
        let steady = try (0..<2).map { try Self.start(arguments, in: fixture, name: "worker\($0)") }
        var victim = try Self.start(arguments, in: fixture, name: "victim")
        for kill in 1...2 {
            try Self.waitUntil("the victim holds a claim (kill \(kill))") {
                victim.hasExited || Self.holdsClaim(server, database, pid: victim.pid)
            }
            #expect(!victim.hasExited, "the victim finished before kill \(kill): \(victim.standardError)")
            victim.send(SIGKILL)
            #expect(victim.wait().signal == SIGKILL)
            victim = try Self.start(arguments, in: fixture, name: "victim")
        }
        var takenOver = 0, handedBack = 0
        for child in steady + [victim] {
            let exit = child.wait()
            #expect(exit.status == 0, "\(exit): \(child.standardError)")
            takenOver += try Self.json(child)["takenOver"] as? Int ?? 0
            handedBack += try Self.json(child)["handedBack"] as? Int ?? 0
        }
        // Whichever comes first: another worker takes the claims over when the lease expires, or the victim
        // started again hands back its ended self's claims (its crash journal names the killed process).
        #expect(takenOver + handedBack >= 1, "the killed worker's claims were neither taken over nor handed back")
        try Self.expectComplete(fixture, server, database: database, url: url)
    }

    /// The worker's connection is terminated from another session (`pg_terminate_backend`) twice while it holds
    /// claims: it says so, reconnects, retries, and the index ends complete with nothing lost or written twice.
    @Test func aTerminatedConnectionIsReportedAndTheBatchRetried() throws {
        let fixture = try Self.fixture.get()
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.createDatabase(prefix: "terminated")
        let database = String(url.split(separator: "/").last!)
        let worker = try Self.start(Self.arguments(fixture, url: url, jobs: 2, lease: 5), in: fixture, name: "worker")
        var terminated = 0
        for round in 1...2 {
            try Self.waitUntil("the worker holds a claim (round \(round))") {
                worker.hasExited
                    || (Self.holdsClaim(server, database, pid: worker.pid)
                        && (try? Self.integer(server, database, "SELECT count(*) FROM tracks")) ?? 0 >= 4 * round)
            }
            if worker.hasExited { break }
            terminated += try Self.integer(
                server, database,
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                """)
            Thread.sleep(forTimeInterval: 0.3)
        }
        let exit = worker.wait()
        #expect(exit.status == 0, "\(exit): \(worker.standardError)")
        #expect(terminated >= 1, "the worker finished before its connection could be terminated")
        #expect(worker.standardError.contains("retrieve: lost the connection to postgresql://retrieve:***@127.0.0.1"))
        #expect(!worker.standardError.contains(server.password))
        try Self.expectComplete(fixture, server, database: database, url: url)
    }

    /// Readers while two workers index: every `retrieve list` (one snapshot) sees whole batches only. Batches are
    /// two files and nothing fails, so a read that saw half a batch would count an odd number of tracks.
    @Test func readersDuringSharedIndexingNeverSeeHalfABatch() throws {
        let fixture = try Self.fixture.get()
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.createDatabase(prefix: "readers")
        let workers = try (0..<2).map {
            try Self.start(Self.arguments(fixture, url: url, lease: 60), in: fixture, name: "reader-run\($0)")
        }
        var counts: [Int] = []
        while !workers.allSatisfy(\.hasExited) {
            let list = try runRetrieve(["list", "--db", url, "--json"], in: fixture.folder.url)
            // Before the first plan commits there is no index to list yet.
            guard list.exit.status == 0 else { continue }
            counts.append(list.stdout.split(separator: "\n").count)
        }
        for worker in workers {
            let exit = worker.wait()
            #expect(exit.status == 0, "\(exit): \(worker.standardError)")
        }
        #expect(counts.allSatisfy { $0 % 2 == 0 }, "a read saw half a batch: \(counts)")
        #expect(counts.contains { $0 > 0 && $0 < fixture.trackCount }, "no read fell inside the run: \(counts)")
    }

    /// A file that crashes a shared worker's analysis (a real SIGSEGV, injected through `RETRIEVE_TEST_CRASH_ON`):
    /// the machine's next run records it in PostgreSQL as failed, takes it out of the queue, hands the crashed
    /// worker's other claims back at once (a 10-minute lease is not waited for) and indexes the rest; later runs
    /// leave it out until `--retry-failures`.
    @Test func aFileThatCrashesAWorkerIsRecordedInPostgreSQL() throws {
        let (folder, music, model) = try Self.sixTracks(prefix: "retrieve-shared-crash")
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.createDatabase(prefix: "crash")
        let state = folder.path("state")
        let arguments = [
            "index", music.path, "--db", url, "--model", model.path, "--json", "-q", "--batch-size", "2", "--lease", "600",
        ]
        let crashed = try runRetrieve(
            arguments, in: folder.url,
            environment: ["XDG_STATE_HOME": state.path, "RETRIEVE_TEST_CRASH_ON": "/t3.wav"])
        #expect(crashed.exit.signal == SIGSEGV, "\(crashed.exit)\n\(crashed.stderr.suffix(2000))")
        let journals = { (try? FileManager.default.contentsOfDirectory(atPath: state.path + "/retrieve")) ?? [] }
        #expect(journals().count == 1, "\(journals())")

        let child = try Child(
            try RetrieveBinary.require(), arguments, output: folder.path("after-crash"),
            environment: ["XDG_STATE_HOME": state.path])
        let deadline = Date().addingTimeInterval(300)
        while !child.hasExited && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if !child.hasExited { child.send(SIGKILL) }
        let next = RunResult(exit: child.wait(), stdout: child.standardOutput, stderr: child.standardError)
        #expect(next.exit.status == 3, "\(next.exit) (killed after 300 s: waiting for the lease?)\n\(next.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(next.stdout.utf8)) as? [String: Any]
        let failures = summary?["failures"] as? [[String: Any]] ?? []
        let crasher = music.appendingPathComponent("t3.wav").path
        // The crashed batch was t2 and t3: t3 recorded as failed, t2's claim handed back.
        #expect(summary?["handedBack"] as? Int == 1 && summary?["takenOver"] as? Int == 0, "\(next.stdout)")
        #expect(failures.count == 1 && failures.first?["path"] as? String == crasher, "\(next.stdout)")
        #expect((failures.first?["reason"] as? String)?.hasPrefix("the analysis crashed on this file (signal 11, SIGSEGV)")
                == true)
        #expect(journals().isEmpty, "\(journals())")
        let listed = try runRetrieve(["list", "--db", url, "--failures"], in: folder.url)
        #expect(listed.stdout.contains(crasher) && listed.stdout.contains("SIGSEGV"), "\(listed.stdout)")
        let tracks = try runRetrieve(["list", "--db", url, "--json"], in: folder.url)
        #expect(tracks.stdout.split(separator: "\n").count == 5 && !tracks.stdout.contains("t3.wav"), "\(tracks.stdout)")

        let again = try runRetrieve(arguments, in: folder.url, environment: ["XDG_STATE_HOME": state.path])
        let skipped = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        #expect(again.exit.status == 0 && skipped?["skippedFailures"] as? Int == 1, "\(again.stdout)")
        let retried = try runRetrieve(
            arguments + ["--retry-failures"], in: folder.url, environment: ["XDG_STATE_HOME": state.path])
        let added = try JSONSerialization.jsonObject(with: Data(retried.stdout.utf8)) as? [String: Any]
        #expect(retried.exit.status == 0 && added?["added"] as? Int == 1, "\(retried.stdout)\n\(retried.stderr)")
    }

    /// The same changes indexed into SQLite and into PostgreSQL give the same summary and the same index: a file
    /// renamed (a move, recognised by content), one rewritten with other audio (changed), a damaged one (a
    /// failure, remembered and skipped next time), one deleted (pruned with `--prune`).
    @Test func changesMovesFailuresAndPruneAsOnSQLite() throws {
        let (folder, music, model) = try Self.sixTracks(prefix: "retrieve-shared-plan")
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.createDatabase(prefix: "plan")
        let sqlite = folder.path("index.sqlite").path
        func index(_ db: String, _ extra: [String] = []) throws -> [String: Any] {
            try Self.index(music, into: db, model: model, in: folder, extra)
        }
        func counts(_ summary: [String: Any]) -> [String] {
            ["added", "updated", "reembedded", "moved", "removed", "unchanged", "skippedFailures"].map {
                "\($0) \(summary[$0] as? Int ?? -1)"
            } + ["failures \((summary["failures"] as? [Any])?.count ?? -1)"]
        }
        func listed(_ db: String, _ extra: [String] = []) throws -> [String] {
            let run = try runRetrieve(["list", "--db", db, "--json"] + extra, in: folder.url)
            return run.stdout.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["path"] as? String
            }.sorted()
        }
        let firstSQLite = try index(sqlite), firstPostgres = try index(url)
        #expect(counts(firstSQLite) == counts(firstPostgres))
        #expect(firstPostgres["added"] as? Int == 6)
        // The changes, then both indexes again.
        try FileManager.default.moveItem(at: music.appendingPathComponent("t0.wav"), to: music.appendingPathComponent("moved.wav"))
        try AudioFileWriter.write(
            Torture.tone(40, seconds: 3), sampleRate: 22_050, format: .wav16, to: music.appendingPathComponent("t1.wav"))
        try Data("RIFF\u{0}\u{0}\u{0}\u{0}WAVEnot really".utf8).write(to: music.appendingPathComponent("damaged.wav"))
        try FileManager.default.removeItem(at: music.appendingPathComponent("t2.wav"))
        // A dry run says the same on both and writes nothing.
        let before = try listed(url)
        let dry = (try index(sqlite, ["--prune", "--dry-run"]), try index(url, ["--prune", "--dry-run"]))
        #expect(counts(dry.0) == counts(dry.1))
        #expect(dry.1["moved"] as? Int == 1 && dry.1["updated"] as? Int == 1 && dry.1["removed"] as? Int == 1)
        #expect(dry.1["dryRun"] as? Bool == true)
        #expect(try listed(url) == before)
        let second = (try index(sqlite, ["--prune"]), try index(url, ["--prune"]))
        #expect(counts(second.0) == counts(second.1))
        #expect(second.1["moved"] as? Int == 1 && second.1["updated"] as? Int == 1 && second.1["removed"] as? Int == 1)
        #expect((second.1["failures"] as? [Any])?.count == 1)
        #expect(try listed(sqlite) == listed(url))
        #expect(try listed(sqlite, ["--failures"]) == listed(url, ["--failures"]))
        // A third run changes nothing and skips the remembered failure on both.
        let third = (try index(sqlite), try index(url))
        #expect(counts(third.0) == counts(third.1))
        #expect(third.1["unchanged"] as? Int == 5 && third.1["skippedFailures"] as? Int == 1)
    }

    /// `--segments` with a model that level-normalises its input stores segments of kind 2; segments of kind 1
    /// (as an earlier build stored them) are remade by the next `--segments` run, on PostgreSQL as on SQLite.
    @Test func segmentsOfAnEarlierFrontEndAreRemadeAsOnSQLite() throws {
        let (folder, music, _) = try Self.sixTracks(prefix: "retrieve-shared-segments")
        let model = folder.path("level.safetensors")
        _ = try Torture.makeModel(at: model, seed: 12, levelRange: 80)
        let server = try PostgresServer()
        defer { server.stop() }
        let url = try server.createDatabase(prefix: "segments")
        let database = String(url.split(separator: "/").last!)
        let sqlite = folder.path("index.sqlite").path
        func index(_ db: String, _ extra: [String] = []) throws -> [String: Any] {
            try Self.index(music, into: db, model: model, in: folder, extra)
        }
        for db in [sqlite, url] { #expect(try index(db, ["--segments"])["added"] as? Int == 6) }
        #expect(try Self.integer(server, database, "SELECT count(*) FROM embeddings WHERE segment_version = 2") == 6)
        #expect(try Self.integer(server, database, "SELECT count(DISTINCT track_id) FROM segment_embeddings") == 6)
        try DatabaseQueue(path: sqlite).write { try $0.execute(sql: "UPDATE embeddings SET segment_version = 1") }
        _ = try server.psql(database: database, "UPDATE embeddings SET segment_version = 1")
        for db in [sqlite, url] {
            #expect(try index(db)["unchanged"] as? Int == 6)  // without --segments nothing is remade
            #expect(try index(db, ["--segments"])["reembedded"] as? Int == 6)
            #expect(try index(db, ["--segments"])["unchanged"] as? Int == 6)
        }
        #expect(try Self.integer(server, database, "SELECT count(*) FROM embeddings WHERE segment_version = 2") == 6)
    }
}
