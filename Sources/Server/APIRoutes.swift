import Analysis
import Foundation
import Hummingbird
import Library
import Logging
import RetrieveCore
import SequenceEncoding
import VectorIndex

/// The JSON API under `/api` (documented in docs/openapi.yaml): health, stats, track search, similar tracks
/// (by id, path, several seeds or an uploaded clip), a path between two tracks, and radio.
struct APIRoutes {
    let state: LibraryState
    let analyser: UploadAnalyser
    let limits: ServerLimits
    var ids: SubsonicIDMap? = nil

    func register(on router: Router<ServerContext>) {
        router.get("/api/health") { _, _ in health() }
        router.get("/api/stats") { _, _ in stats() }
        router.get("/api/tracks") { request, _ in try tracks(QueryParameters(request)) }
        router.get("/api/tracks/:id") { _, context in try track(context.parameters.get("id") ?? "") }
        router.get("/api/similar") { request, _ in try similar(QueryParameters(request)) }
        router.post("/api/similar") { request, context in
            try similar(
                body: try await BodyReader.collect(request, limit: context.maxUploadSize, timeout: limits.bodyTimeout))
        }
        router.post("/api/similar/audio") { request, _ in try await similarAudio(request) }
        router.get("/api/path") { request, _ in try path(QueryParameters(request)) }
        router.get("/api/radio") { request, _ in try radio(QueryParameters(request)) }
    }

    // MARK: Handlers

    func health() -> Response {
        let snapshot = state.snapshot
        return JSONBody.response(["status": "ok", "tracks": snapshot.engine.count, "generation": snapshot.generation])
    }

    func stats() -> Response {
        let snapshot = state.snapshot
        let reload = state.reloadStatus
        var body: [String: Any] = [
            "tracks": snapshot.engine.count,
            "database": state.databaseName,
            "model": ["name": state.model.name, "digest": state.model.digest, "dimensions": state.model.dimensions],
            "generation": snapshot.generation,
            "loadedAt": ISO8601DateFormatter().string(from: snapshot.loadedAt),
            "reloads": reload.reloads,
            "lastReloadError": reload.lastError ?? NSNull(),
        ]
        if let statistics = snapshot.statistics {
            body["indexedTracks"] = statistics.trackCount
            body["failures"] = statistics.failureCount
            body["totalDuration"] = statistics.totalDuration
            body["databaseBytes"] = statistics.databaseBytes
        }
        if let ids { body["subsonic"] = ids.statistics }
        return JSONBody.response(body)
    }

    func tracks(_ query: QueryParameters) throws -> Response {
        let limit = try query.int("limit", default: 50, in: 1...1000)
        let offset = try query.int("offset", default: 0, in: 0...Int(Int32.max))
        let phrase = TrackSearch.Phrase(
            (query.string("q") ?? "").lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " "))
        let snapshot = state.snapshot
        var matches: [Int] = []
        let tracks = snapshot.engine.tracks
        for row in tracks.indices where phrase.bytes.isEmpty || TrackSearch.matches(tracks, row: row, phrase) {
            matches.append(row)
        }
        let page = matches.dropFirst(offset).prefix(limit)
        return JSONBody.response([
            "total": matches.count, "offset": offset, "limit": limit,
            "tracks": page.map { TrackJSON.object(snapshot.engine.tracks[$0]) },
        ])
    }

    func track(_ id: String) throws -> Response {
        let snapshot = state.snapshot
        guard let number = Int64(id) else {
            throw APIError.invalid("id", "id must be a track id (a whole number), got \"\(id)\"")
        }
        guard let row = snapshot.row(id: number) else { throw APIError.unknownTrack("id", id) }
        return JSONBody.response(TrackJSON.object(snapshot.engine.tracks[row]))
    }

    func similar(_ query: QueryParameters) throws -> Response {
        let snapshot = state.snapshot
        let id = query.string("id"), path = query.string("path")
        let row: Int
        switch (id, path) {
        case (let id?, nil): row = try Seeds.row(id: id, field: "id", in: snapshot)
        case (nil, let path?): row = try Seeds.row(path: path, field: "path", in: snapshot)
        case (nil, nil): throw APIError.missing("id", "give the seed as id=TRACK_ID or path=INDEXED_PATH")
        case (_?, _?): throw APIError.invalid("path", "give id or path, not both")
        }
        let k = try query.int("k", default: 10, in: 1...limits.maxResults)
        let filters = try Seeds.filters(query)
        let engine = snapshot.engine
        let results = engine.similar(to: [engine.embedding(row: row)], seedRows: [row], k: k, filters: filters)
        return JSONBody.response([
            "seeds": [TrackJSON.object(engine.tracks[row])], "results": results.map(TrackJSON.result),
        ])
    }

    /// The body of `POST /api/similar`: "more like these".
    struct SimilarRequest: Decodable {
        /// Numbers, checked to be whole by the handler (a decoding error would not name the field).
        var ids: [Double]?
        var paths: [String]?
        var k: Int?
        var excludeSameArtist: Bool?
        var excludeSameAlbum: Bool?
        var under: [String]?
        var dedupe: Bool?
        var dedupeThreshold: Float?
        static let fields = [
            "ids", "paths", "k", "excludeSameArtist", "excludeSameAlbum", "under", "dedupe",
            "dedupeThreshold",
        ]
    }

    /// `{"ids": [...], "paths": [...], "k": 10, "excludeSameArtist": false, …}`: more like these.
    func similar(body: Data) throws -> Response {
        guard let object = try? JSONSerialization.jsonObject(with: body), let json = object as? [String: Any] else {
            throw APIError.invalid("body", "the body must be a JSON object such as {\"ids\": [1, 2], \"k\": 10}")
        }
        if let unknown = json.keys.sorted().first(where: { !SimilarRequest.fields.contains($0) }) {
            throw APIError.invalid(
                unknown, "unknown field \(unknown); the fields are \(SimilarRequest.fields.joined(separator: ", "))")
        }
        let request: SimilarRequest
        do {
            request = try JSONDecoder().decode(SimilarRequest.self, from: body)
        } catch let DecodingError.typeMismatch(type, context), let DecodingError.valueNotFound(type, context) {
            let field = context.codingPath.first?.stringValue ?? "body"
            throw APIError.invalid(field, "\(field) has a value of the wrong type (expected \(type))")
        } catch let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.first?.stringValue ?? "body"
            throw APIError.invalid(field, "\(field): \(context.debugDescription)")
        }
        let snapshot = state.snapshot
        var rows = try (request.ids ?? []).map { number in
            guard let id = Int64(exactly: number) else {
                throw APIError.invalid("ids", "ids must hold track ids (whole numbers), got \(number)")
            }
            return try Seeds.row(id: String(id), field: "ids", in: snapshot)
        }
        rows += try (request.paths ?? []).map { try Seeds.row(path: $0, field: "paths", in: snapshot) }
        guard !rows.isEmpty else { throw APIError.missing("ids", "give at least one seed in ids (or paths)") }
        guard rows.count <= limits.maxSeeds else {
            throw APIError.invalid("ids", "at most \(limits.maxSeeds) seeds, got \(rows.count)")
        }
        var parameters: [(key: String, value: String)] = (request.under ?? []).map { ("under", $0) }
        if let k = request.k { parameters.append(("k", String(k))) }
        if let v = request.excludeSameArtist { parameters.append(("excludeSameArtist", String(v))) }
        if let v = request.excludeSameAlbum { parameters.append(("excludeSameAlbum", String(v))) }
        if let v = request.dedupe { parameters.append(("dedupe", String(v))) }
        if let v = request.dedupeThreshold { parameters.append(("dedupeThreshold", String(v))) }
        let query = QueryParameters(values: parameters)
        let k = try query.int("k", default: 10, in: 1...limits.maxResults)
        let engine = snapshot.engine
        let results = engine.similar(
            to: rows.map(engine.embedding(row:)), seedRows: rows, k: k, filters: try Seeds.filters(query))
        return JSONBody.response([
            "seeds": rows.map { TrackJSON.object(engine.tracks[$0]) }, "results": results.map(TrackJSON.result),
        ])
    }

    func path(_ query: QueryParameters) throws -> Response {
        let snapshot = state.snapshot
        guard let from = query.string("from") else {
            throw APIError.missing("from", "the first track (id or indexed path)")
        }
        guard let to = query.string("to") else { throw APIError.missing("to", "the last track (id or indexed path)") }
        let start = try Seeds.row(idOrPath: from, field: "from", in: snapshot)
        let end = try Seeds.row(idOrPath: to, field: "to", in: snapshot)
        guard start != end else { throw APIError.invalid("to", "from and to are the same track; a path needs two") }
        let count = try query.int("count", default: 25, in: 2...limits.maxPathTracks)
        let engine = snapshot.engine
        let entries = Playlists.path(from: start, to: end, count: count, in: engine.playlistSource)
        let first = engine.embedding(row: start)
        return JSONBody.response([
            "count": entries.count,
            "tracks": entries.enumerated().map { position, entry -> [String: Any] in
                [
                    "position": position + 1,
                    "similarity": TrackJSON.similarity(first.cosine(engine.embedding(row: entry.row))),
                    "lineCosine": Double(entry.cosine),
                    "track": TrackJSON.object(engine.tracks[entry.row]),
                ]
            },
        ])
    }

    func radio(_ query: QueryParameters) throws -> Response {
        let snapshot = state.snapshot
        let seeds = try query.list("seed").map { try Seeds.row(idOrPath: $0, field: "seed", in: snapshot) }
        guard !seeds.isEmpty else {
            throw APIError.missing("seed", "one or more tracks to continue (seed=ID, repeatable)")
        }
        let recent = try query.list("recent").map { try Seeds.row(idOrPath: $0, field: "recent", in: snapshot) }
        guard seeds.count <= limits.maxSeeds, recent.count <= 10_000 else {
            throw APIError.invalid("seed", "at most \(limits.maxSeeds) seeds and 10000 recent tracks")
        }
        let count = try query.int("count", default: 10, in: 1...limits.maxRadioTracks)
        let gap = try query.int("artistGap", default: 3, in: 0...1000)
        let engine = snapshot.engine
        let entries = Playlists.radio(
            seeds: seeds, count: count, recent: recent, artistGap: gap, in: engine.playlistSource)
        return JSONBody.response([
            "tracks": entries.enumerated().map { position, entry -> [String: Any] in
                [
                    "position": position + 1, "similarity": TrackJSON.similarity(entry.cosine),
                    "track": TrackJSON.object(engine.tracks[entry.row]),
                ]
            }
        ])
    }
}

/// Limits on what one request may ask for or send.
public struct ServerLimits: Sendable {
    /// The largest audio upload (`POST /api/similar/audio`), bytes.
    public var maxUploadBytes = 50 << 20
    /// How long a body may take to arrive.
    public var bodyTimeout: Duration = .seconds(60)
    /// The most results (k, count) one request may ask for.
    public var maxResults = 1000
    /// The most seeds of one "more like these" or radio request.
    public var maxSeeds = 1000
    /// The most tracks one radio request may pick: each pick is a query by the mix (≈ 25 ms of a core), so 1000
    /// would hold a core for half a minute; a client goes on by asking again with the played tracks as `recent`.
    public var maxRadioTracks = 100
    /// The most tracks of one path (`/api/path`; `findSonicPath` gives at most this many): each step scans the
    /// whole library for the track nearest its point, ≈ 3 ms of a core per 10⁵ tracks, so 1000 steps held a core
    /// for 3 s at 10⁵ tracks and about half a minute at 10⁶. The web page asks for at most 200 too.
    public var maxPathTracks = 200
    public init() {}
}

/// Seeds and filters as requests give them.
enum Seeds {
    static func row(id: String, field: String, in snapshot: LibrarySnapshot) throws -> Int {
        guard let number = Int64(id) else {
            throw APIError.invalid(field, "\(field) must be a track id (a whole number), got \"\(id)\"")
        }
        guard let row = snapshot.row(id: number) else { throw APIError.unknownTrack(field, id) }
        return row
    }

    static func row(path: String, field: String, in snapshot: LibrarySnapshot) throws -> Int {
        guard path.hasPrefix("/") else {
            throw APIError.invalid(field, "\(field) must be an absolute indexed path, got \"\(path)\"")
        }
        guard
            let row = snapshot.rowOfPath.row(of: URL(fileURLWithPath: path).standardizedFileURL.path)
                ?? snapshot.rowOfPath.row(of: path)
        else { throw APIError.unknownTrack(field, path) }
        return row
    }

    /// A track id, or an absolute path of an indexed track.
    static func row(idOrPath value: String, field: String, in snapshot: LibrarySnapshot) throws -> Int {
        value.hasPrefix("/")
            ? try row(path: value, field: field, in: snapshot) : try row(id: value, field: field, in: snapshot)
    }

    static func filters(_ query: QueryParameters) throws -> QueryFilters {
        var filters = QueryFilters()
        filters.excludeSameArtist = try query.bool("excludeSameArtist")
        filters.excludeSameAlbum = try query.bool("excludeSameAlbum")
        filters.pathPrefixes = try query.list("under", splitCommas: false).map { folder in
            guard folder.hasPrefix("/") else {
                throw APIError.invalid("under", "under must be an absolute folder path, got \"\(folder)\"")
            }
            return URL(fileURLWithPath: folder).standardizedFileURL.path
        }
        let threshold = try query.float("dedupeThreshold", default: DuplicateRule.defaultSimilarity, in: 0...1)
        filters.dedupe = try query.bool("dedupe") ? DuplicateRule(similarity: threshold) : nil
        return filters
    }
}

extension QueryParameters {
    init(values: [(key: String, value: String)]) { self.values = values }
}

/// How tracks and results look in JSON.
enum TrackJSON {
    /// Similarity in [0, 1] from a cosine in [-1, 1]: `(1 + cosine) / 2`, clamped. 1 is the same recording
    /// (cosine 1), 0.5 unrelated (cosine 0), 0 opposite; the order is the cosine's.
    static func similarity(_ cosine: Float) -> Double {
        min(1, max(0, (1 + Double(cosine)) / 2))
    }

    static func object(_ track: TrackRecord) -> [String: Any] {
        var o = Exporter.jsonObject(track)
        o["format"] = track.format
        o["size"] = track.size
        o["sampleRate"] = track.sampleRate
        o["channels"] = track.channels
        return o
    }

    static func result(_ result: SimilarTrack) -> [String: Any] {
        [
            "rank": result.rank, "score": Double(result.score), "similarity": similarity(result.cosine),
            "cosine": Double(result.cosine),
            "track": object(result.track),
        ]
    }
}
