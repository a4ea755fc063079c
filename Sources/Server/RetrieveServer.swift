import Foundation
public import Hummingbird
public import Logging
import NIOCore
public import RetrieveCore
import ServiceLifecycle

/// What `retrieve serve` was asked for: where to listen, what to serve, who may ask.
public struct ServerConfiguration: Sendable {
    /// The address to bind; anything but loopback needs a token.
    public var host = "127.0.0.1"
    /// The TCP port; 0 lets the system choose (the chosen one is printed).
    public var port = 8390
    /// When set, every route but `GET /api/health` needs `Authorization: Bearer TOKEN`.
    public var token: String?
    /// The index file.
    public var databasePath: String
    /// Where the library is read from instead of the file `databasePath` (a PostgreSQL index); made before the
    /// server starts (see `LibrarySource.hasChanged`).
    public var source: (any LibrarySource)?
    /// How often to look for commits by other processes (`PRAGMA data_version`, a change counter).
    public var reloadInterval: Duration = .seconds(1)
    public var limits = ServerLimits()
    /// When set, the OpenSubsonic routes take and give this Subsonic server's song ids (`SubsonicIDMap`).
    public var subsonic: SubsonicSettings?
    /// How uploads are analysed (`POST /api/similar/audio`): each in a child process of this executable.
    public var analysis: UploadAnalysisSettings

    public init(databasePath: String, analysis: UploadAnalysisSettings) {
        self.databasePath = databasePath
        self.analysis = analysis
    }

    /// Whether `host` is a loopback address (127.0.0.0/8, ::1 or localhost), where a token is optional.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

/// A configuration `retrieve serve` refuses before it loads anything.
public struct ServerSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `retrieve serve`: the JSON API and the OpenSubsonic endpoints over one resident, live-reloaded index.
public enum RetrieveServer {
    /// The version reported as `serverVersion` to OpenSubsonic clients.
    public static let version = "0.1.0"

    /// Loads the index, listens, and serves until SIGTERM or SIGINT, then finishes the requests in flight and
    /// returns. Prints `listening on http://HOST:PORT` to standard output once the socket is bound.
    ///
    /// - Throws: `ServerSetupError` for a non-loopback host without a token; the Library's and the index's
    ///   errors when the index cannot be loaded; binding errors.
    public static func run(
        _ configuration: ServerConfiguration, model: ModelVersion, logger: Logger = defaultLogger()
    ) async throws {
        guard configuration.token != nil || ServerConfiguration.isLoopback(configuration.host) else {
            throw ServerSetupError(
                "binding to \(configuration.host) exposes the index beyond this machine; pass --token or --token-file "
                    + "(clients then send `Authorization: Bearer TOKEN`), or bind to 127.0.0.1")
        }
        if let token = configuration.token, token.count < 8 {
            throw ServerSetupError(
                "the token is \(token.count) characters long; use at least 8 (e.g. `openssl rand -hex 16`)")
        }
        let started = ContinuousClock.now
        let source = try configuration.source ?? SQLiteLibrarySource(path: configuration.databasePath)
        let state = try await LibraryState(source: source, model: model, logger: logger)
        logger.info(
            "index loaded",
            metadata: [
                "tracks": "\(state.snapshot.engine.count)", "model": "\(model)",
                "durationMs": "\(LibraryState.milliseconds(ContinuousClock.now - started))",
            ])
        let ids = try await startSubsonicIDs(configuration.subsonic, state: state, logger: logger)
        let router = makeRouter(state: state, model: model, configuration: configuration, ids: ids, logger: logger)
        var services: [any Service] = [ReloadService(state: state, interval: configuration.reloadInterval, ids: ids)]
        if let ids { services.append(SubsonicRetryService(state: state, ids: ids)) }
        let host = configuration.host
        let app = Application(
            router: router,
            server: .http1(
                configuration: .init(additionalChannelHandlers: [ContinueHandler()], idleTimeout: .seconds(120))),
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: "retrieve"),
            services: services,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
                FileHandle.standardOutput.write(Data("retrieve serve: listening on http://\(shown):\(port)\n".utf8))
            },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        logger.info("stopped")
    }

    /// Log lines to standard error, one per event, `key=value` metadata; level from `RETRIEVE_LOG_LEVEL`
    /// (default `info`).
    public static func defaultLogger() -> Logger {
        var logger = Logger(label: "retrieve.serve") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel =
            ProcessInfo.processInfo.environment["RETRIEVE_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        return logger
    }

    /// The Subsonic id map's first listing; `nil` without `--subsonic-url`. Wrong credentials stop the start.
    static func startSubsonicIDs(
        _ settings: SubsonicSettings?, state: LibraryState, logger: Logger
    ) async throws -> SubsonicIDMap? {
        guard let settings else { return nil }
        let ids = SubsonicIDMap(settings: settings, logger: logger)
        do {
            try await ids.start(indexedPaths: state.snapshot.engine.tracks.paths)
        } catch let error as SubsonicClientError {
            throw ServerSetupError(String(describing: error))
        }
        return ids
    }

    static func makeRouter(
        state: LibraryState, model: ModelVersion, configuration: ServerConfiguration,
        ids: SubsonicIDMap? = nil, logger: Logger
    ) -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        // Outermost first: the log line sees the final status, errors become JSON before it, auth runs inside.
        router.middlewares.add(RequestLogMiddleware(logger: logger))
        router.middlewares.add(ErrorMiddleware())
        router.middlewares.add(RenamedParameterMiddleware())
        if let token = configuration.token { router.middlewares.add(BearerAuthMiddleware(token: token)) }
        let analyser = UploadAnalyser(settings: configuration.analysis, model: model)
        APIRoutes(state: state, analyser: analyser, limits: configuration.limits, ids: ids).register(on: router)
        SubsonicRoutes(state: state, serverVersion: version, ids: ids, limits: configuration.limits).register(
            on: router)
        let assets = WebAssets.load()
        if let folder = assets.folder {
            logger.debug("web page files", metadata: ["folder": "\(folder)"])
        } else {
            logger.warning("web page files not found; `/` answers 404 (set RETRIEVE_WEB_ROOT)")
        }
        WebRoutes(state: state, assets: assets).register(on: router)
        return router
    }
}

/// Polls the index for commits by other processes and swaps in a new snapshot after each; stops at shutdown.
struct ReloadService: Service {
    let state: LibraryState
    let interval: Duration
    /// Told of each reload, to match the Subsonic songs against the new tracks.
    let ids: SubsonicIDMap?

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await state.watch(every: interval) { snapshot in
                await ids?.indexReloaded(indexedPaths: snapshot.engine.tracks.paths)
            }
        }
    }
}

/// Lists the Subsonic server's songs again and again while it has never answered (it was down at start).
struct SubsonicRetryService: Service {
    let state: LibraryState
    let ids: SubsonicIDMap

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await ids.retryUntilListed { [state] in state.snapshot.engine.tracks.paths }
        }
        // Then idle until shutdown: a service that returns early makes the ServiceGroup stop the whole server.
        try? await gracefulShutdown()
    }
}
