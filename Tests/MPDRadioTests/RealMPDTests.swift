import AudioDecoding
import Foundation
import MPDRadio
import PipelineTestSupport
import Testing
import TestSupport
#if canImport(Glibc)
    import Glibc
#endif

/// `retrieve mpd` against a real `mpd` (Debian's) on a temporary configuration: a generated music folder of
/// tagged WAVs, a null audio output, loopback on a free port. Skipped where no `mpd` binary is installed.
@Suite(.serialized, .enabled(if: RealMPD.binary != nil, "no `mpd` binary on PATH (apt-get install mpd) — skipped"))
struct RealMPDTests {
    @Test func onceAppendsDiverseIndexedTracksAndFollowTopsUpOnSongChange() async throws {
        let started = Date()
        let fixture = try PipelineFixture(tracks: 0)
        var tags = try RealMPD.writeCollection(fixture)
        let outside = try RealMPD.writeOutsideTracks(fixture)
        try RealMPD.runRetrieve(
            ["index", fixture.music.path, outside.path] + RealMPD.indexArguments(fixture), in: fixture)

        let mpd = try RealMPD(fixture)
        defer { mpd.stop() }
        let control = try mpd.connect()
        try await RealMPD.update(control)
        #expect(try control.command("stats")["songs"] == String(tags.count))
        try RealMPD.playPaused(control, "t00.wav")

        // --once: the queue grows to the current song plus 4, from the music folder, by the diversity rules.
        let base =
            [
                "mpd", "--host", "127.0.0.1", "--port", String(mpd.port), "--music-root", fixture.music.path,
                "--count", "4",
            ] + RealMPD.indexArguments(fixture)
        let once = try RealMPD.runRetrieve(base + ["--once"], in: fixture)
        #expect(once.contains("appended 4 track(s)"), "\(once)")
        var queue = try RealMPD.queue(control)
        #expect(queue.files.count == 5 && queue.files.first == "t00.wav", "\(queue.files)")
        RealMPD.checkRules(queue.files, from: 0, tags: tags)

        // Follow mode: `next` moves the current song on; the radio tops the queue up to 4 after it again.
        let follower = try Child(
            try RetrieveBinary.require(), base, output: fixture.folder.path("follow-\(UUID().uuidString)"))
        defer { if !follower.hasExited { follower.send(SIGKILL); follower.wait() } }
        try await RealMPD.waitUntil("retrieve mpd to follow", seconds: 60) {
            if follower.hasExited { throw ChildProcessError("retrieve mpd exited: \(follower.standardError)") }
            return follower.standardOutput.contains("following MPD")
        }
        for step in 1...2 {
            try control.command("next")  // resumes playback (MPD's `next` unpauses): pause again at once
            try control.command("pause", ["1"])
            try await RealMPD.waitUntil(
                "the queue to be topped up after `next` \(step)", seconds: 60,
                detail: {
                    "queue \(queue.files), current \(queue.current.map(String.init) ?? "none"); retrieve mpd said: "
                        + follower.standardOutput + follower.standardError
                }
            ) {
                queue = try RealMPD.queue(control)
                return queue.current == step && queue.files.count == step + 5
            }
            RealMPD.checkRules(queue.files, from: step, tags: tags)
            if step == 1 {
                // Tracks indexed while the radio runs are picked up at the next song change.
                tags.merge(try RealMPD.writeCollection(fixture, range: 24..<28)) { a, _ in a }
                try RealMPD.runRetrieve(["index", fixture.music.path] + RealMPD.indexArguments(fixture), in: fixture)
                try await RealMPD.update(control)
            }
        }
        #expect(follower.standardOutput.contains("index changed: 32 tracks"), "\(follower.standardOutput)")
        #expect(Set(queue.files).count == queue.files.count, "a song queued twice: \(queue.files)")
        #expect(!follower.standardOutput.contains("does not know"), "\(follower.standardOutput)")

        // SIGTERM ends it cleanly.
        follower.send(SIGTERM)
        try await RealMPD.waitUntil("retrieve mpd to stop on SIGTERM", seconds: 10) { follower.hasExited }
        #expect(follower.wait().status == 0, "\(follower.standardError)")
        #expect(follower.standardOutput.hasSuffix("stopped\n"), "\(follower.standardOutput)")
        print("real MPD test took \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// The radio from a PostgreSQL index (`--db postgresql://…`): the same picks as from the SQLite file it was
    /// migrated from, and tracks another process indexes into PostgreSQL are picked up at the next song change.
    @Test(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipReason)))
    func theRadioReadsAPostgreSQLIndexAsItReadsAFile() async throws {
        let fixture = try PipelineFixture(tracks: 0)
        _ = try RealMPD.writeCollection(fixture, range: 0..<16)
        try RealMPD.runRetrieve(["index", fixture.music.path] + RealMPD.indexArguments(fixture), in: fixture)
        let postgres = try PostgresServer()
        defer { postgres.stop() }
        let url = try postgres.createDatabase(prefix: "mpd")
        try RealMPD.runRetrieve(["migrate", fixture.databasePath, url, "--quiet"], in: fixture)

        let mpd = try RealMPD(fixture)
        defer { mpd.stop() }
        let control = try mpd.connect()
        try await RealMPD.update(control)
        try RealMPD.playPaused(control, "t00.wav")
        let base = ["mpd", "--host", "127.0.0.1", "--port", String(mpd.port), "--music-root", fixture.music.path,
                    "--count", "4", "--model", fixture.modelURL.path]
        var picks: [[String]] = []
        for db in [fixture.databasePath, url] {
            if try RealMPD.queue(control).files.count > 1 { try control.command("delete", ["1:"]) }
            let once = try RealMPD.runRetrieve(base + ["--db", db, "--once"], in: fixture)
            #expect(once.contains("appended 4 track(s)"), "\(once)")
            picks.append(try RealMPD.queue(control).files)
        }
        #expect(picks[0].count == 5 && picks[1] == picks[0], "SQLite \(picks[0]), PostgreSQL \(picks[1])")

        let follower = try Child(
            try RetrieveBinary.require(), base + ["--db", url],
            output: fixture.folder.path("follow-pg-\(UUID().uuidString)"))
        defer { if !follower.hasExited { follower.send(SIGKILL); follower.wait() } }
        try await RealMPD.waitUntil("retrieve mpd to follow", seconds: 60) {
            if follower.hasExited { throw ChildProcessError("retrieve mpd exited: \(follower.standardError)") }
            return follower.standardOutput.contains("following MPD")
        }
        _ = try RealMPD.writeCollection(fixture, range: 16..<20)
        try RealMPD.runRetrieve(
            ["index", fixture.music.path, "--db", url, "--model", fixture.modelURL.path], in: fixture)
        try await RealMPD.update(control)
        try control.command("next")
        try control.command("pause", ["1"])
        try await RealMPD.waitUntil(
            "the radio to read the PostgreSQL index again", seconds: 60,
            detail: { follower.standardOutput + follower.standardError }
        ) { follower.standardOutput.contains("index changed: 20 tracks") }
        follower.send(SIGTERM)
        try await RealMPD.waitUntil("retrieve mpd to stop on SIGTERM", seconds: 10) { follower.hasExited }
        #expect(follower.wait().status == 0, "\(follower.standardError)")
    }

    @Test func errorsAreOneSentenceAndTheLocalSocketTellsTheMusicRoot() async throws {
        let fixture = try PipelineFixture(tracks: 0)
        _ = try RealMPD.writeCollection(fixture, range: 0..<5)
        try RealMPD.runRetrieve(["index", fixture.music.path] + RealMPD.indexArguments(fixture), in: fixture)
        let port = try LoopbackPort.free()
        let refused = try Child(
            try RetrieveBinary.require(),
            ["mpd", "--once", "--port", String(port), "--music-root", fixture.music.path]
                + RealMPD.indexArguments(fixture),
            output: fixture.folder.path("refused"))
        #expect(refused.wait().status == 1)
        #expect(
            refused.standardError.contains("cannot connect to MPD at 127.0.0.1:\(port)"), "\(refused.standardError)")

        let mpd = try RealMPD(fixture)
        defer { mpd.stop() }
        let control = try mpd.connect()
        #expect {
            try control.command("add", ["no such file.wav"])
        } throws: { error in
            (error as? MPDAck).map { $0.command == "add" && $0.code == MPDAck.noExist } ?? false
        }
        #expect(try control.command("ping").pairs.isEmpty, "the connection survives an ACK")

        // Over the local socket, MPD tells its music directory: no --music-root needed.
        try await RealMPD.update(control)
        try RealMPD.playPaused(control, "t00.wav")
        let local = try RealMPD.runRetrieve(
            ["mpd", "--once", "--host", mpd.socketPath, "--count", "2"] + RealMPD.indexArguments(fixture), in: fixture)
        #expect(local.contains("appended 2 track(s)"), "\(local)")
        let files = try RealMPD.queue(control).files
        #expect(files.count == 3 && Set(files).count == 3 && files.first == "t00.wav", "\(files)")
        let overTCP = try Child(
            try RetrieveBinary.require(),
            ["mpd", "--once", "--port", String(mpd.port)] + RealMPD.indexArguments(fixture),
            output: fixture.folder.path("tcp-without-root"))
        #expect(overTCP.wait().status == 1)
        #expect(overTCP.standardError.contains("--music-root is needed over TCP"), "\(overTCP.standardError)")
    }
}

/// A real `mpd --no-daemon` on a temporary configuration and a free loopback port.
final class RealMPD {
    static let binary: URL? = ["/usr/bin/mpd", "/usr/local/bin/mpd", "/usr/sbin/mpd"]
        .map(URL.init(fileURLWithPath:)).first { FileManager.default.isExecutableFile(atPath: $0.path) }

    let child: Child
    let port: Int
    /// MPD's local socket (over which it answers `config`).
    let socketPath: String

    init(_ fixture: PipelineFixture) throws {
        let binary = try #require(Self.binary)
        port = try LoopbackPort.free()
        let state = fixture.folder.path("mpd")
        socketPath = state.path + "/socket"
        try FileManager.default.createDirectory(
            at: state.appendingPathComponent("playlists"), withIntermediateDirectories: true)
        let configuration = """
            music_directory "\(fixture.music.path)"
            db_file "\(state.path)/database"
            state_file "\(state.path)/state"
            pid_file "\(state.path)/pid"
            playlist_directory "\(state.path)/playlists"
            log_file "\(state.path)/log"
            bind_to_address "127.0.0.1"
            bind_to_address "\(state.path)/socket"
            port "\(port)"
            auto_update "no"
            zeroconf_enabled "no"
            # MPD drops a client that sends nothing for 60 s; on 2 busy cores a step of the test can take longer.
            connection_timeout "3600"
            audio_output {
                type "null"
                name "null"
            }
            """
        let file = state.appendingPathComponent("mpd.conf")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        child = try Child(binary, ["--no-daemon", file.path], output: state.appendingPathComponent("process"))
        let deadline = Date().addingTimeInterval(30)
        while true {
            if (try? MPDConnection(.tcp(host: "127.0.0.1", port: port), password: nil)) != nil { break }
            if child.hasExited || Date() > deadline {
                let log = (try? String(contentsOf: state.appendingPathComponent("log"), encoding: .utf8)) ?? ""
                stop()
                throw ChildProcessError("mpd did not start: \(child.standardError) \(log)")
            }
            usleep(50_000)
        }
    }

    func connect() throws -> MPDConnection { try MPDConnection(.tcp(host: "127.0.0.1", port: port), password: nil) }

    func stop() {
        child.stop()
    }

    /// Tagged 30-second WAVs `t00.wav` …: artist `i % 5`, album `i / 2` (pairs share an album); returns the
    /// tags by file name. Long enough that MPD does not move on by itself during the test.
    static func writeCollection(
        _ fixture: PipelineFixture, range: Range<Int> = 0..<24
    ) throws -> [String: (artist: String, album: String)] {
        var tags: [String: (artist: String, album: String)] = [:]
        for i in range {
            let name = String(format: "t%02d.wav", i)
            let artist = "Artist \(i % 5)", album = "Album \(i / 2)"
            let samples = Signals.chord([110 + 37 * Double(i), 220 + 53 * Double(i)], seconds: 30, sampleRate: 8000)
            try AudioFileWriter.write(
                samples, sampleRate: 8000, format: .wav16, to: fixture.music.appendingPathComponent(name),
                tags: ["artist": artist, "album": album, "title": "Song \(i)"])
            tags[name] = (artist, album)
        }
        return tags
    }

    /// Indexed tracks outside MPD's music folder, which the radio must never send.
    static func writeOutsideTracks(_ fixture: PipelineFixture) throws -> URL {
        let outside = fixture.folder.path("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        for i in 0..<4 {
            let samples = Signals.chord([112 + 37 * Double(i), 221 + 53 * Double(i)], seconds: 30, sampleRate: 8000)
            try AudioFileWriter.write(
                samples, sampleRate: 8000, format: .wav16,
                to: outside.appendingPathComponent("o\(i).wav"), tags: ["artist": "Elsewhere \(i)"])
        }
        return outside
    }

    static func indexArguments(_ fixture: PipelineFixture) -> [String] {
        ["--db", fixture.databasePath, "--model", fixture.modelURL.path]
    }

    /// Runs `retrieve` to its end and returns its standard output; a non-zero exit fails with its standard error.
    @discardableResult
    static func runRetrieve(_ arguments: [String], in fixture: PipelineFixture) throws -> String {
        let child = try Child(
            try RetrieveBinary.require(), arguments, output: fixture.folder.path("run-\(UUID().uuidString)"),
            environment: ["XDG_STATE_HOME": fixture.folder.path("state").path])  // crash journals: not the user's
        let exit = child.wait()
        guard exit.status == 0 else {
            throw ChildProcessError("retrieve \(arguments.joined(separator: " ")): \(exit): \(child.standardError)")
        }
        return child.standardOutput
    }

    /// Asks MPD to read its music folder again and waits until it has.
    static func update(_ control: MPDConnection) async throws {
        try control.command("update")
        try await waitUntil("MPD's database update", seconds: 60) { try control.command("status")["updating_db"] == nil }
    }

    /// Queues `file` and makes it the current song, paused: a loaded machine can take longer than a 30-s song to
    /// get to the test's next step, and MPD playing on would move the current song by itself.
    static func playPaused(_ control: MPDConnection, _ file: String) throws {
        try control.command("add", [file])
        try control.command("play", ["0"])
        try control.command("pause", ["1"])
    }

    static func queue(_ connection: MPDConnection) throws -> RadioQueue {
        let files = try connection.command("playlistinfo").records(startingAt: "file").compactMap { $0["file"] }
        return RadioQueue(files: files, current: try connection.command("status")["song"].flatMap { Int($0) })
    }

    /// The diversity rules on the queue from `from` on: every song is from the music folder, no artist within
    /// 3 songs of itself (counting the songs before `from`), no album twice.
    static func checkRules(_ files: [String], from: Int, tags: [String: (artist: String, album: String)]) {
        for file in files { #expect(tags[file] != nil, "\(file) is not one of the music folder's songs") }
        for i in from..<files.count {
            for j in max(0, i - 3)..<i {
                #expect(
                    tags[files[i]]?.artist != tags[files[j]]?.artist,
                    "\(files[i]) and \(files[j]) share an artist: \(files)")
            }
        }
        let albums = files[from...].compactMap { tags[$0]?.album }
        #expect(Set(albums).count == albums.count, "an album repeats in \(files[from...])")
    }

    /// Polls `condition` every 0.1 s; on timeout the error says what was awaited and `detail()` (the state seen).
    static func waitUntil(
        _ what: String, seconds: Double, detail: () -> String = { "" }, _ condition: () throws -> Bool
    ) async throws {
        if try await Polling.until(seconds: seconds, { try condition() }) { return }
        let seen = detail()
        throw ChildProcessError(
            "timed out after \(Int(seconds)) s waiting for \(what)" + (seen.isEmpty ? "" : "; \(seen)"))
    }
}
