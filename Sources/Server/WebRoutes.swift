import Foundation
import Hummingbird
import Library
import NIOCore
import RetrieveCore
import Synchronization

/// The web page at `/` (four static files, no build step) and the audio of indexed tracks it plays,
/// `GET /api/tracks/{id}/audio` with HTTP Range support.
struct WebRoutes {
    let state: LibraryState
    let assets: WebAssets
    let fileIO = FileIO()
    let map = LibraryMap()

    func register(on router: Router<ServerContext>) {
        router.get("/") { _, _ in try assets.response("index.html") }
        for name in WebAssets.names where name != "index.html" {
            router.get("/\(name)") { _, _ in try assets.response(name) }
        }
        router.get("/api/map") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: ResponseBody(byteBuffer: map.body(for: state.snapshot)))
        }
        router.get("/api/tracks/:id/audio") { request, context in
            try await audio(id: context.parameters.get("id") ?? "", range: request.headers[.range], context: context)
        }
        router.head("/api/tracks/:id/audio") { request, context in
            var response = try await audio(
                id: context.parameters.get("id") ?? "", range: request.headers[.range], context: context)
            response.body = ResponseBody()
            return response
        }
    }

    /// The indexed file of track `id`, whole (200) or the one byte range asked for (206); 416 for a range that
    /// starts past the end. Only a track's own indexed path is ever opened: the route takes an id, nothing else.
    func audio(id: String, range: String?, context: ServerContext) async throws -> Response {
        let snapshot = state.snapshot
        let row = try Seeds.row(id: id, field: "id", in: snapshot)
        let path = snapshot.engine.tracks[row].path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let size = (attributes[.size] as? NSNumber)?.intValue
        else {
            throw APIError(
                .notFound, field: "id",
                "track \(id) is indexed but its file \(path) can no longer be read; run `retrieve index --prune`")
        }
        var headers: HTTPFields = [
            .contentType: AudioMediaType.forPath(path), .acceptRanges: "bytes", .cacheControl: "no-cache",
        ]
        switch ByteRange.parse(range, size: size) {
        case .whole:
            headers[.contentLength] = String(size)
            let body = size == 0 ? ResponseBody() : try await fileIO.loadFile(path: path, context: context)
            return Response(status: .ok, headers: headers, body: body)
        case .partial(let bytes):
            headers[.contentLength] = String(bytes.count)
            headers[.contentRange] = "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(size)"
            let body = try await fileIO.loadFile(path: path, range: bytes, context: context)
            return Response(status: .partialContent, headers: headers, body: body)
        case .unsatisfiable:
            var response = ErrorMiddleware<ServerContext>.response(
                APIError(
                    .rangeNotSatisfiable, field: "Range",
                    "the range \(range ?? "") lies outside the file's \(size) bytes"))
            response.headers[.contentRange] = "bytes */\(size)"
            response.headers[.acceptRanges] = "bytes"
            return response
        }
    }
}

/// What a `Range` request header asks of a file of `size` bytes (RFC 9110 §14).
enum ByteRange: Equatable {
    /// No range, or one the server may ignore (another unit, several ranges, malformed): send the whole file.
    case whole
    /// One satisfiable range, clamped to the file.
    case partial(ClosedRange<Int>)
    /// A well-formed single range that selects no byte of the file: answer 416.
    case unsatisfiable

    /// `bytes=FIRST-LAST`, `bytes=FIRST-` or the suffix `bytes=-COUNT`. A header that does not parse is ignored,
    /// as RFC 9110 allows; so is a list of several ranges (one whole body costs less than a multipart one).
    static func parse(_ header: String?, size: Int) -> ByteRange {
        guard let header else { return .whole }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        let digits = { (s: String) in !s.isEmpty && s.count <= 18 && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber)
        }
        if first.isEmpty {
            // Suffix: the last COUNT bytes; zero bytes, or an empty file, cannot be satisfied.
            guard digits(last), let count = Int(last) else { return .whole }
            guard count > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(0, size - count)...(size - 1))
        }
        guard digits(first), let start = Int(first) else { return .whole }
        var end = size - 1
        if !last.isEmpty {
            guard digits(last), let value = Int(last), value >= start else { return .whole }
            end = min(value, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start...end)
    }
}

/// The `Content-Type` of an audio file, by its extension.
enum AudioMediaType {
    static let byExtension = [
        "wav": "audio/wav", "wave": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg",
        "oga": "audio/ogg", "opus": "audio/ogg", "m4a": "audio/mp4", "mp4": "audio/mp4", "aac": "audio/aac",
        "aif": "audio/aiff", "aiff": "audio/aiff", "aifc": "audio/aiff", "webm": "audio/webm", "wma": "audio/x-ms-wma",
    ]

    static func forPath(_ path: String) -> String {
        byExtension[URL(fileURLWithPath: path).pathExtension.lowercased()] ?? "application/octet-stream"
    }
}

/// The page's files, read once at start-up from the first folder that has them all: `RETRIEVE_WEB_ROOT`, the
/// SwiftPM resource bundle beside the executable (`retrieve_Server.resources/Web`, which an installation copies
/// with the binary), or the source tree the binary was built from (`Sources/Server/Web`).
struct WebAssets: Sendable {
    static let names = ["index.html", "app.js", "map.js", "style.css"]
    static let types = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
    ]
    /// File name → contents; empty when no folder had the files (then `/` explains, and the API still works).
    let files: [String: ByteBuffer]
    /// Where the files were read from, for the log.
    let folder: String?

    static func candidates() -> [URL] {
        var folders: [URL] = []
        if let root = ProcessInfo.processInfo.environment["RETRIEVE_WEB_ROOT"], !root.isEmpty {
            folders.append(URL(fileURLWithPath: root))
        }
        if let exe = OwnExecutable.url {
            let dir = exe.deletingLastPathComponent()
            folders.append(dir.appendingPathComponent("retrieve_Server.resources/Web"))
            folders.append(dir.appendingPathComponent("retrieve_Server.resources"))
        }
        folders.append(Bundle.main.bundleURL.appendingPathComponent("retrieve_Server.resources/Web"))
        folders.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Web"))
        return folders
    }

    static func load() -> WebAssets {
        for folder in candidates() {
            var files: [String: ByteBuffer] = [:]
            for name in names {
                guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path)
                else { break }
                files[name] = ByteBuffer(bytes: data)
            }
            if files.count == names.count { return WebAssets(files: files, folder: folder.path) }
        }
        return WebAssets(files: [:], folder: nil)
    }

    func response(_ name: String) throws -> Response {
        guard let buffer = files[name] else {
            throw APIError(
                .notFound, field: nil,
                "the web page's files were not found (looked in "
                    + Self.candidates().map(\.path).joined(separator: ", ")
                    + "); set RETRIEVE_WEB_ROOT to the Sources/Server/Web folder of a checkout. "
                    + "The API works without them"
            )
        }
        let ext = URL(fileURLWithPath: name).pathExtension
        return Response(
            status: .ok,
            headers: [
                .contentType: Self.types[ext] ?? "application/octet-stream", .cacheControl: "no-cache",
                .init("X-Content-Type-Options")!: "nosniff",
                .init("Content-Security-Policy")!:
                    "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; "
                    + "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            ],
            body: ResponseBody(byteBuffer: buffer))
    }
}

/// The library's 2-D map for the page: each track's coordinates on the first two principal components of the
/// loaded embeddings (`PrincipalComponents`, as `retrieve map` plots them), computed once per loaded state.
///
/// `{"count": N, "shown": M, "variance": [share of PC 1, share of PC 2], "points": [[id, x, y], …]}`; beyond
/// `maxPoints` tracks an evenly strided sample of `maxPoints` is fitted and shown.
final class LibraryMap: Sendable {
    static let maxPoints = 100_000
    private let cached = Mutex<(generation: Int, body: ByteBuffer)?>(nil)

    func body(for snapshot: LibrarySnapshot) -> ByteBuffer {
        if let hit = cached.withLock({ $0 }), hit.generation == snapshot.generation { return hit.body }
        let body = ByteBuffer(bytes: Self.json(snapshot))
        cached.withLock { $0 = (snapshot.generation, body) }
        return body
    }

    static func json(_ snapshot: LibrarySnapshot) -> Data {
        let engine = snapshot.engine
        let n = engine.count
        let stride = max(1, (n + maxPoints - 1) / maxPoints)
        let rows = Array(Swift.stride(from: 0, to: n, by: stride))
        var points: [[Any]] = rows.map { [engine.tracks[$0].id?.rawValue ?? -1, 0.0, 0.0] }
        var variance: [Double] = [0, 0]
        let vectors = Matrix(rowArrays: rows.map { engine.embedding(row: $0).values })
        if rows.count >= 2 && vectors.columns >= 2 {
            let pca = PrincipalComponents(fitting: vectors, count: 2)
            let xy = pca.project(vectors)
            for i in rows.indices {
                points[i][1] = (Double(xy[i, 0]) * 10_000).rounded() / 10_000
                points[i][2] = (Double(xy[i, 1]) * 10_000).rounded() / 10_000
            }
            if pca.totalVariance > 0 { variance = pca.variances.map { Double($0 / pca.totalVariance) } }
        }
        let object: [String: Any] = ["count": n, "shown": rows.count, "variance": variance, "points": points]
        return Data(JSONText.bytes(object))
    }
}
