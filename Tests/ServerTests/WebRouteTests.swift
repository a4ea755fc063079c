import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import PipelineTestSupport
import Testing
import TestSupport

@testable import Server

/// The page's static files and `GET /api/tracks/{id}/audio` over real HTTP, against the built `retrieve serve`.
@Suite(.serialized) struct WebRouteTests {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    /// One GET with extra headers (ServerProcess.request sends none but the token).
    static func get(_ url: String, headers: [String: String] = [:]) async throws -> Reply {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 60
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { data, response, error in
                if let error { return continuation.resume(throwing: error) }
                let http = response as! HTTPURLResponse
                var fields: [String: String] = [:]
                for (k, v) in http.allHeaderFields { fields["\(k)"] = "\(v)" }
                continuation.resume(returning: Reply(status: http.statusCode, headers: fields, body: data ?? Data()))
            }.resume()
        }
    }

    @Test func audioRouteServesIndexedFilesWithRanges() async throws {
        let fixture = try PipelineFixture(tracks: 3)
        try index(fixture)
        let server = try await ServerProcess.start(fixture)
        defer { server.stop() }
        let listing = try await server.get("/api/tracks")
        let tracks = try #require(listing.json["tracks"] as? [[String: Any]])
        let wav = try #require(tracks.first { ($0["path"] as? String)?.hasSuffix(".wav") == true })
        let id = try #require(wav["id"] as? Int)
        let file = try Data(contentsOf: URL(fileURLWithPath: try #require(wav["path"] as? String)))
        let url = server.base + "/api/tracks/\(id)/audio"
        let size = file.count
        #expect(size > 1000)

        let whole = try await Self.get(url)
        #expect(whole.status == 200 && whole.body == file)
        #expect(whole.header("Content-Type") == "audio/wav" && whole.header("Accept-Ranges") == "bytes")
        #expect(whole.header("Content-Length") == String(size))

        let head = try await Self.get(url, headers: ["Range": "bytes=0-99"])
        #expect(head.status == 206 && head.body == file.prefix(100))
        #expect(head.header("Content-Range") == "bytes 0-99/\(size)" && head.header("Content-Length") == "100")
        let open = try await Self.get(url, headers: ["Range": "bytes=1000-"])
        #expect(open.status == 206 && open.body == file.dropFirst(1000))
        #expect(open.header("Content-Range") == "bytes 1000-\(size - 1)/\(size)")
        let suffix = try await Self.get(url, headers: ["Range": "bytes=-10"])
        #expect(suffix.status == 206 && suffix.body == file.suffix(10))
        #expect(suffix.header("Content-Range") == "bytes \(size - 10)-\(size - 1)/\(size)")
        let past = try await Self.get(url, headers: ["Range": "bytes=0-\(size * 4)"])
        #expect(past.status == 206 && past.body == file)
        let bigSuffix = try await Self.get(url, headers: ["Range": "bytes=-\(size * 4)"])
        #expect(bigSuffix.status == 206 && bigSuffix.body == file)

        for unsatisfiable in ["bytes=\(size)-", "bytes=\(size + 5)-\(size + 9)", "bytes=-0"] {
            let refused = try await Self.get(url, headers: ["Range": unsatisfiable])
            #expect(refused.status == 416, "\(unsatisfiable)")
            #expect(refused.header("Content-Range") == "bytes */\(size)", "\(unsatisfiable)")
        }
        // Ranges the server may ignore (several, another unit, malformed): the whole file.
        for ignored in ["bytes=0-1,5-9", "items=0-1", "bytes=abc", "bytes=9-3"] {
            let reply = try await Self.get(url, headers: ["Range": ignored])
            #expect(reply.status == 200 && reply.body == file, "\(ignored)")
        }

        // Only indexed tracks, only by id: unknown ids, paths and traversal never reach a file.
        let unknown = try await server.get("/api/tracks/999999/audio")
        #expect(unknown.status == 404 && unknown.errorField == "id")
        let notNumber = try await server.get("/api/tracks/abc/audio")
        #expect(notNumber.status == 400 && notNumber.errorField == "id")
        let encodedPath = try await server.get("/api/tracks/%2Fetc%2Fpasswd/audio")
        #expect(encodedPath.status == 400 && !encodedPath.text.contains("root:"))
        let traversal = try await server.get("/api/tracks/../../etc/passwd/audio")
        #expect(traversal.status == 404 && !traversal.text.contains("root:"))
        let pathParameter = try await Self.get(url + "?path=/etc/passwd")
        #expect(pathParameter.status == 200 && pathParameter.body == file)

        // A file gone since indexing: 404 that says so.
        try FileManager.default.removeItem(atPath: try #require(wav["path"] as? String))
        let gone = try await server.get("/api/tracks/\(id)/audio")
        #expect(gone.status == 404 && gone.errorMessage.contains("--prune"))

        // Content types by extension.
        for track in tracks where (track["path"] as? String)?.hasSuffix(".flac") == true {
            let flac = try await Self.get(server.base + "/api/tracks/\(track["id"] as! Int)/audio")
            #expect(flac.header("Content-Type") == "audio/flac")
        }
    }

    @Test func pageIsServedAndTheTokenGuardsTheAudio() async throws {
        let fixture = try PipelineFixture(tracks: 2)
        try index(fixture)
        let token = "web-token-\(UInt32.random(in: 0...UInt32.max))"
        let server = try await ServerProcess.start(fixture, token: token)
        defer { server.stop() }
        // The page's files need no token: they hold no library data.
        let page = try await Self.get(server.base + "/")
        #expect(page.status == 200 && page.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(String(decoding: page.body, as: UTF8.self).contains("<script src=\"app.js\""))
        #expect(
            try await Self.get(server.base + "/app.js").header("Content-Type")?.hasPrefix("text/javascript") == true)
        #expect(try await Self.get(server.base + "/style.css").header("Content-Type")?.hasPrefix("text/css") == true)
        #expect(try await Self.get(server.base + "/other.js").status == 401)
        #expect(try await Self.get(server.base + "/api/map").status == 401)
        let map = try await server.get("/api/map")
        let points = try #require(map.json["points"] as? [[Double]])
        #expect(map.json["count"] as? Int == 2 && points.count == 2 && points.allSatisfy { $0.count == 3 })

        let id = try #require(
            (try await server.get("/api/tracks").json["tracks"] as? [[String: Any]])?.first?["id"] as? Int)
        let audio = server.base + "/api/tracks/\(id)/audio"
        #expect(try await Self.get(audio).status == 401)
        #expect(try await Self.get(audio + "?token=\(token)x").status == 401)
        #expect(try await Self.get(audio + "?token=\(token)").status == 200)
        #expect(try await Self.get(audio, headers: ["Authorization": "Bearer \(token)"]).status == 200)
        // `token=` is accepted on the audio route only.
        #expect(try await Self.get(server.base + "/api/tracks?token=\(token)").status == 401)
        #expect(try await Self.get(server.base + "/api/tracks/\(id)?token=\(token)").status == 401)
    }

    @Test(arguments: [
        ("bytes=0-0", 10, ByteRange.partial(0...0)), ("bytes=2-", 10, .partial(2...9)),
        ("bytes=-3", 10, .partial(7...9)), ("bytes=-30", 10, .partial(0...9)), ("bytes=5-50", 10, .partial(5...9)),
        ("bytes=10-", 10, .unsatisfiable), ("bytes=-0", 10, .unsatisfiable), ("bytes=0-", 0, .unsatisfiable),
        ("bytes=0-1,3-4", 10, .whole), ("bytes=x-", 10, .whole), ("bytes=4-2", 10, .whole), ("lines=1-2", 10, .whole),
        (" BYTES = 1-2", 10, .whole), ("bytes= 1-2", 10, .partial(1...2)),
        ("bytes=99999999999999999999999-", 10, .whole),
    ])
    func byteRangeParsing(header: String, size: Int, expected: ByteRange) {
        #expect(ByteRange.parse(header, size: size) == expected)
    }
}
