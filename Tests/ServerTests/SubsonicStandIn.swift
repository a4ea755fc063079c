import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

@testable import Server

/// A small Subsonic server on a loopback port, for the id-mapping tests.
///
/// Why a stand-in: the real servers (Navidrome, Airsonic, gonic) cannot be installed or run on the test
/// machines. It implements exactly what `retrieve serve` asks of a real one, as the Subsonic API and
/// OpenSubsonic specify it (https://opensubsonic.netlify.app/docs/): `ping`, `search3` and `getSong`, under
/// `/rest/NAME` and `/rest/NAME.view`; token authentication checked for real (`u`, and `t` = md5(password +
/// `s`), or `p` in clear or `enc:`-hex; error 10 when `u`, `v` or `c` is missing, 40 for a wrong user or
/// password); the JSON `subsonic-response` envelope (`status`, `version`, `type`, `serverVersion`,
/// `openSubsonic`, and `error: {code, message}` on failure, HTTP 200 either way); `search3` with an empty
/// query listing everything, paged by `songCount`/`songOffset`, capping `songCount` as real servers do (here at
/// `maxPage`, so that paging is exercised with a few songs); `getSong` answering error 70 for an unknown id.
/// Songs are `Child` objects with `id`, `parent`, `title`, `isDir`, `type`, `suffix`, `albumId`, `artistId`,
/// `coverArt` and, unless withheld, `path` relative to the music folder.
final class SubsonicStandIn: Sendable {
    struct Song: Sendable {
        var id: String
        /// Relative to the server's music folder; `nil` withholds it (as Navidrome's made-up paths are withheld).
        var path: String?
        var title: String
    }

    let user: String
    let password: String
    let maxPage: Int
    let songs: Mutex<[Song]>
    /// Every request's endpoint name, in order.
    let calls = Mutex<[String]>([])
    private let port = Mutex<Int?>(nil)
    private let running = Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>(nil)

    init(user: String, password: String, songs: [Song], maxPage: Int = 3) {
        self.user = user
        self.password = password
        self.maxPage = maxPage
        self.songs = Mutex(songs)
    }

    var base: String { "http://127.0.0.1:\(port.withLock { $0 } ?? 0)" }

    /// Listens on a free loopback port; returns once it does.
    func start() async throws {
        let router = Router()
        for name in ["ping", "search3", "getSong"] {
            for suffix in ["", ".view"] {
                router.get("/rest/\(name)\(suffix)") { request, _ in self.answer(name, request) }
            }
        }
        var logger = Logger(label: "subsonic-stand-in")
        logger.logLevel = .error
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port } }, logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        running.withLock { $0 = (group, Task { try await group.run() }) }
        let deadline = Date().addingTimeInterval(30)
        while port.withLock({ $0 }) == nil {
            guard Date() < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() async {
        guard let (group, task) = running.withLock({ $0 }) else { return }
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    func answer(_ endpoint: String, _ request: Request) -> Response {
        calls.withLock { $0.append(endpoint) }
        let query = request.uri.queryParameters
        let value = { (name: String) in query[name[...]].map(String.init) }
        if let failure = authenticationFailure(value) { return failure }
        guard value("f") == "json" else { return Self.failure(0, "the stand-in answers f=json only") }
        switch endpoint {
        case "search3":
            guard value("query") != nil else { return Self.failure(10, "Required parameter 'query' is missing") }
            let count = min(maxPage, Int(value("songCount") ?? "20") ?? 20)
            let offset = Int(value("songOffset") ?? "0") ?? 0
            let all = songs.withLock { $0 }
            let page = offset < all.count ? Array(all[offset..<min(all.count, offset + count)]) : []
            return Self.ok(["searchResult3": ["song": page.map(Self.child)]])
        case "getSong":
            guard let id = value("id") else { return Self.failure(10, "Required parameter 'id' is missing") }
            guard let song = songs.withLock({ $0.first { $0.id == id } }) else {
                return Self.failure(70, "Song not found")
            }
            return Self.ok(["song": Self.child(song)])
        default:
            return Self.ok([:])
        }
    }

    /// Subsonic's rules: `u`, `v`, `c` required; `t`+`s` (md5(password + salt)) or `p` (clear or `enc:` hex).
    func authenticationFailure(_ value: (String) -> String?) -> Response? {
        for name in ["u", "v", "c"] where value(name) == nil {
            return Self.failure(10, "Required parameter '\(name)' is missing")
        }
        let accepted: Bool
        if let token = value("t"), let salt = value("s") {
            accepted = token.lowercased() == MD5.hex(Array((password + salt).utf8))
        } else if let given = value("p") {
            var clear = given
            if given.hasPrefix("enc:") {
                let hex = Array(given.dropFirst(4))
                clear = String(
                    decoding: stride(from: 0, to: hex.count - 1, by: 2).compactMap {
                        UInt8(String(hex[$0...$0 + 1]), radix: 16)
                    },
                    as: UTF8.self)
            }
            accepted = clear == password
        } else {
            return Self.failure(10, "Required parameter 't' or 'p' is missing")
        }
        return accepted && value("u") == user ? nil : Self.failure(40, "Wrong username or password")
    }

    static func child(_ song: Song) -> [String: Any] {
        var child: [String: Any] = [
            "id": song.id, "parent": "folder-" + song.id, "title": song.title, "isDir": false, "type": "music",
            "suffix": "wav", "albumId": "album-" + song.id, "artistId": "artist-1", "coverArt": "cover-" + song.id,
        ]
        if let path = song.path { child["path"] = path }
        return child
    }

    static func ok(_ fields: [String: Any]) -> Response { envelope(fields, status: "ok") }

    static func failure(_ code: Int, _ message: String) -> Response {
        envelope(["error": ["code": code, "message": message]], status: "failed")
    }

    static func envelope(_ fields: [String: Any], status: String) -> Response {
        var body: [String: Any] = [
            "status": status, "version": "1.16.1", "type": "stand-in", "serverVersion": "0.1", "openSubsonic": true,
        ]
        body.merge(fields) { $1 }
        let data = try! JSONSerialization.data(withJSONObject: ["subsonic-response": body])
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
