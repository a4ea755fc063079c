import AudioDecoding
import Foundation
import GRDB
import Testing
import TestSupport

/// Damaged models and databases: every command refuses them with one line and a non-zero status, and no byte of
/// any file changes.
@Suite(.serialized) struct DamagedStateTests {
    final class Fixture {
        let folder: TemporaryDirectory
        let music: URL
        let model: URL
        let goodDB: URL

        init() throws {
            folder = try TemporaryDirectory(prefix: "retrieve-torture-damaged")
            music = folder.path("music")
            model = folder.path("model.safetensors")
            goodDB = folder.path("good.sqlite")
            try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
            try Torture.makeModel(at: model, seed: 3)
            for i in 0..<3 {
                try AudioFileWriter.write(Torture.tone(i, seconds: 1), sampleRate: 22_050, format: .wav16,
                                          to: music.appendingPathComponent("t\(i).wav"))
            }
            let run = try runRetrieve(["index", music.path, "--db", goodDB.path, "--model", model.path, "-q"],
                                      in: folder.url)
            guard run.exit.status == 0 else { throw TortureFailure("good run: \(run.exit) \(run.stderr)") }
        }

        /// A copy of the good index under a new name.
        func copyOfGoodDB(_ name: String) throws -> URL {
            let url = folder.path(name)
            try FileManager.default.copyItem(at: goodDB, to: url)
            return url
        }

        /// Every command that reads or writes the index, pointed at `db` and `model`.
        func commands(db: URL, model: URL) -> [[String]] {
            let location = ["--db", db.path, "--model", model.path]
            return [
                ["index", music.path] + location + ["-q"],
                ["similar", "1"] + location,
                ["similar", music.appendingPathComponent("t0.wav").path] + location,
                ["stats"] + location,
                ["list"] + location,
                ["list", "--failures"] + location,
                ["export", "--out", "-"] + location + ["-q"],
                ["remove", "1"] + location,
            ]
        }
    }

    /// Every file in the folder with its bytes: a refused command must leave all of them, and add none.
    static func filesAndBytes(_ folder: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path)
        where !name.hasPrefix("run") && name != "music" {
            var isDirectory: ObjCBool = false
            let url = folder.appendingPathComponent(name)
            _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            out[name] = isDirectory.boolValue
                ? Data(try FileManager.default.contentsOfDirectory(atPath: url.path).sorted().joined(separator: "/").utf8)
                : try Data(contentsOf: url)
        }
        return out
    }

    /// Runs `arguments` and expects a refusal: status 1, one line `retrieve: …` that mentions `mentioning`, and
    /// every file of the folder byte-identical afterwards.
    static func expectRefusal(_ arguments: [String], in folder: URL, mentioning: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try filesAndBytes(folder)
        let run = try runRetrieve(arguments, in: folder)
        let command = arguments.prefix(2).joined(separator: " ")
        #expect(run.exit.status == 1, "\(command): \(run.exit)\n\(run.stderr)", sourceLocation: sourceLocation)
        let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1 && lines[0].hasPrefix("retrieve: "), "\(command): stderr \(run.stderr)",
                sourceLocation: sourceLocation)
        #expect(!run.stderr.contains("--index"), "\(command): the remedy names an option retrieve does not have: \(run.stderr)",
                sourceLocation: sourceLocation)
        #expect(run.stderr.contains(mentioning), "\(command): stderr does not name \(mentioning): \(run.stderr)",
                sourceLocation: sourceLocation)
        var after = try filesAndBytes(folder)
        // A read-only SQLite connection may leave an empty write-ahead log and its index beside an intact file.
        for (name, data) in after where before[name] == nil
            && (name.hasSuffix("-shm") || (name.hasSuffix("-wal") && data.isEmpty)) {
            after[name] = nil
        }
        let changedFiles = "\(before.keys.sorted()) → \(after.keys.sorted())"
        #expect(Set(after.keys) == Set(before.keys), "\(command) created or removed files: \(changedFiles)",
                sourceLocation: sourceLocation)
        for (name, data) in before where after[name] != data {
            let other = after[name] ?? Data()
            let first = zip(data, other).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            let at = first.map { String($0) } ?? "the end"
            Issue.record("\(command) changed \(name): \(data.count) → \(other.count) bytes, first difference at \(at)",
                         sourceLocation: sourceLocation)
        }
    }

    @Test func damagedModelFilesAreRefused() throws {
        let f = try Fixture()
        let bytes = try Data(contentsOf: f.model)
        var rng = SeededGenerator(seed: 99)
        let damaged: [(String, Data)] = [
            ("empty.safetensors", Data()),
            ("truncated-header.safetensors", bytes.prefix(20)),
            ("truncated-data.safetensors", bytes.prefix(bytes.count / 2)),
            ("one-byte-short.safetensors", bytes.dropLast()),
            ("garbage.safetensors", Data(Torture.randomBytes(4_000, &rng))),
            ("text.safetensors", Data("not a model\n".utf8)),
        ]
        for (name, data) in damaged {
            let model = f.folder.path(name)
            try data.write(to: model)
            for command in f.commands(db: f.goodDB, model: model) where !["stats", "list", "remove"].contains(command[0]) {
                try Self.expectRefusal(command, in: f.folder.url, mentioning: name)
            }
            // Indexing into a new database with a bad model must not create the database.
            try Self.expectRefusal(["index", f.music.path, "--db", f.folder.path("new.sqlite").path, "--model",
                                    model.path], in: f.folder.url, mentioning: name)
        }
        let missing = f.folder.path("missing.safetensors")
        try Self.expectRefusal(["similar", "1", "--db", f.goodDB.path, "--model", missing.path], in: f.folder.url,
                               mentioning: "missing.safetensors")
    }

    @Test func damagedAndForeignDatabasesAreRefused() throws {
        let f = try Fixture()
        var rng = SeededGenerator(seed: 7)
        var cases: [(URL, String)] = []

        // Written by a newer retrieve: user_version ahead of this build.
        let newer = try f.copyOfGoodDB("newer-version.sqlite")
        try DatabaseQueue(path: newer.path).write { try $0.execute(sql: "PRAGMA user_version = 99") }
        cases.append((newer, "newer"))
        // Written by a newer retrieve that kept user_version but added a migration this build does not know.
        let newerMigration = try f.copyOfGoodDB("newer-migration.sqlite")
        try DatabaseQueue(path: newerMigration.path).write {
            try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2-from-the-future')")
        }
        cases.append((newerMigration, "newer"))
        // Another application's SQLite file.
        let foreign = f.folder.path("foreign.sqlite")
        try DatabaseQueue(path: foreign.path).write {
            try $0.execute(sql: "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')")
        }
        cases.append((foreign, "another application"))
        let foreignID = f.folder.path("foreign-id.sqlite")
        try DatabaseQueue(path: foreignID.path).write {
            try $0.execute(sql: "PRAGMA application_id = 1234; CREATE TABLE x (y)")
        }
        cases.append((foreignID, "another application"))
        // Not SQLite at all.
        let random = f.folder.path("random.sqlite")
        try Data(Torture.randomBytes(8_192, &rng)).write(to: random)
        cases.append((random, "not an SQLite database"))
        let text = f.folder.path("text.sqlite")
        try Data(String(repeating: "my playlist\n", count: 100).utf8).write(to: text)
        cases.append((text, "not an SQLite database"))
        // A good header on a file cut short.
        let truncated = f.folder.path("truncated.sqlite")
        let good = try Data(contentsOf: f.goodDB)
        try good.prefix(max(100, good.count / 3)).write(to: truncated)
        cases.append((truncated, "truncated.sqlite"))
        // Every page after the header replaced by noise.
        let scrambled = f.folder.path("scrambled.sqlite")
        try (good.prefix(4_096) + Data(Torture.randomBytes(good.count - 4_096, &rng))).write(to: scrambled)
        cases.append((scrambled, "scrambled.sqlite"))
        // A folder where the database should be.
        let directory = f.folder.path("directory.sqlite")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        for (db, message) in cases {
            for command in f.commands(db: db, model: f.model) {
                try Self.expectRefusal(command, in: f.folder.url, mentioning: message)
            }
        }
        for command in f.commands(db: directory, model: f.model) {
            try Self.expectRefusal(command, in: f.folder.url, mentioning: "directory.sqlite")
        }
    }

    /// An index built with one model, queried with another (of another embedding size): a clear refusal that
    /// names the remedy; indexing with the new model adds its vectors and keeps the old ones bit for bit.
    @Test func indexOfAnotherModelIsRefusedForQueriesAndKeptWhenReembedding() throws {
        let f = try Fixture()
        let other = f.folder.path("other.safetensors")
        try Torture.makeModel(at: other, seed: 4, embeddingSize: 16)
        for command in f.commands(db: f.goodDB, model: other) where ["similar", "export"].contains(command[0]) {
            try Self.expectRefusal(command, in: f.folder.url, mentioning: "retrieve index")
        }
        let before = try IndexSnapshot.read(f.goodDB.path)
        let run = try runRetrieve(["index", f.music.path, "--db", f.goodDB.path, "--model", other.path, "--json", "-q"],
                                  in: f.folder.url)
        #expect(run.exit.status == 0, "\(run.exit) \(run.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect(summary?["reembedded"] as? Int == 3)
        let after = try IndexSnapshot.read(f.goodDB.path)
        #expect(after.tracks.count == before.tracks.count)
        for (path, row) in before.tracks {
            let now = try #require(after.tracks[path])
            #expect(now.id == row.id)
            #expect(now.vectors.count == 2)
            for (digest, vector) in row.vectors { #expect(now.vectors[digest] == vector, "\(path) lost its old vector") }
        }
        for model in [f.model, other] {
            let query = try runRetrieve(["similar", "1", "--db", f.goodDB.path, "--model", model.path, "--json"],
                                        in: f.folder.url)
            #expect(query.exit.status == 0, "\(query.stderr)")
        }
    }
}
