import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import Synchronization
import TestSupport

@testable import Server

/// A small Subsonic server on a loopback port, for the id-mapping tests.
///
/// Why a stand-in: the real servers (Navidrome, Airsonic, gonic) cannot be installed or run on the test
/// machines. It implements exactly what `retrieve serve` asks of a real one, as the Subsonic API and
/// OpenSubsonic specify it (https://opensubsonic.netlify.app/docs/): `ping`, `search3` and `getSong`, under
/// `/rest/NAME` and `/rest/NAME.view`; token authentication checked for real (`u`, and `t` = md5(password +
/// `s`), or `p` in clear or `enc:`-hex; error 10 when `u`, `v` or `c` is missing, 41 for tokens when told to
/// refuse them (an LDAP user), 40 for a wrong user or password); the JSON `subsonic-response` envelope
/// (`status`, `version`, `type`, `serverVersion`, `openSubsonic`, and `error: {code, message}` on failure, HTTP
/// 200 either way); `search3` with an empty
/// query listing everything, paged by `songCount`/`songOffset`, capping `songCount` as real servers do (here at
/// `maxPage`, so that paging is exercised with a few songs); `getSong` answering error 70 for an unknown id.
/// Songs are `Child` objects with `id`, `parent`, `title`, `isDir`, `type`, `suffix`, `albumId`, `artistId`,
/// `coverArt` and, unless withheld, `path` relative to the music folder.
///
/// Its HTTP/1.1 is a blocking socket served from a thread of its own (one request per connection, answered
/// with `Connection: close`), not an in-process Hummingbird: on the two-core test machines Swift Testing runs
/// other suites in parallel, which block the two cooperative threads in `waitpid` for seconds, and an
/// in-process async server then stalls past the client's timeout.
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
    /// Answer token authentication with error 41, as Airsonic does for LDAP users (the password is then accepted
    /// as `p`).
    let refusesTokens: Bool
    /// Answer every `search3` page from the first song, as a server that ignores `songOffset` would.
    let ignoresOffset: Bool
    let songs: Mutex<[Song]>
    /// Every request's endpoint name, in order.
    let calls = Mutex<[String]>([])
    /// The listening socket (`nil` once stopped) and its port.
    private let listener = Mutex<(fd: Int32?, port: UInt16)?>(nil)

    init(
        user: String, password: String, songs: [Song], maxPage: Int = 3, refusesTokens: Bool = false,
        ignoresOffset: Bool = false
    ) {
        self.user = user
        self.password = password
        self.maxPage = maxPage
        self.refusesTokens = refusesTokens
        self.ignoresOffset = ignoresOffset
        self.songs = Mutex(songs)
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var port: UInt16 { listener.withLock { $0?.port } ?? 0 }

    /// Listens on a loopback port (`port`, or a free one for 0) and serves from a thread of its own until `stop()`.
    func start(port: UInt16 = 0) throws {
        let socket = try LoopbackSocket(listening: true, port: port)
        let fd = socket.fd
        listener.withLock { $0 = (fd, socket.port) }
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }  // the listening socket was shut down
                serve(connection)
                close(connection)
            }
        }
    }

    /// Stops listening; the port is then closed (a connection is refused). Once; later calls do nothing.
    func stop() {
        let open = listener.withLock { state -> Int32? in
            defer { state?.fd = nil }
            return state?.fd
        }
        guard let fd = open else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// Reads one request's head, answers it, and leaves the closing to the caller.
    private func serve(_ connection: Int32) {
        var head = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !head.suffix(4).elementsEqual("\r\n\r\n".utf8) && head.count < 65_536 {
            let n = recv(connection, &buffer, buffer.count, 0)
            if n <= 0 { return }
            head += buffer[0..<n]
        }
        let requestLine = String(decoding: head, as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = requestLine.split(separator: " ")
        let target = parts.count >= 2 ? String(parts[1]) : "/"
        let components = URLComponents(string: target)
        let path = components?.path ?? ""
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let name = path.hasPrefix("/rest/") ? String(path.dropFirst(6)).replacingOccurrences(of: ".view", with: "") : ""
        var status = "200 OK"
        var body: Data
        if parts.first == "GET", ["ping", "search3", "getSong"].contains(name) {
            body = answer(name, query)
        } else {
            status = "404 Not Found"
            body = Data("not a route of the stand-in".utf8)
        }
        let header =
            "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
            + "Connection: close\r\n\r\n"
        body = Data(header.utf8) + body
        body.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(connection, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                sent += n
            }
        }
    }

    func answer(_ endpoint: String, _ query: [String: String]) -> Data {
        calls.withLock { $0.append(endpoint) }
        let value = { (name: String) in query[name] }
        if let failure = authenticationFailure(value) { return failure }
        guard value("f") == "json" else { return Self.failure(0, "the stand-in answers f=json only") }
        switch endpoint {
        case "search3":
            guard value("query") != nil else { return Self.failure(10, "Required parameter 'query' is missing") }
            let count = min(maxPage, Int(value("songCount") ?? "20") ?? 20)
            let offset = ignoresOffset ? 0 : Int(value("songOffset") ?? "0") ?? 0
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
    func authenticationFailure(_ value: (String) -> String?) -> Data? {
        for name in ["u", "v", "c"] where value(name) == nil {
            return Self.failure(10, "Required parameter '\(name)' is missing")
        }
        let accepted: Bool
        if value("t") != nil, refusesTokens {
            return Self.failure(41, "Token authentication not supported for LDAP users.")
        } else if let token = value("t"), let salt = value("s") {
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

    static func ok(_ fields: [String: Any]) -> Data { envelope(fields, status: "ok") }

    static func failure(_ code: Int, _ message: String) -> Data {
        envelope(["error": ["code": code, "message": message]], status: "failed")
    }

    /// The `subsonic-response` envelope (HTTP 200 whether the call succeeded or failed, as Subsonic answers).
    static func envelope(_ fields: [String: Any], status: String) -> Data {
        var body: [String: Any] = [
            "status": status, "version": "1.16.1", "type": "stand-in", "serverVersion": "0.1", "openSubsonic": true,
        ]
        body.merge(fields) { $1 }
        return try! JSONSerialization.data(withJSONObject: ["subsonic-response": body])
    }
}
