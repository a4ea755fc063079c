import Foundation
import GRDB
import PipelineTestSupport
import Testing
import TestSupport

/// `POST /api/similar/audio?identify=true`: the real server against the real CLI's `similar --identify`.
@Suite(.serialized) struct IdentifyRouteTests {
    /// Six tracks indexed with `--segments` (identification needs them).
    static func segmentedLibrary() throws -> PipelineFixture {
        let fixture = try PipelineFixture(tracks: 6)
        let run = try runRetrieve(
            [
                "index", fixture.music.path, "--db", fixture.databasePath, "--model", fixture.modelURL.path,
                "--segments",
            ],
            in: fixture.folder.url)
        guard run.exit.status == 0 else { throw ChildProcessError("retrieve index --segments failed: \(run.stderr)") }
        return fixture
    }

    static func ids(_ result: HTTPResult) -> [Int] {
        (result.json["results"] as? [[String: Any]] ?? []).compactMap { ($0["track"] as? [String: Any])?["id"] as? Int }
    }

    @Test func identifyAnswersAsTheCLIDoes() async throws {
        let fixture = try Self.segmentedLibrary()
        let server = try await ServerProcess.start(fixture)
        defer { server.stop() }
        let clip = fixture.folder.path("clip.flac")
        // A copy of track 3 outside the music folder: identified as track 3, and named as its indexed copy.
        let original = try #require(
            try FileManager.default.contentsOfDirectory(atPath: fixture.music.path).first { $0.hasPrefix("track03") })
        try FileManager.default.copyItem(at: fixture.music.appendingPathComponent(original), to: clip)

        for exactPitch in [false, true] {
            let suffix = exactPitch ? "&exactPitch=true" : ""
            let answer = try await server.request(
                "POST", "/api/similar/audio?identify=true&k=4\(suffix)", body: try Data(contentsOf: clip),
                contentType: "audio/flac")
            #expect(answer.status == 200 && answer.json["identify"] as? Bool == true, "\(answer.text)")
            let cli = try runRetrieve(
                [
                    "similar", clip.path, "--identify", "--k", "4", "--json", "--db", fixture.databasePath, "--model",
                    fixture.modelURL.path,
                ] + (exactPitch ? ["--exact-pitch"] : []),
                in: fixture.folder.url)
            #expect(cli.exit.status == 0, "\(cli.stderr)")
            let cliIDs = cli.stdout.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? Int
            }
            #expect(Self.ids(answer) == cliIDs && cliIDs.count == 4, "API \(Self.ids(answer)) vs CLI \(cliIDs)")
            // The same bytes as an indexed file: that track first, and named as the upload's indexed copy.
            let copy = try #require(answer.json["indexedCopy"] as? [String: Any])
            #expect(
                (copy["path"] as? String)?.hasSuffix(original) == true && Self.ids(answer).first == copy["id"] as? Int)
        }

        // An excerpt (the first second of track 3, written afresh: other bytes) is identified as track 3.
        let trackID = try #require(
            Self.ids(
                try await server.request(
                    "POST", "/api/similar/audio?identify=true&k=1", body: try Data(contentsOf: clip),
                    contentType: "audio/flac")
            ).first)
        let excerpt = try fixture.writeTrack(index: 3, in: "excerpt", seconds: 1)
        let identified = try await server.request(
            "POST", "/api/similar/audio?identify=true&k=3", body: try Data(contentsOf: excerpt),
            contentType: "audio/wav")
        #expect(Self.ids(identified).first == trackID && identified.json["indexedCopy"] is NSNull, "\(identified.text)")

        // Identification takes no style filters; exactPitch needs identify; identify must be a boolean.
        for (query, field) in [
            ("identify=true&excludeSameArtist=true", "excludeSameArtist"), ("identify=1&under=/x", "under"),
            ("exactPitch=true", "exactPitch"), ("identify=perhaps", "identify"),
        ] {
            let refused = try await server.request(
                "POST", "/api/similar/audio?\(query)", body: Data("x".utf8), contentType: "audio/flac")
            #expect(refused.status == 400 && refused.errorField == field, "\(query): \(refused.text)")
        }
        let notAudio = try await server.request(
            "POST", "/api/similar/audio?identify=true", body: Data("not audio".utf8), contentType: "audio/flac")
        #expect(notAudio.status == 422 && notAudio.errorField == "body", "\(notAudio.text)")
    }

    @Test func anIndexWithoutSegmentsSaysHowToGetThem() async throws {
        let fixture = try PipelineFixture(tracks: 4)
        try index(fixture)
        let server = try await ServerProcess.start(fixture)
        defer { server.stop() }
        let answer = try await server.request(
            "POST", "/api/similar/audio?identify=true", body: Data("x".utf8), contentType: "audio/flac")
        #expect(answer.status == 409 && answer.errorField == "identify", "\(answer.text)")
        #expect(answer.errorMessage.contains("retrieve index --segments"))
    }

    /// Segments an earlier build made for a level-normalising model (robust windows, kind 1) are not matched
    /// against an upload's: 409 naming the command that remakes them, as the CLI says; after it, answers.
    @Test func segmentsOfAnEarlierFrontEndAreRefusedUntilRemade() async throws {
        let fixture = try PipelineFixture(tracks: 4)
        let model = fixture.folder.path("level.safetensors")
        _ = try PipelineFixture.makeEncoder(seed: 9, url: model, name: "level", levelRange: 80)
        func index() throws {
            let run = try runRetrieve(
                ["index", fixture.music.path, "--db", fixture.databasePath, "--model", model.path, "--segments"],
                in: fixture.folder.url)
            try #require(run.exit.status == 0, "\(run.stderr)")
        }
        try index()
        let queue = try DatabaseQueue(path: fixture.databasePath)
        try await queue.write { try $0.execute(sql: "UPDATE embeddings SET segment_version = 1") }
        try queue.close()
        let clip = try fixture.writeTrack(index: 2, in: "clip")
        let cli = try runRetrieve(
            ["similar", clip.path, "--identify", "--db", fixture.databasePath, "--model", model.path],
            in: fixture.folder.url)
        #expect(cli.exit.status != 0 && cli.stderr.contains("earlier identification front end"), "\(cli.stderr)")
        #expect(cli.stderr.contains("retrieve index --segments"))
        do {
            let server = try await ServerProcess.start(fixture, model: model)
            defer { server.stop() }
            let answer = try await server.request(
                "POST", "/api/similar/audio?identify=true", body: try Data(contentsOf: clip), contentType: "audio/wav")
            #expect(answer.status == 409 && answer.errorField == "identify", "\(answer.text)")
            #expect(answer.errorMessage.contains("earlier identification front end"), "\(answer.text)")
            #expect(answer.errorMessage.contains("retrieve index --segments"))
        }
        try index()
        let server = try await ServerProcess.start(fixture, model: model)
        defer { server.stop() }
        let answer = try await server.request(
            "POST", "/api/similar/audio?identify=true&k=1", body: try Data(contentsOf: clip), contentType: "audio/wav")
        #expect(answer.status == 200 && Self.ids(answer).count == 1, "\(answer.text)")
    }
}
