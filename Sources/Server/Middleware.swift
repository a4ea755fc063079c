import Foundation
import Hummingbird
import Logging

/// The request context of `retrieve serve`: Hummingbird's core storage and the JSON body limit. No globals:
/// the library state and settings reach the handlers through `APIRoutes`/`SubsonicRoutes`, made once.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// JSON bodies (`POST /api/similar`) are small; uploads have their own, larger limit.
    var maxUploadSize: Int { 1 << 20 }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// One structured log line per request: method, path, status and duration, after the response is known.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        let started = ContinuousClock.now
        var status = 500
        defer {
            logger.info(
                "request",
                metadata: [
                    "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
                    "durationMs": "\(LibraryState.milliseconds(ContinuousClock.now - started))",
                ])
        }
        let response = try await next(request, context)
        status = response.status.code
        return response
    }
}

/// Refuses the JSON API's former snake_case query parameters (`exclude_same_artist`, …) with a 400 naming the
/// parameter and its camelCase name, rather than silently ignoring a filter a client thinks it asked for.
struct RenamedParameterMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The names before the API settled on camelCase (the CLI's JSON and OpenSubsonic's convention).
    static var renamed: [String: String] {
        [
            "exclude_same_artist": "excludeSameArtist", "exclude_same_album": "excludeSameAlbum",
            "dedupe_threshold": "dedupeThreshold", "artist_gap": "artistGap",
        ]
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        if request.uri.path.hasPrefix("/api/") {
            for (key, _) in request.uri.queryParameters {
                if let name = Self.renamed[String(key)] {
                    throw APIError.invalid(String(key), "\(key) is now called \(name) (the API's names are camelCase)")
                }
            }
        }
        return try await next(request, context)
    }
}

/// Requires `Authorization: Bearer TOKEN` on every route but `GET /api/health` and the web page's static files,
/// compared in constant time.
///
/// OpenSubsonic clients cannot always set headers, so `/rest/…` routes also accept the token as `apiKey=`
/// (OpenSubsonic's API-key authentication), and `GET /api/tracks/{id}/audio` accepts `token=` (an `<audio>`
/// element cannot set headers).
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        let path = request.uri.path
        // Health, and the page's own static files (they hold no library data; the page then asks for the token).
        if path == "/api/health" || Self.publicPagePaths.contains(path) { return try await next(request, context) }
        let isSubsonic = path.hasPrefix("/rest/")
        var presented: String?
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { presented = String(parts[1]) }
        }
        if presented == nil, isSubsonic, let key = request.uri.queryParameters["apiKey"] {
            presented = String(key)
        }
        // An <audio> element cannot send headers: the audio route alone also takes `token=`.
        if presented == nil, Self.isAudioRoute(path), let key = request.uri.queryParameters["token"] {
            presented = String(key)
        }
        guard let presented, Self.constantTimeEqual(presented, token) else {
            let message =
                presented == nil
                ? "this server needs a token: send the header `Authorization: Bearer TOKEN`"
                : "the token is wrong"
            if isSubsonic {
                throw SubsonicError(code: presented == nil ? 42 : 44, message: message, status: .unauthorized)
            }
            throw APIError(.unauthorized, field: "Authorization", message)
        }
        return try await next(request, context)
    }

    /// The web page's files, served without the token (`WebAssets.names`).
    static var publicPagePaths: Set<String> { Set(["/"] + WebAssets.names.map { "/" + $0 }) }

    /// `/api/tracks/{id}/audio`, the one route that accepts the token as a `token=` query parameter.
    static func isAudioRoute(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 5 && parts[1] == "api" && parts[2] == "tracks" && parts[4] == "audio"
    }

    /// Compares every byte of the longer string whatever the contents, so the time taken does not tell how
    /// much of a guess was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count) | (x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}
