import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Where a Subsonic server (Navidrome, Airsonic, gonic, …) is, and how `retrieve serve` signs in to it.
public struct SubsonicSettings: Sendable {
    /// The server's base address, e.g. `http://127.0.0.1:4533` or `https://music.example/navidrome`; the API
    /// lives under `BASE/rest/`.
    public var url: URL
    public var user: String
    public var password: String
    /// The server's music folder as the index spells it; `nil` infers it from the paths (see `SubsonicIDMap`).
    public var musicRoot: String?
    /// Songs per `search3` page.
    public var pageSize = 500
    /// The least time between two full listings of the server's songs (a miss or a reload asks for one).
    public var relistInterval: Duration = .seconds(60)
    /// How long one request to the server may take.
    public var timeout: Duration = .seconds(30)

    public init(url: URL, user: String, password: String, musicRoot: String? = nil) {
        self.url = url
        self.user = user
        self.password = password
        self.musicRoot = musicRoot
    }
}

/// A song as the Subsonic server lists it: its id, its `path` (relative to its music folder; `nil` when the
/// server leaves it out) and the ids a client needs to show it (cover art, album, artist, folder).
struct SubsonicSong: Sendable, Equatable {
    var id: String
    var path: String?
    var coverArt: String?
    var albumId: String?
    var artistId: String?
    var parent: String?

    init(id: String, path: String?) {
        self.id = id
        self.path = path
    }

    /// From a Subsonic `Child` object; `nil` without a string `id`.
    init?(child: [String: Any]) {
        guard let id = child["id"] as? String ?? (child["id"] as? Int).map(String.init) else { return nil }
        self.id = id
        path = (child["path"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        coverArt = child["coverArt"] as? String
        albumId = child["albumId"] as? String
        artistId = child["artistId"] as? String
        parent = child["parent"] as? String
    }
}

/// What went wrong talking to the Subsonic server, with what to do about it.
enum SubsonicClientError: Error, CustomStringConvertible {
    /// No answer: the server is down, the address is wrong, or it timed out.
    case unreachable(url: String, reason: String)
    /// An HTTP status other than 200 (a proxy's 502, a wrong base path's 404, …).
    case http(url: String, status: Int)
    /// A failed `subsonic-response`: 40 wrong user name or password, 41 token authentication not supported
    /// for this user (e.g. LDAP), 70 not found, ….
    case failed(code: Int, message: String)
    /// The body was not a `subsonic-response` in JSON.
    case malformed(url: String, reason: String)

    var description: String {
        switch self {
        case .unreachable(let url, let reason):
            "cannot reach the Subsonic server at \(url) (\(reason)); check --subsonic-url and that the server runs"
        case .http(let url, let status):
            "the Subsonic server at \(url) answered HTTP \(status); check --subsonic-url (the address before /rest/)"
        case .failed(40, let message):
            "the Subsonic server refused the user name or password (error 40: \(message)); check --subsonic-user "
                + "and the password"
        case .failed(41, let message):
            "the Subsonic server does not accept token authentication for this user (error 41: \(message))"
        case .failed(let code, let message): "the Subsonic server answered error \(code): \(message)"
        case .malformed(let url, let reason):
            "\(url) did not answer a Subsonic JSON response (\(reason)); is --subsonic-url a Subsonic server?"
        }
    }

    /// Errors that retrying will not cure: the credentials are wrong.
    var isAuthentication: Bool {
        if case .failed(let code, _) = self { return (40...44).contains(code) || code == 50 }
        return false
    }
}

/// The few Subsonic API calls the id mapping needs, with token authentication (`u`, `t` = md5(password +
/// salt), `s` a fresh random salt per request, `v`, `c`, `f=json`), as the Subsonic API 1.13+ and OpenSubsonic
/// specify. A user whose server refuses tokens (error 41, e.g. LDAP accounts) is retried once with the
/// hex-encoded password (`p=enc:…`), which the API defines as the fallback.
struct SubsonicClient: Sendable {
    static let apiVersion = "1.16.1"
    static let clientName = "retrieve"
    let settings: SubsonicSettings

    /// `ping`: succeeds when the server answers and accepts the credentials.
    func ping() async throws { _ = try await call("ping") }

    /// Every song, page by page through `search3` with an empty query (which OpenSubsonic requires servers to
    /// answer with everything). Stops at an empty page — not at a short one, since a server may cap
    /// `songCount` below the page asked for — or at a page that brings no new id (a server that ignores
    /// `songOffset` would otherwise be listed forever).
    func allSongs() async throws -> [SubsonicSong] {
        var songs: [SubsonicSong] = []
        var seen = Set<String>()
        var offset = 0
        while true {
            let body = try await call(
                "search3",
                [
                    ("query", ""), ("artistCount", "0"), ("albumCount", "0"), ("songCount", String(settings.pageSize)),
                    ("songOffset", String(offset)),
                ])
            let result = body["searchResult3"] as? [String: Any] ?? [:]
            let page = (result["song"] as? [[String: Any]] ?? []).compactMap(SubsonicSong.init(child:))
            let fresh = page.filter { seen.insert($0.id).inserted }
            songs += fresh
            if fresh.isEmpty { return songs }
            offset += page.count
        }
    }

    /// `getSong`: the song with this id; `nil` when the server says it has none (error 70).
    func song(id: String) async throws -> SubsonicSong? {
        do {
            return (try await call("getSong", [("id", id)])["song"] as? [String: Any]).flatMap(SubsonicSong.init)
        } catch SubsonicClientError.failed(70, _) {
            return nil
        }
    }

    /// One call; the `subsonic-response` object of a successful answer.
    func call(_ endpoint: String, _ parameters: [(String, String)] = []) async throws -> [String: Any] {
        do {
            return try await call(endpoint, parameters, authentication: Self.tokenAuthentication(settings.password))
        } catch SubsonicClientError.failed(41, _) {
            let hex = settings.password.utf8.map { String(format: "%02x", $0) }.joined()
            return try await call(endpoint, parameters, authentication: [("p", "enc:" + hex)])
        }
    }

    /// `t` and `s` for `password` with a fresh 12-character salt.
    static func tokenAuthentication(_ password: String) -> [(String, String)] {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let salt = String((0..<12).map { _ in alphabet.randomElement()! })
        return [("t", MD5.hex(Array((password + salt).utf8))), ("s", salt)]
    }

    private func call(
        _ endpoint: String, _ parameters: [(String, String)], authentication: [(String, String)]
    ) async throws -> [String: Any] {
        let base =
            settings.url.absoluteString.hasSuffix("/") ? settings.url.absoluteString : settings.url.absoluteString + "/"
        var components = URLComponents(string: base + "rest/\(endpoint).view")!
        let common =
            [("u", settings.user)] + authentication
            + [("v", Self.apiVersion), ("c", Self.clientName), ("f", "json")]
        components.queryItems = (common + parameters).map { URLQueryItem(name: $0.0, value: $0.1) }
        // `+` is legal in a query but many servers read it as a space; a password salt never has one, a path might.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        let url = components.url!
        let shown = base + "rest/\(endpoint)"
        let (data, status) = try await fetch(url, shown: shown)
        guard status == 200 else { throw SubsonicClientError.http(url: shown, status: status) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let response = object["subsonic-response"] as? [String: Any]
        else {
            throw SubsonicClientError.malformed(url: shown, reason: "no subsonic-response object in the body")
        }
        if response["status"] as? String == "ok" { return response }
        let error = response["error"] as? [String: Any] ?? [:]
        throw SubsonicClientError.failed(
            code: error["code"] as? Int ?? 0, message: error["message"] as? String ?? "no message")
    }

    private func fetch(_ url: URL, shown: String) async throws -> (Data, Int) {
        var request = URLRequest(url: url)
        let (seconds, attoseconds) = settings.timeout.components
        request.timeoutInterval = Double(seconds) + Double(attoseconds) / 1e18
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { data, response, error in
                if let error {
                    return continuation.resume(
                        throwing: SubsonicClientError.unreachable(url: shown, reason: error.localizedDescription))
                }
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                continuation.resume(returning: (data ?? Data(), status))
            }.resume()
        }
    }
}
