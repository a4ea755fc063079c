import ArgumentParser
import Foundation
import Server
import Synchronization

/// `retrieve serve`: the JSON API and the OpenSubsonic endpoints over a resident index.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Answer similarity queries over HTTP (JSON API and OpenSubsonic endpoints).",
        discussion: """
            Loads the index once and keeps it in memory; commits by `retrieve index` in another process are \
            picked up within a second, without a restart. Listens on 127.0.0.1 unless --host says otherwise; \
            any other address needs --token or --token-file, and clients then send \
            `Authorization: Bearer TOKEN` (every route but /api/health). SIGTERM or Ctrl-C stops it after the \
            requests in flight. The routes are documented in docs/openapi.yaml.
            """)

    @OptionGroup var location: IndexLocationOptions

    @Option(help: "The address to listen on (anything but loopback needs a token).")
    var host = "127.0.0.1"

    @Option(help: "The TCP port (0: any free port, printed at start).")
    var port = 8390

    @Option(help: ArgumentHelp("A token clients must send as `Authorization: Bearer TOKEN`.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Read the token from this file (first line; safer than --token).", valueName: "path"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("The largest audio upload accepted by POST /api/similar/audio, in MB.", valueName: "mb"))
    var maxUploadMb = 50

    func validate() throws {
        try Check.range("--max-upload-mb", maxUploadMb, 1...1024)
        try Check.range("--port", port, 0...65_535)
        guard token == nil || tokenFile == nil else { throw ValidationError("give --token or --token-file, not both") }
        guard token != nil || tokenFile != nil || ServerConfiguration.isLoopback(host) else {
            throw ValidationError(
                "--host \(host) is not a loopback address: pass --token or --token-file so that only clients "
                    + "with the token can ask, or listen on 127.0.0.1")
        }
    }

    func run() throws {
        var configuration = ServerConfiguration(databasePath: location.databasePath)
        configuration.host = host
        configuration.port = port
        configuration.limits.maxUploadBytes = maxUploadMb << 20
        configuration.token = try token ?? tokenFile.map(Self.readToken)
        guard FileManager.default.fileExists(atPath: configuration.databasePath) else {
            throw CLIError("no index at \(configuration.databasePath); run `retrieve index DIR` first, or pass --db")
        }
        let encoder = try location.loadModel()
        // ArgumentParser calls run() synchronously; the server is async. Block this thread until it returns.
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let result = await Result { try await RetrieveServer.run(configuration, encoder: encoder) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        try outcome.withLock { $0! }.get()
    }

    static func readToken(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError("cannot read the token file \(path); check that it exists and is readable")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty else { throw CLIError("the token file \(path) is empty; put the token on its first line") }
        return token
    }
}

extension Result where Failure == any Error {
    /// `Result(catching:)` for an async body.
    init(_ body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
