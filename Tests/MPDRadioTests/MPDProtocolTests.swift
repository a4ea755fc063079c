import Foundation
import Library
import MPDRadio
import RetrieveCore
import SimilaritySearch
import Testing
import VectorIndex

/// The protocol parser on responses as MPD writes them, split at every byte, and the radio's decisions on
/// small hand-made libraries.
@Suite struct MPDProtocolTests {
    /// Feeds `text` one byte at a time and collects every response.
    static func parseBytewise(_ bytes: [UInt8]) throws -> [Result<MPDResponse, MPDAck>] {
        var parser = MPDResponseParser()
        var results: [Result<MPDResponse, MPDAck>] = []
        for byte in bytes {
            parser.feed([byte])
            while let result = try parser.next() { results.append(result) }
        }
        return results
    }

    @Test func keyValuePairsInOrderThenOK() throws {
        let text = "OK MPD 0.23.12\nfile: a/b c.flac\nTitle: x: y\nPos: 0\nfile: d.wav\nPos: 1\nOK\n"
        let results = try Self.parseBytewise(Array(text.utf8))
        #expect(results.count == 2)
        let response = try results[1].get()
        #expect(
            response.records(startingAt: "file") == [
                ["file": "a/b c.flac", "Title": "x: y", "Pos": "0"],
                ["file": "d.wav", "Pos": "1"],
            ])
        #expect(response["Pos"] == "0")
    }

    @Test func ackLinesNameTheCommandAndMessage() throws {
        let results = try Self.parseBytewise(Array("ACK [50@0] {add} No such directory\nOK\n".utf8))
        let expected = MPDAck(code: 50, listIndex: 0, command: "add", message: "No such directory")
        #expect(results.count == 2)
        guard case .failure(let ack) = results[0] else { Issue.record("no ACK"); return }
        #expect(ack == expected)
        #expect(ack.description == "MPD refused `add`: No such directory (MPD error 50)")
        #expect(
            MPDAck(line: "ACK [3@2] {} incorrect password")
                == MPDAck(code: 3, listIndex: 2, command: "", message: "incorrect password"))
        #expect(MPDAck(line: "ACK nonsense") == nil)
        #expect(throws: MPDProtocolError.self) { try Self.parseBytewise(Array("ACK nonsense\n".utf8)) }
    }

    @Test func binaryChunksAreSkipped() throws {
        var bytes = Array("size: 5\ntype: image/png\nbinary: 5\n".utf8)
        bytes += [0x0A, 0x4F, 0x4B, 0x0A, 0xFF]  // "\nOK\n" inside the binary must not end the response
        bytes += Array("\nOK\n".utf8)
        let results = try Self.parseBytewise(bytes)
        #expect(results.count == 1)
        #expect(try results[0].get().pairs.map(\.key) == ["size", "type"])
    }

    @Test func malformedLinesAreRefused() {
        #expect(throws: MPDProtocolError.self) { try Self.parseBytewise(Array("no colon here\n".utf8)) }
        #expect(throws: MPDProtocolError.self) { try Self.parseBytewise(Array("binary: -3\n".utf8)) }
    }

    @Test func argumentsAreQuoted() {
        #expect(MPDProtocol.line("add", [#"a "b"\c.flac"#]) == #"add "a \"b\"\\c.flac""# + "\n")
        #expect(MPDProtocol.line("idle", ["player", "playlist"]) == "idle \"player\" \"playlist\"\n")
    }

    @Test func addressesFollowMPDsEnvironment() {
        #expect(
            MPDAddress.resolve(host: nil, port: nil, password: nil, environment: [:]).address
                == .tcp(host: "127.0.0.1", port: 6600))
        let fromEnvironment = MPDAddress.resolve(
            host: nil, port: nil, password: nil, environment: ["MPD_HOST": "s3cret@music.lan", "MPD_PORT": "6601"])
        #expect(fromEnvironment.address == .tcp(host: "music.lan", port: 6601) && fromEnvironment.password == "s3cret")
        let socket = MPDAddress.resolve(host: "pw@/run/mpd/socket", port: 1, password: "given", environment: [:])
        #expect(socket.address == .local(path: "/run/mpd/socket") && socket.password == "given")
        #expect(MPDAddress.resolve(host: "/run/mpd/socket", port: nil, password: nil, environment: [:]).address.isLocal)
    }

    @Test func musicRootMapsBothWays() {
        let root = MusicRoot("/srv/music/")
        #expect(root.path == "/srv/music")
        #expect(root.indexedPath(ofRelative: "A/b.flac") == "/srv/music/A/b.flac")
        #expect(root.indexedPath(ofRelative: "../etc/passwd") == nil)
        #expect(root.indexedPath(ofRelative: "http://radio.example/stream") == nil)
        #expect(root.relativePath(ofIndexed: "/srv/music/A/b.flac") == "A/b.flac")
        #expect(root.relativePath(ofIndexed: "/srv/musicals/x.flac") == nil)
        #expect(root.relativePath(ofIndexed: "/elsewhere/x.flac") == nil)
    }

    // MARK: the radio's decisions

    /// Tracks on a circle (track i at angle i·step), so neighbours are known; artist and album per track.
    static func library(
        _ spec: [(path: String, artist: String, album: String)], root: String = "/music"
    ) -> RadioLibrary {
        var vectors = Matrix(rows: 0, columns: 2)
        var tracks: [TrackRecord] = []
        for (i, item) in spec.enumerated() {
            let angle = Float(i) * 0.2
            vectors.appendRow([cos(angle), sin(angle)])
            tracks.append(
                TrackRecord(
                    id: TrackID(Int64(i + 1)), path: item.path, size: 1, modificationTime: 0, contentHash: "h\(i)",
                    duration: 60, sampleRate: 22_050, channels: 1, format: "flac", artist: item.artist,
                    album: item.album))
        }
        return RadioLibrary(
            source: PlaylistSource(tracks: tracks, vectors: VectorCollection(vectors: vectors)), root: MusicRoot(root))
    }

    static let eight = library((0..<8).map { ("/music/\($0).flac", "Artist \($0)", "Album \($0)") })

    @Test func fullQueueAddsNothing() {
        let queue = RadioQueue(files: ["0.flac", "1.flac", "2.flac"], current: 0)
        #expect(RadioPlanner.decide(queue: queue, keepAhead: 2, artistGap: 1, library: Self.eight) == .full(ahead: 2))
    }

    @Test func topsUpToTheCountWithNeighboursNotQueuedOrPlayed() {
        let queue = RadioQueue(files: ["2.flac", "3.flac"], current: 1)
        let decision = RadioPlanner.decide(
            queue: queue, played: ["4.flac"], keepAhead: 2, artistGap: 1, library: Self.eight)
        guard case .append(let files, _, let seed) = decision else { Issue.record("\(decision)"); return }
        #expect(seed == "3.flac")
        #expect(files.count == 2)
        #expect(Set(files).isDisjoint(with: ["2.flac", "3.flac", "4.flac"]))
        #expect(files.first == "5.flac" || files.first == "1.flac")  // 3's nearest free neighbours (4 was played)
    }

    @Test func tracksOutsideTheRootOrRefusedByMPDAreNeverSent() {
        var spec = (0..<6).map { ("/music/\($0).flac", "Artist \($0)", "Album \($0)") }
        spec[1].0 = "/other/1.flac"
        let library = Self.library(spec)
        let decision = RadioPlanner.decide(
            queue: RadioQueue(files: ["0.flac"], current: 0), keepAhead: 5, artistGap: 1, excluded: [2],
            library: library)
        guard case .append(let files, _, _) = decision else { Issue.record("\(decision)"); return }
        #expect(Set(files) == ["3.flac", "4.flac", "5.flac"])
    }

    @Test func artistAndAlbumRulesHold() {
        let spec = [
            ("/music/0.flac", "A", "X"), ("/music/1.flac", "A", "Y"), ("/music/2.flac", "B", "X"),
            ("/music/3.flac", "C", "Z"), ("/music/4.flac", "D", "W"), ("/music/5.flac", "C", "V"),
        ]
        let decision = RadioPlanner.decide(
            queue: RadioQueue(files: ["0.flac"], current: 0), keepAhead: 4, artistGap: 2, library: Self.library(spec))
        // 1 shares the artist and 2 the album of the seed: 3 (C), then 4 (D; 5 is C within the gap of 2), then
        // 1, whose artist A has left the gap (its album Y is new), then 5 once C has left it; 2's album X stays
        // taken to the end.
        #expect(
            decision
                == .append(
                    files: ["3.flac", "4.flac", "1.flac", "5.flac"], cosines: decisionCosines(decision),
                    seed: "0.flac"))
    }

    func decisionCosines(_ decision: RadioDecision) -> [Float] {
        if case .append(_, let cosines, _) = decision { return cosines }
        return []
    }

    @Test func noSeedSaysWhy() {
        let empty = RadioPlanner.decide(
            queue: RadioQueue(files: [], current: nil), keepAhead: 3, artistGap: 1, library: Self.eight)
        #expect(empty == .noSeed(reason: "the queue is empty; add and play a song to seed the radio"))
        let unknown = RadioPlanner.decide(
            queue: RadioQueue(files: ["1.flac", "stream.mp3"], current: 1), keepAhead: 3, artistGap: 1,
            library: Self.eight)
        guard case .noSeed(let reason) = unknown else { Issue.record("\(unknown)"); return }
        #expect(reason.contains("/music"))
    }
}
