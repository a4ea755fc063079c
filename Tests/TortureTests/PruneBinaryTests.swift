import AudioDecoding
import Foundation
import Testing
import TestSupport

/// `retrieve index --prune` through the real binary: a folder the user cannot read keeps its tracks, a missing
/// root is an error, an emptied folder (a mount point with nothing mounted) is refused without `--force`.
///
/// File modes do not stop root, so when the tests run as root the unreadable-folder run goes through `setpriv` as
/// user `nobody`, with the index handed to nobody; as any other user the folder's mode stops the user itself.
@Suite(.serialized, .enabled(if: getuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
struct PruneBinaryTests {
    final class Fixture {
        let folder: TemporaryDirectory
        let music: URL
        let model: URL
        let library: URL

        init(folders: [String: Int]) throws {
            folder = try TemporaryDirectory(prefix: "retrieve-torture-prune")
            chmod(folder.url.path, 0o755)
            music = folder.path("music")
            model = folder.path("model.safetensors")
            library = folder.path("library")
            try FileManager.default.createDirectory(at: library, withIntermediateDirectories: true)
            try Torture.makeModel(at: model, seed: 6)
            var i = 0
            for (name, count) in folders.sorted(by: { $0.key < $1.key }) {
                let dir = music.appendingPathComponent(name)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for _ in 0..<count {
                    try AudioFileWriter.write(Torture.tone(i, seconds: 0.5), sampleRate: 22_050, format: .wav16,
                                              to: dir.appendingPathComponent("t\(i).wav"))
                    i += 1
                }
            }
            let run = try index([])
            guard run.exit.status == 0 else { throw TortureFailure("index: \(run.exit) \(run.stderr)") }
        }

        var database: URL { library.appendingPathComponent("library.sqlite") }
        var location: [String] { ["--db", database.path, "--model", model.path] }

        func index(_ extra: [String], roots: [String]? = nil) throws -> RunResult {
            try runRetrieve(["index"] + (roots ?? [music.path]) + location + ["-q"] + extra, in: folder.url)
        }

        /// The indexed paths, relative to `music`, sorted.
        func indexed() throws -> [String] {
            let run = try runRetrieve(["list", "--json"] + location, in: folder.url)
            return try run.stdout.split(separator: "\n").map { line in
                let path = try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["path"] as? String)
                return String(path.dropFirst(music.path.count + 1))
            }.sorted()
        }
    }

    @Test func aFolderTheUserCannotReadKeepsItsTracks() throws {
        let f = try Fixture(folders: ["open": 2, "locked": 3])
        let locked = f.music.appendingPathComponent("locked")
        try FileManager.default.removeItem(at: f.music.appendingPathComponent("open/t3.wav"))
        try FileManager.default.removeItem(at: locked.appendingPathComponent("t0.wav"))  // gone, but unseen
        chmod(locked.path, 0o000)
        defer { chmod(locked.path, 0o755) }
        var arguments = ["index", f.music.path, "--prune"] + f.location
        var run: RunResult
        if getuid() == 0 {
            // The index and its folder belong to nobody, who can write it but not read `locked`.
            for name in try FileManager.default.contentsOfDirectory(atPath: f.library.path) + [""] {
                chown(f.library.appendingPathComponent(name).path, 65534, 65534)
            }
            arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", try RetrieveBinary.require().path] + arguments
            let child = try Child(URL(fileURLWithPath: "/usr/bin/setpriv"), arguments,
                                  output: f.folder.path("run-nobody-prune"))
            run = RunResult(exit: child.wait(), stdout: child.standardOutput, stderr: child.standardError)
        } else {
            run = try runRetrieve(arguments, in: f.folder.url)
        }
        #expect(run.exit.status == 3, "\(run.exit) \(run.stderr)")  // finished; the locked folder is a failure
        #expect(run.stdout.contains("1 track(s) were removed, their files gone:\n    \(f.music.path)/open/t3.wav"), "\(run.stdout)")
        #expect(run.stdout.contains("\(locked.path): folder cannot be read (Permission denied)"), "\(run.stdout)")
        chmod(locked.path, 0o755)
        #expect(try f.indexed() == ["locked/t0.wav", "locked/t1.wav", "locked/t2.wav", "open/t4.wav"])
    }

    @Test func aMissingRootIsAnErrorAndTouchesNothing() throws {
        let f = try Fixture(folders: ["a": 2])
        let missing = f.folder.path("unmounted/music").path
        let run = try f.index(["--prune", "--force"], roots: [f.music.path, missing + "/"])
        #expect(run.exit.status == 1)
        #expect(run.stderr == "retrieve: \(missing): cannot be read (No such file or directory), so nothing was "
            + "indexed or pruned; mount the drive or correct the path, or leave it out of the command\n", "\(run.stderr)")
        #expect(try f.indexed() == ["a/t0.wav", "a/t1.wav"])
    }

    @Test func anEmptyMountPointIsRefusedWithoutForce() throws {
        let f = try Fixture(folders: ["drive": 7])
        let drive = f.music.appendingPathComponent("drive")
        try FileManager.default.moveItem(at: drive, to: f.folder.path("elsewhere"))
        try FileManager.default.createDirectory(at: drive, withIntermediateDirectories: true)  // nothing mounted
        let refused = try f.index(["--prune"], roots: [drive.path])
        #expect(refused.exit.status == 1)
        #expect(refused.stderr.hasPrefix("retrieve: refusing to prune 7 of the 7 tracks indexed under \(drive.path): "),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("--force to remove them\n  \(drive.path)/t0.wav\n") && refused.stderr.contains("… and 2 more"),
                "\(refused.stderr)")
        #expect(try f.indexed().count == 7)
        let dry = try f.index(["--prune", "--dry-run"], roots: [drive.path])
        #expect(dry.exit.status == 0 && dry.stdout.contains("without --force, the prune would be refused: 7 of the 7"),
                "\(dry.stdout)")
        let forced = try f.index(["--prune", "--force"], roots: [drive.path])
        #expect(forced.exit.status == 0 && forced.stdout.contains("7 track(s) were removed"), "\(forced.stdout)")
        #expect(try f.indexed().isEmpty)
    }
}
