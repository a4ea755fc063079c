import AudioDecoding
import Foundation
import GRDB
import Testing
import TestSupport

/// An index in a folder the user cannot write (a shared library, a read-only mount): the read commands work and
/// touch nothing, the writing ones refuse with one sentence, and a log that cannot be replayed is explained.
///
/// File modes do not stop root, so when the tests run as root each command runs as user `nobody` through
/// `setpriv` on a root-owned folder of mode 555; as any other user the folder's mode stops the user itself.
@Suite(.serialized, .enabled(if: getuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
struct ReadOnlyIndexTests {
    final class Fixture {
        let folder: TemporaryDirectory
        let music: URL
        let model: URL
        let library: URL

        init() throws {
            folder = try TemporaryDirectory(prefix: "retrieve-torture-readonly")
            chmod(folder.url.path, 0o755)
            music = folder.path("music")
            model = folder.path("model.safetensors")
            library = folder.path("library")
            try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: library, withIntermediateDirectories: true)
            try Torture.makeModel(at: model, seed: 5)
            for i in 0..<3 {
                try AudioFileWriter.write(Torture.tone(i, seconds: 1), sampleRate: 22_050, format: .wav16,
                                          to: music.appendingPathComponent("t\(i).wav"))
            }
            let run = try runRetrieve(["index", music.path, "--db", database.path, "--model", model.path, "-q"],
                                      in: folder.url)
            guard run.exit.status == 0 else { throw TortureFailure("index: \(run.exit) \(run.stderr)") }
        }

        var database: URL { library.appendingPathComponent("library.sqlite") }

        /// Runs `retrieve arguments` as a user who cannot write `library` (nobody, when the tests run as root).
        func runAsReader(_ arguments: [String]) throws -> RunResult {
            guard getuid() == 0 else { return try runRetrieve(arguments, in: folder.url) }
            let binary = try RetrieveBinary.require().path
            let child = try Child(
                URL(fileURLWithPath: "/usr/bin/setpriv"),
                ["--reuid=65534", "--regid=65534", "--clear-groups", binary] + arguments,
                output: folder.path("run-nobody-\(arguments[0])-\(UUID().uuidString.prefix(8))"))
            let exit = child.wait()
            return RunResult(exit: exit, stdout: child.standardOutput, stderr: child.standardError)
        }

        func lockLibrary() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: library.path)) ?? [] {
                chmod(library.appendingPathComponent(name).path, 0o444)
            }
            chmod(library.path, 0o555)
        }

        func unlockLibrary() { chmod(library.path, 0o755) }

        func libraryFiles() throws -> [String: Data] {
            var out: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: library.path) {
                out[name] = try Data(contentsOf: library.appendingPathComponent(name))
            }
            return out
        }
    }

    @Test func readCommandsWorkAndWritingOnesRefuseInAnUnwritableFolder() throws {
        let f = try Fixture()
        #expect(!FileManager.default.fileExists(atPath: f.database.path + "-wal"))
        f.lockLibrary()
        defer { f.unlockLibrary() }
        let before = try f.libraryFiles()
        let location = ["--db", f.database.path, "--model", f.model.path]
        for command in [
            ["stats"], ["list"], ["similar", "1"], ["similar", f.music.appendingPathComponent("t0.wav").path],
            ["export", "--out", "-", "-q"],
        ] {
            let run = try f.runAsReader(command + location)
            #expect(run.exit.status == 0 && run.stderr.isEmpty, "\(command): \(run.exit) \(run.stderr)")
            #expect(!run.stdout.isEmpty, "\(command) printed nothing")
        }
        let remove = try f.runAsReader(["remove", "1"] + location)
        #expect(remove.exit.status == 1)
        #expect(remove.stderr.split(separator: "\n").count == 1 && remove.stderr.contains(f.database.path),
                "\(remove.stderr)")
        #expect(remove.stderr.contains("cannot be written") && !remove.stderr.contains("SQLite error"), "\(remove.stderr)")
        #expect(try f.libraryFiles() == before, "a read-only command created or changed a file")
    }

    @Test func aLogThatCannotBeReplayedIsExplained() throws {
        let f = try Fixture()
        // A writer that has committed into the -wal and is gone without its -shm (copied away, or crashed and
        // its -shm deleted): SQLite could only read those commits by creating the -shm in the folder.
        let writer = try DatabaseQueue(path: f.database.path)
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "UPDATE tracks SET title = 'in the log'")
        }
        let elsewhere = f.folder.path("copy")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: f.database.path + suffix,
                                             toPath: elsewhere.appendingPathComponent("library.sqlite").path + suffix)
        }
        try writer.close()
        try FileManager.default.removeItem(at: f.database)
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: elsewhere.appendingPathComponent("library.sqlite").path + suffix,
                                             toPath: f.database.path + suffix)
        }
        f.lockLibrary()
        defer { f.unlockLibrary() }
        let before = try f.libraryFiles()
        let run = try f.runAsReader(["stats", "--db", f.database.path])
        #expect(run.exit.status == 1 && run.stderr.contains("wal_checkpoint") && run.stderr.contains(f.database.path),
                "\(run.exit) \(run.stderr)")
        #expect(run.stderr.split(separator: "\n").count == 1)
        #expect(try f.libraryFiles() == before)
    }
}
