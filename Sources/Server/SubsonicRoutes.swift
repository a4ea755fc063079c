import Foundation
import Hummingbird
import Library
import RetrieveCore
import VectorIndex

/// OpenSubsonic-shaped endpoints of the `sonicSimilarity` extension (version 1): `getSonicSimilarTracks` and
/// `findSonicPath`, plus `ping` and `getOpenSubsonicExtensions` so that clients can discover them.
///
/// Answers are JSON (`f=json`; other formats are refused with Subsonic error 0) in the `subsonic-response`
/// envelope with a top-level `sonicMatch` array of `{entry: Child, similarity}`. Errors are Subsonic failures
/// (HTTP 200): code 10 for a missing parameter, 70 for an unknown song, 0 for anything else; a missing or wrong
/// token is 401.
///
/// Song ids: without `--subsonic-url` they are retrieve's track ids, as strings, and `path` is the indexed
/// (absolute) path. With it (`ids` set) they are the Subsonic server's ids, in requests and answers, and `path`
/// is the server's; indexed tracks the server does not list are left out of answers (a client could not play
/// them), so `findSonicPath` may come back shorter than `count`.
struct SubsonicRoutes {
    let state: LibraryState
    let serverVersion: String
    var ids: SubsonicIDMap? = nil
    var limits = ServerLimits()

    func register(on router: Router<ServerContext>) {
        for suffix in ["", ".view"] {
            router.get("/rest/ping\(suffix)") { request, _ in try await respond(request) { [:] } }
            router.get("/rest/getOpenSubsonicExtensions\(suffix)") { request, _ in
                try await respond(request) {
                    ["openSubsonicExtensions": [["name": "sonicSimilarity", "versions": [1]]]]
                }
            }
            router.get("/rest/getSonicSimilarTracks\(suffix)") { request, _ in
                try await respond(request) { try await similarTracks(QueryParameters(request)) }
            }
            router.get("/rest/findSonicPath\(suffix)") { request, _ in
                try await respond(request) { try await sonicPath(QueryParameters(request)) }
            }
        }
    }

    func respond(_ request: Request, _ body: () async throws -> [String: Any]) async throws -> Response {
        let format = QueryParameters(request).string("f") ?? "json"
        guard format == "json" else {
            throw SubsonicError(code: 0, message: "only f=json is supported, got f=\(format)")
        }
        return Subsonic.success(try await body(), serverVersion: serverVersion)
    }

    /// `id` (required), `count` (default 10): the most similar songs, similarity relative to the query song.
    func similarTracks(_ query: QueryParameters) async throws -> [String: Any] {
        let snapshot = state.snapshot
        let row = try await song(query, "id", in: snapshot)
        let count = try Self.count(query, default: 10)
        let engine = snapshot.engine
        var filters = QueryFilters()
        let known = ids?.current
        if let known { filters.keep = { known.songOfPath[$0.path] != nil } }
        let results = engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: count, filters: filters)
        return ["sonicMatch": results.compactMap { match($0.track, cosine: $0.cosine, known: known) }]
    }

    /// `startSongId`, `endSongId` (required), `count` (default 25, at most `ServerLimits.maxPathTracks` given): a
    /// path from the start song to the end song, each song's similarity relative to the start song.
    func sonicPath(_ query: QueryParameters) async throws -> [String: Any] {
        let snapshot = state.snapshot
        let start = try await song(query, "startSongId", in: snapshot)
        let end = try await song(query, "endSongId", in: snapshot)
        guard start != end else { throw SubsonicError(code: 0, message: "startSongId and endSongId are the same song") }
        let count = try Self.count(query, default: 25)
        let engine = snapshot.engine
        let first = engine.embedding(row: start)
        // The extension requires both ends in the path, so a count of 1 still gives the two; a count beyond the
        // server's most gives that many, as Subsonic servers cap a list's size rather than refuse it.
        let entries = Playlists.path(
            from: start, to: end, count: min(max(2, count), limits.maxPathTracks), in: engine.playlistSource)
        let known = ids?.current
        return [
            "sonicMatch": entries.compactMap {
                match(engine.tracks[$0.row], cosine: first.cosine(engine.embedding(row: $0.row)), known: known)
            }
        ]
    }

    /// One `sonicMatch` entry; with Subsonic ids (`known`), in the server's id, and `nil` for a track the
    /// server does not list.
    func match(_ track: TrackRecord, cosine: Float, known: SubsonicIDMatch?) -> [String: Any]? {
        guard let known else { return Subsonic.match(track, cosine: cosine) }
        guard let song = known.songOfPath[track.path] else { return nil }
        return Subsonic.match(track, cosine: cosine, as: song)
    }

    /// The row of the song parameter `name`: a track id, or with `ids` a Subsonic song id.
    func song(_ query: QueryParameters, _ name: String, in snapshot: LibrarySnapshot) async throws -> Int {
        guard let value = query.string(name), !value.isEmpty else {
            throw SubsonicError(code: 10, message: "required parameter \(name) is missing")
        }
        if let ids {
            do {
                let path = try await ids.indexedPath(
                    ofID: value, indexedPaths: { snapshot.engine.tracks.paths },
                    isIndexed: { snapshot.rowOfPath[$0] != nil })
                if let row = snapshot.rowOfPath[path] { return row }
            } catch let miss as SubsonicIDMap.Miss {
                throw SubsonicError(code: 70, message: "\(name): \(miss.reason)")
            }
            throw SubsonicError(code: 70, message: "\(name): song \(value) is no longer in retrieve's index")
        }
        guard let id = Int64(value), let row = snapshot.row(id: id) else {
            throw SubsonicError(code: 70, message: "song \(value) not found")
        }
        return row
    }

    static func count(_ query: QueryParameters, default value: Int) throws -> Int {
        guard let text = query.string("count") else { return value }
        guard let number = Int(text), (1...1000).contains(number) else {
            throw SubsonicError(code: 0, message: "count must be a whole number from 1 to 1000, got \(text)")
        }
        return number
    }
}

/// The `subsonic-response` envelope and the `Child` shape.
enum Subsonic {
    /// The Subsonic REST API version whose envelope this follows.
    static let apiVersion = "1.16.1"

    static func envelope(_ fields: [String: Any], status: String, serverVersion: String) -> [String: Any] {
        var body: [String: Any] = [
            "status": status, "version": apiVersion, "type": "retrieve", "serverVersion": serverVersion,
            "openSubsonic": true,
        ]
        for (key, value) in fields { body[key] = value }
        return ["subsonic-response": body]
    }

    static func success(_ fields: [String: Any], serverVersion: String) -> Response {
        JSONBody.response(envelope(fields, status: "ok", serverVersion: serverVersion))
    }

    static func failure(_ error: SubsonicError, serverVersion: String = RetrieveServer.version) -> Response {
        JSONBody.response(
            envelope(
                ["error": ["code": error.code, "message": error.message]], status: "failed",
                serverVersion: serverVersion),
            status: error.status)
    }

    static func match(_ track: TrackRecord, cosine: Float, as song: SubsonicSong? = nil) -> [String: Any] {
        var entry = child(track)
        if let song {
            // The Subsonic server's id and path, and the ids its clients show the song with.
            entry["id"] = song.id
            entry["path"] = song.path
            for (key, value) in [
                ("coverArt", song.coverArt), ("albumId", song.albumId), ("artistId", song.artistId),
                ("parent", song.parent),
            ] {
                if let value { entry[key] = value }
            }
        }
        return ["entry": entry, "similarity": TrackJSON.similarity(cosine)]
    }

    /// A song as a Subsonic `Child`: the fields retrieve knows.
    static func child(_ track: TrackRecord) -> [String: Any] {
        let url = URL(fileURLWithPath: track.path)
        let suffix = url.pathExtension.lowercased()
        var child: [String: Any] = [
            "id": String(track.id?.rawValue ?? 0),
            "title": track.title ?? url.deletingPathExtension().lastPathComponent,
            "isDir": false, "isVideo": false, "type": "music",
            "duration": Int(track.duration.rounded()),
            "size": track.size, "suffix": suffix, "contentType": contentType(suffix: suffix),
            "path": track.path, "samplingRate": track.sampleRate, "channelCount": track.channels,
        ]
        if let artist = track.artist { child["artist"] = artist }
        if let album = track.album { child["album"] = album }
        if let genre = track.genre { child["genre"] = genre }
        return child
    }

    static func contentType(suffix: String) -> String {
        switch suffix {
        case "mp3": "audio/mpeg"
        case "flac": "audio/flac"
        case "ogg", "oga": "audio/ogg"
        case "opus": "audio/opus"
        case "wav": "audio/wav"
        case "aif", "aiff": "audio/aiff"
        case "m4a": "audio/mp4"
        default: "application/octet-stream"
        }
    }
}
