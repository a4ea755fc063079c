import Foundation
import PipelineTestSupport
import RetrieveCore
import Testing
import TestSupport

@testable import Server

/// `retrieve serve --subsonic-url`: the real server process against `SubsonicStandIn` (a faithful Subsonic API
/// server run inside the test, because Navidrome and its peers cannot run here), ids checked end to end.
@Suite(.serialized) struct SubsonicMappingTests {
    static let user = "listener"
    static let password = "pa ss+wörd"

    /// Eight tracks in `Artist N/Album M/` folders, indexed; the stand-in lists six of them by path (relative
    /// to the music folder, ids `nd-N`), one song without a path, one whose file retrieve never indexed, and
    /// one whose file the test indexes later.
    static func library() throws -> (PipelineFixture, [String], SubsonicStandIn) {
        let fixture = try PipelineFixture(tracks: 0)
        for i in 0..<8 { try fixture.writeTrack(index: i, in: "Artist \(i % 2)/Album \(i % 3)") }
        try index(fixture)
        let paths = try fixture.store().allTracks().map(\.path).sorted()
        let root = Paths.absolute(fixture.music.path) + "/"
        var songs = paths.prefix(6).enumerated().map { i, path in
            SubsonicStandIn.Song(id: "nd-\(i)", path: String(path.dropFirst(root.count)), title: "Song \(i)")
        }
        songs.append(.init(id: "nd-nopath", path: nil, title: "Withheld"))
        songs.append(.init(id: "nd-elsewhere", path: "Artist 9/Album 9/never.flac", title: "Never indexed"))
        // Listed now, its file written and indexed only later in the test (track 8 is Ogg Vorbis).
        songs.append(.init(id: "nd-later", path: "Later/track08.ogg", title: "Indexed later"))
        return (fixture, paths, SubsonicStandIn(user: user, password: password, songs: songs))
    }

    static func serve(
        _ fixture: PipelineFixture, url: String, password: String = password, extra: [String] = []
    ) async throws -> ServerProcess {
        let file = fixture.folder.path("subsonic-password")
        try Data("\(password)\n".utf8).write(to: file)
        return try await ServerProcess.start(
            fixture,
            extra: ["--subsonic-url", url, "--subsonic-user", user, "--subsonic-password-file", file.path] + extra)
    }

    static func entries(_ result: HTTPResult) -> [[String: Any]] {
        (result.subsonic["sonicMatch"] as? [[String: Any]] ?? []).compactMap { $0["entry"] as? [String: Any] }
    }

    static func failure(_ result: HTTPResult) -> (code: Int?, message: String) {
        let error = result.subsonic["error"] as? [String: Any]
        return (error?["code"] as? Int, error?["message"] as? String ?? "")
    }

    @Test func songIdsAreTheSubsonicServersBothWays() async throws {
        let (fixture, paths, standIn) = try Self.library()
        try standIn.start()
        defer { standIn.stop() }
        let server = try await Self.serve(fixture, url: standIn.base)
        defer { server.stop() }

        // The listing was paged (the stand-in gives at most 3 songs a page) and the music folder inferred.
        #expect(standIn.calls.withLock { $0 }.filter { $0 == "search3" }.count >= 3)
        let stats = try #require(try await server.get("/api/stats").json["subsonic"] as? [String: Any])
        #expect(
            stats["mapped"] as? Int == 6 && stats["unmapped"] as? Int == 3, "\(stats)\n\(server.child.standardError)")
        #expect(stats["withoutPath"] as? Int == 1 && stats["unmatched"] as? Int == 2)
        #expect(stats["indexedWithoutId"] as? Int == 2 && stats["lastError"] is NSNull)
        #expect(stats["musicRoot"] as? String == Paths.absolute(fixture.music.path))
        #expect(stats["musicRootInferred"] as? Bool == true)
        #expect(server.child.standardError.contains("subsonic ids mapped"))
        #expect(server.child.standardError.contains("mapped=6"))

        // Similar tracks: asked and answered in the stand-in's ids; its paths, cover art; unlisted tracks left out.
        let known = Set((0..<6).map { "nd-\($0)" })
        let similar = try await server.get("/rest/getSonicSimilarTracks?id=nd-2&count=10&f=json")
        let entries = Self.entries(similar)
        #expect(similar.subsonic["status"] as? String == "ok", "\(similar.text)")
        #expect(entries.count == 5 && Set(entries.compactMap { $0["id"] as? String }) == known.subtracting(["nd-2"]))
        for entry in entries {
            let id = try #require(entry["id"] as? String)
            #expect(entry["coverArt"] as? String == "cover-" + id && entry["albumId"] as? String == "album-" + id)
            #expect((entry["path"] as? String).map { !$0.hasPrefix("/") } == true)
        }

        // A path between two of its songs: both ends, nothing it does not know.
        let path = try await server.get("/rest/findSonicPath.view?startSongId=nd-0&endSongId=nd-5&count=8&f=json")
        let steps = Self.entries(path).compactMap { $0["id"] as? String }
        #expect(steps.first == "nd-0" && steps.last == "nd-5" && Set(steps).isSubset(of: known), "\(path.text)")

        // Ids that map to nothing: a failed response (70) naming the id and why.
        for (id, why) in [
            ("nd-nopath", "has no path"), ("nd-elsewhere", "not in retrieve's index"), ("nope", "has no song"),
            ("1", "has no song"),
        ] {
            let failed = try await server.get("/rest/getSonicSimilarTracks?id=\(id)&f=json")
            let (code, message) = Self.failure(failed)
            #expect(failed.status == 200 && failed.subsonic["status"] as? String == "failed" && code == 70)
            #expect(message.contains(id) && message.contains(why), "\(id): \(message)")
        }
        let wrongEnd = try await server.get("/rest/findSonicPath?startSongId=nd-0&endSongId=nope&f=json")
        #expect(Self.failure(wrongEnd).code == 70 && Self.failure(wrongEnd).message.contains("endSongId"))

        // The Subsonic library changes: a song added after the listing resolves on its first request (getSong).
        standIn.songs.withLock {
            $0.append(.init(id: "nd-new", path: String(paths[6].dropFirst(fixture.music.path.count + 1)), title: "New"))
        }
        let added = try await server.get("/rest/getSonicSimilarTracks?id=nd-new&count=3&f=json")
        #expect(added.subsonic["status"] as? String == "ok" && Self.entries(added).count == 3, "\(added.text)")
        #expect(standIn.calls.withLock { $0 }.contains("getSong"))

        // Our library changes: a listed song's file is indexed; after the reload its id maps.
        let later = try await server.get("/rest/getSonicSimilarTracks?id=nd-later&f=json")
        #expect(Self.failure(later).code == 70 && Self.failure(later).message.contains("not in retrieve's index"))
        let file = try fixture.writeTrack(index: 8, in: "Later")
        #expect(file.lastPathComponent == "track08.ogg")
        try index(fixture)
        var reloaded = try await server.get("/rest/getSonicSimilarTracks?id=nd-later&count=2&f=json")
        _ = try await Polling.until(seconds: 60, interval: 0.2) {
            reloaded = try await server.get("/rest/getSonicSimilarTracks?id=nd-later&count=2&f=json")
            return reloaded.subsonic["status"] as? String == "ok"
        }
        #expect(reloaded.subsonic["status"] as? String == "ok" && Self.entries(reloaded).count == 2, "\(reloaded.text)")
    }

    @Test func aWrongPasswordStopsTheStartWithSubsonicsError() async throws {
        let (fixture, _, standIn) = try Self.library()
        try standIn.start()
        defer { standIn.stop() }
        do {
            let server = try await Self.serve(fixture, url: standIn.base, password: "wrong")
            server.stop()
            Issue.record("retrieve serve started with a wrong Subsonic password")
        } catch {
            let message = String(describing: error)
            #expect(message.contains("error 40") && message.contains("--subsonic-user"), "\(message)")
        }
    }

    @Test func aUserWithoutTokenAuthenticationSignsInWithTheEncodedPassword() async throws {
        let (fixture, _, listing) = try Self.library()
        let standIn = SubsonicStandIn(
            user: Self.user, password: Self.password, songs: listing.songs.withLock { $0 }, refusesTokens: true)
        try standIn.start()
        defer { standIn.stop() }
        let server = try await Self.serve(fixture, url: standIn.base)
        defer { server.stop() }
        let stats = try #require(try await server.get("/api/stats").json["subsonic"] as? [String: Any])
        #expect(stats["mapped"] as? Int == 6 && stats["lastError"] is NSNull, "\(stats)")
    }

    @Test func aServerThatIgnoresSongOffsetIsListedOnceNotForever() async throws {
        let (fixture, _, listing) = try Self.library()
        let standIn = SubsonicStandIn(
            user: Self.user, password: Self.password, songs: listing.songs.withLock { $0 }, ignoresOffset: true)
        try standIn.start()
        defer { standIn.stop() }
        let server = try await Self.serve(fixture, url: standIn.base)
        defer { server.stop() }
        // The first page (3 songs), then a page with nothing new, and the listing stops.
        #expect(standIn.calls.withLock { $0 }.filter { $0 == "search3" }.count == 2)
        let stats = try #require(try await server.get("/api/stats").json["subsonic"] as? [String: Any])
        #expect(stats["songs"] as? Int == 3 && stats["mapped"] as? Int == 3, "\(stats)")
    }

    @Test func aServerThatIsDownLeavesIdsUnmappedSaysWhyAndIsRetried() async throws {
        let (fixture, _, standIn) = try Self.library()
        // The stand-in's port once it has stopped: nothing listens there.
        try standIn.start()
        let port = standIn.port
        standIn.stop()
        let server = try await Self.serve(
            fixture, url: "http://127.0.0.1:\(port)", extra: ["--subsonic-refresh-seconds", "1"])
        defer { server.stop() }
        let stats = try #require(try await server.get("/api/stats").json["subsonic"] as? [String: Any])
        #expect(stats["mapped"] as? Int == 0 && (stats["lastError"] as? String)?.contains("cannot reach") == true)
        let failed = try await server.get("/rest/getSonicSimilarTracks?id=nd-1&f=json")
        let (code, message) = Self.failure(failed)
        #expect(code == 70 && message.contains("nd-1") && message.contains("could not be asked"), "\(message)")
        // Our own routes still work.
        #expect(try await server.get("/api/similar?id=1&k=2").status == 200)

        // The Subsonic server comes up: the retry lists it, and the server runs on after its retrying is done.
        let revived = SubsonicStandIn(user: Self.user, password: Self.password, songs: standIn.songs.withLock { $0 })
        try revived.start(port: port)
        defer { revived.stop() }
        var mapped = 0
        _ = try await Polling.until(seconds: 60, interval: 0.2) {
            mapped = (try await server.get("/api/stats").json["subsonic"] as? [String: Any])?["mapped"] as? Int ?? 0
            return mapped == 6
        }
        #expect(mapped == 6)
        try await Task.sleep(for: .seconds(3))
        #expect(!server.child.hasExited, "retrieve serve stopped: \(server.child.standardError)")
        let similar = try await server.get("/rest/getSonicSimilarTracks?id=nd-1&count=2&f=json")
        #expect(similar.subsonic["status"] as? String == "ok" && Self.entries(similar).count == 2, "\(similar.text)")
    }

    @Test func invalidSubsonicOptionsAreRefusedBeforeStarting() async throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-subsonic-options")
        for (arguments, expected) in [
            (["--subsonic-url", "ftp://x"], "--subsonic-url must be an http"),
            (["--subsonic-url", "http://127.0.0.1:9"], "--subsonic-user"),
            (["--subsonic-user", "u"], "need --subsonic-url"),
            (
                [
                    "--subsonic-url", "http://127.0.0.1:9", "--subsonic-user", "u", "--subsonic-password", "a",
                    "--subsonic-password-file", "/nonexistent",
                ], "not both"
            ),
        ] {
            let run = try runRetrieve(["serve", "--db", folder.path("none.sqlite").path] + arguments, in: folder.url)
            #expect(run.exit.status != 0 && run.stderr.contains(expected), "\(arguments): \(run.stderr)")
        }
    }
}

/// The pure parts: MD5 against RFC 1321's vectors, and the matching of paths.
@Suite struct SubsonicMatchingUnitTests {
    @Test func md5MatchesRFC1321() {
        #expect(MD5.hex(Array("".utf8)) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hex(Array("abc".utf8)) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(MD5.hex(Array("message digest".utf8)) == "f96b697d7cb7938d525a2f31aaf161d0")
        let digits = "12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        #expect(MD5.hex(Array(digits.utf8)) == "57edf4a22be3c955ac49da2e2107b67a")
        // The Subsonic API documentation's own example: password "sesame", salt "c19b2d".
        #expect(MD5.hex(Array("sesamec19b2d".utf8)) == "26719a1196d2a940705a59634eb18eab")
    }

    @Test func theMusicFolderIsInferredThroughAMount() {
        // Navidrome in Docker reads /music; the index has /home/me/Music.
        let indexed = [
            "/home/me/Music/A/x.flac", "/home/me/Music/A/y.flac", "/home/me/Music/B/z.flac", "/other/x.flac",
        ]
        let songs = [
            SubsonicSong(id: "1", path: "A/x.flac"), SubsonicSong(id: "2", path: "A/y.flac"),
            SubsonicSong(id: "3", path: "B/z.flac"), SubsonicSong(id: "4", path: nil),
            SubsonicSong(id: "5", path: "C/missing.flac"),
        ]
        let match = SubsonicIDMatch(songs: songs, indexedPaths: indexed, root: nil)
        #expect(match.root?.path == "/home/me/Music" && match.rootInferred)
        #expect(match.pathOfID == ["1": indexed[0], "2": indexed[1], "3": indexed[2]])
        #expect(match.withoutPath == 1 && match.unmatched == 1 && match.indexedWithoutID == 1)
        #expect(match.songOfPath[indexed[2]]?.id == "3")
        // Navidrome's made-up Artist/Album/Title paths match nothing: no folder, nothing mapped.
        let madeUp = SubsonicIDMatch(
            songs: [SubsonicSong(id: "1", path: "Someone/Something/Title.flac")], indexedPaths: indexed, root: nil)
        #expect(madeUp.root == nil && madeUp.mapped == 0 && madeUp.unmatched == 1)
        // A given folder is used as given; absolute paths (some servers report them) match as they are.
        let given = SubsonicIDMatch(
            songs: [SubsonicSong(id: "1", path: "A/x.flac"), SubsonicSong(id: "9", path: "/other/x.flac")],
            indexedPaths: indexed, root: MusicRoot("/home/me/Music/"))
        #expect(given.pathOfID == ["1": indexed[0], "9": "/other/x.flac"] && !given.rootInferred)
        // `..` cannot climb out of the folder.
        #expect(
            SubsonicIDMatch.indexedPath(
                of: "../../other/x.flac", root: MusicRoot("/home/me/Music"), isIndexed: { _ in true }) == nil)
    }
}
