import Foundation
import Testing
import Library
import Logging
import RetrieveCore
import SimilaritySearch
import Synchronization
import TestSupport
import VectorIndex

@testable import Server

/// The server's pure parts, without a process: multipart parsing, token comparison, loopback, search matching.
@Suite struct ServerUnitTests {
    @Test func multipartFindsTheFilePartAmongOthers() throws {
        let audio = Data([0, 1, 2, 13, 10, 45, 45, 255])  // bytes that look like CRLF and "--" inside the file
        var body = Data("--XyZ\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n5\r\n".utf8)
        body += Data("--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"clip.ogg\"\r\n".utf8)
        body += Data("Content-Type: audio/ogg\r\n\r\n".utf8) + audio + Data("\r\n--XyZ--\r\n".utf8)
        #expect(Multipart.boundary(contentType: "multipart/form-data; boundary=\"XyZ\"") == "XyZ")
        #expect(Multipart.boundary(contentType: "Multipart/Form-Data;boundary=XyZ") == "XyZ")
        #expect(Multipart.boundary(contentType: "audio/wav") == nil)
        let part = try Multipart.filePart(body, boundary: "XyZ")
        #expect(part.filename == "clip.ogg" && part.data == audio)
    }

    /// The analysis child's answer reads back as it was sent (the profile as `packed` stores it), and bytes that
    /// are not such an answer, or not of the server's embedding size, read as nothing.
    @Test func anUploadsAnalysisReadsBackAsSentAndDamagedAnswersAreRefused() throws {
        var random = SeededGenerator(seed: 7)
        func embedding() -> Embedding {
            Embedding(normalising: (0..<8).map { _ in Float.random(in: -1...1, using: &random) })
        }
        var frames = Matrix(rows: 60, columns: TimbreGaussian.mfccCount)
        for r in 0..<60 {
            for c in 0..<TimbreGaussian.mfccCount { frames[r, c] = Float.random(in: -5...5, using: &random) }
        }
        let model = try #require(TimbreGaussian(mfcc: frames))
        let profile = TimbreProfile(
            full: .init(model: model, normalisation: .init(mean: 0.4, deviation: 0.1)), lowBand: nil)
        let style = UploadAnalysis.style(embedding: embedding(), timbre: profile)
        let identification = UploadAnalysis.identification([[embedding(), embedding()], [], [embedding()]])
        guard case .style(let sent, _) = style else { return }
        #expect(
            UploadAnalysis(encoded: style.encoded, dimensions: 8)
                == .style(embedding: sent, timbre: TimbreProfile(packed: profile.packed)))
        let noTimbre = UploadAnalysis.style(embedding: sent, timbre: nil)
        #expect(UploadAnalysis(encoded: noTimbre.encoded, dimensions: 8) == noTimbre)
        #expect(UploadAnalysis(encoded: identification.encoded, dimensions: 8) == identification)
        // The recording as it is may give no segment where a shifted copy gives one.
        let firstEmpty = UploadAnalysis.identification([[], [embedding()]])
        #expect(UploadAnalysis(encoded: firstEmpty.encoded, dimensions: 8) == firstEmpty)

        #expect(UploadAnalysis(encoded: style.encoded, dimensions: 16) == nil)
        #expect(UploadAnalysis(encoded: identification.encoded, dimensions: 4) == nil)
        for answer in [style, identification] {
            let bytes = answer.encoded
            #expect(UploadAnalysis(encoded: bytes.dropLast(4), dimensions: 8) == nil)
            #expect(UploadAnalysis(encoded: bytes + Data([0, 0, 0, 0]), dimensions: 8) == nil)
            #expect(UploadAnalysis(encoded: Data("XXXXX".utf8) + bytes.dropFirst(5), dimensions: 8) == nil)
        }
        var notFinite = noTimbre.encoded
        notFinite.replaceSubrange(13..<17, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        #expect(UploadAnalysis(encoded: notFinite, dimensions: 8) == nil)
        #expect(UploadAnalysis(encoded: Data(), dimensions: 8) == nil)
    }

    @Test(arguments: [
        "no boundary here", "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n",
        "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nunterminated",
    ])
    func malformedMultipartIsABodyError(body: String) {
        #expect {
            _ = try Multipart.filePart(Data(body.utf8), boundary: "b")
        } throws: { ($0 as? APIError)?.field == "body" && ($0 as? APIError)?.status == .badRequest }
    }

    @Test func tokensCompareWhole() {
        typealias Auth = BearerAuthMiddleware<ServerContext>
        #expect(Auth.constantTimeEqual("abcdefgh", "abcdefgh"))
        #expect(!Auth.constantTimeEqual("abcdefgh", "abcdefgi"))
        #expect(!Auth.constantTimeEqual("abcdefgh", "abcdefg"))
        #expect(!Auth.constantTimeEqual("abcdefg", "abcdefgh"))
        #expect(!Auth.constantTimeEqual("", "abcdefgh"))
        // Lengths 256 apart must not wrap to "equal".
        #expect(!Auth.constantTimeEqual(String(repeating: "a", count: 256), ""))
    }

    @Test func loopbackAddresses() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"] {
            #expect(ServerConfiguration.isLoopback(host), "\(host)")
        }
        for host in ["0.0.0.0", "10.0.0.1", "127.0.0.256", "127.0.0", "::", "example.org", "128.0.0.1"] {
            #expect(!ServerConfiguration.isLoopback(host), "\(host)")
        }
    }

    @Test func searchMatchesWhereAWordStarts() {
        let track = TrackRecord(
            path: "/tmp/d495923211a3/music/track03.wav", size: 1, modificationTime: 0, contentHash: "", duration: 1,
            sampleRate: 22_050, channels: 1, format: "wav", title: "Song 3", artist: "Artist 1", album: "album 0")
        func finds(_ phrase: String) -> Bool { TrackSearch.matches(track, TrackSearch.Phrase(phrase)) }
        #expect(finds("song 3"))
        #expect(finds("track0"))
        #expect(finds("artist 1"))
        #expect(!finds("3/music"))
        #expect(!finds("rack"))
        #expect(!finds("1 song"), "never across fields")
        #expect(!finds("song 3 "), "nothing past the end")
    }

    @Test func searchFoldsCaseBeyondASCII() {
        let track = TrackRecord(
            path: "/music/Éric Serra/Le Grand Bleu.flac", size: 1, modificationTime: 0, contentHash: "", duration: 1,
            sampleRate: 44_100, channels: 2, format: "flac", title: "Ÿ Ĳssel", artist: "ÉRIC SERRA")
        func finds(_ phrase: String) -> Bool { TrackSearch.matches(track, TrackSearch.Phrase(phrase)) }
        #expect(finds("éric serra") && finds("grand bleu") && finds("ĳssel"))
        #expect(!finds("ric serra"), "not inside a word: É is a letter")
    }

    @Test func pathTableFindsEveryPathAndNoOther() {
        let tracks = (0..<1000).map { n in
            TrackRecord(
                path: "/music/\(n % 7)/track \(n).flac", size: 1, modificationTime: 0, contentHash: "", duration: 1,
                sampleRate: 44_100, channels: 2, format: "flac")
        }
        let table = PathTable(TrackTable(tracks))
        #expect(tracks.indices.allSatisfy { table.row(of: tracks[$0].path) == $0 && table[tracks[$0].path] == $0 })
        #expect(table.row(of: "/music/1/track 1000.flac") == nil && table.row(of: "") == nil)
        #expect(PathTable(TrackTable()).row(of: "/x") == nil)
    }

    @Test func jsonTextWritesWhatJSONSerializationWrites() throws {
        let object: [String: Any] = [
            "b": [1, 2.5, -0.0, 1e-7, 3.0, Int64(1) << 40, Float(0.1)], "a": "q\"uo\\te/\n\u{1}é", "c": NSNull(),
            "d": ["z": true, "y": false, "x": [[String: Any]]()], "sample_rate": 44_100, "size": 7,
        ]
        let ours = String(decoding: JSONText.bytes(object), as: UTF8.self)
        let foundation = String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
            as: UTF8.self)
        #expect(ours == foundation)
    }

    @Test func similarityMapsCosineIntoTheUnitInterval() {
        #expect(TrackJSON.similarity(1) == 1 && TrackJSON.similarity(0) == 0.5 && TrackJSON.similarity(-1) == 0)
        #expect(TrackJSON.similarity(1.0001) == 1 && TrackJSON.similarity(-1.5) == 0)
    }

    /// A change whose reload failed is not lost: a later check tries again without a new commit (after 1 s, then
    /// 2, 4 … 60), and the retry delay doubles from 1 s to a minute.
    @Test func aFailedReloadIsTriedAgainWithoutANewChange() async throws {
        #expect([1, 2, 3, 4, 7, 8, 50].map(LibraryState.retryDelay(afterFailures:))
                    == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(60), .seconds(60), .seconds(60)])
        let dir = try TemporaryDirectory(prefix: "retrieve-reload-retry")
        let model = ModelVersion(name: "m", digest: String(repeating: "7", count: 64), dimensions: 4)
        let store = try IndexStore(path: dir.path("index.sqlite").path)
        let modelID = try store.register(model: model)
        func commit(_ n: Int) throws {
            let track = TrackRecord(
                path: "/music/\(n).flac", size: 1, modificationTime: 1, contentHash: "h\(n)", duration: 30,
                sampleRate: 44_100, channels: 2, format: "flac")
            let vector = Embedding(normalising: [1, Float(n), 0.5, -1])
            try store.commit(IndexBatch(items: [.init(track: track, embeddings: [.init(modelID: modelID, embedding: vector, segmentCount: 1)])]))
        }
        try commit(0)
        let source = FlakySource(try SQLiteLibrarySource(path: dir.path("index.sqlite").path))
        let state = try await LibraryState(source: source, model: model, logger: Logger(label: "test"))
        #expect(state.snapshot.engine.count == 1)

        try commit(1)
        source.failNextLoad()
        #expect(await state.checkOnce() == false)  // the change is seen, its reload fails
        #expect(state.snapshot.engine.count == 1 && state.reloadStatus.lastError?.contains("unreachable") == true)
        #expect(state.reloadStatus.failedInARow == 1)
        #expect(await state.checkOnce() == false)  // no new change and the retry's second has not passed
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await state.checkOnce() == true)  // no new commit, but the failed reload is tried again
        #expect(state.snapshot.engine.count == 2 && state.reloadStatus.lastError == nil)
        #expect(state.reloadStatus.failedInARow == 0 && state.reloadStatus.retryAt == nil)
        #expect(await state.checkOnce() == false)
    }
}

/// A library source whose next load can be made to fail (a database briefly unreachable).
private final class FlakySource: LibrarySource {
    private let inner: SQLiteLibrarySource
    private let failing = Mutex(false)
    init(_ inner: SQLiteLibrarySource) { self.inner = inner }
    var name: String { inner.name }
    func failNextLoad() { failing.withLock { $0 = true } }
    func load(model: ModelVersion) throws -> (engine: QueryEngine, statistics: IndexStatistics?) {
        if failing.withLock({ failing in
            defer { failing = false }
            return failing
        }) {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "database unreachable"])
        }
        return try inner.load(model: model)
    }
    func hasChanged() async throws -> Bool { try await inner.hasChanged() }
}
