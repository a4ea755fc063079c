import ArgumentParser
import Foundation
import Server

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

            With --subsonic-url, the OpenSubsonic routes take and give that Subsonic server's (Navidrome's, …) \
            song ids: its songs are listed at start and matched to indexed tracks by path, their paths being \
            relative to its music folder, which --subsonic-music-root names as the index spells it (default: \
            inferred from the paths). Navidrome reports real paths only with Report Real Path on.
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

    @OptionGroup var subsonic: SubsonicOptions

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
        var configuration = ServerConfiguration(databasePath: location.databaseName)
        configuration.host = host
        configuration.port = port
        configuration.limits.maxUploadBytes = maxUploadMb << 20
        configuration.token = try token ?? tokenFile.map(Self.readToken)
        configuration.subsonic = try subsonic.settings(environment: ProcessInfo.processInfo.environment)
        let encoder = try location.loadModel()
        if let url = location.postgresURL {
            configuration.source = try PostgresLibrarySource(url: url)
        } else {
            try location.requireIndexFile()
        }
        // ArgumentParser calls run() synchronously; the server is async. Block this thread until it returns.
        try Blocking.run { [configuration] in try await RetrieveServer.run(configuration, encoder: encoder) }
    }

    static func readToken(_ path: String) throws -> String { try readSecret(path, what: "token") }

    /// The first line of a secret's file (a token, a password), trimmed; an error naming the file otherwise.
    static func readSecret(_ path: String, what: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError("cannot read the \(what) file \(path); check that it exists and is readable")
        }
        let secret = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !secret.isEmpty else {
            throw CLIError("the \(what) file \(path) is empty; put the \(what) on its first line")
        }
        return secret
    }
}

/// `retrieve serve --subsonic-…`: the Subsonic server whose song ids the OpenSubsonic routes speak.
struct SubsonicOptions: ParsableArguments {
    static let passwordVariable = "RETRIEVE_SUBSONIC_PASSWORD"

    @Option(
        help: ArgumentHelp(
            "A Subsonic server (Navidrome, …) whose song ids the /rest routes take and give.", valueName: "url"))
    var subsonicUrl: String?

    @Option(help: ArgumentHelp("The Subsonic user name.", valueName: "user"))
    var subsonicUser: String?

    @Option(
        help: ArgumentHelp(
            "The Subsonic password (visible to other users in `ps`: prefer --subsonic-password-file or "
                + "$RETRIEVE_SUBSONIC_PASSWORD).", valueName: "password"))
    var subsonicPassword: String?

    @Option(help: ArgumentHelp("Read the Subsonic password from this file (first line).", valueName: "path"))
    var subsonicPasswordFile: String?

    @Option(
        help: ArgumentHelp(
            "The Subsonic server's music folder as the index spells it (default: inferred from the paths).",
            valueName: "dir"))
    var subsonicMusicRoot: String?

    @Option(
        help: ArgumentHelp(
            "The least time between two listings of the Subsonic server's songs, and between retries while it is "
                + "down (default: 60).", valueName: "seconds"))
    var subsonicRefreshSeconds: Int?

    func validate() throws {
        try Check.range("--subsonic-refresh-seconds", subsonicRefreshSeconds, 1...86_400)
        guard let subsonicUrl else {
            let given = [subsonicUser, subsonicPassword, subsonicPasswordFile, subsonicMusicRoot].contains { $0 != nil }
            if given || subsonicRefreshSeconds != nil {
                throw ValidationError("the --subsonic-… options need --subsonic-url")
            }
            return
        }
        guard let url = URL(string: subsonicUrl), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
            url.host?.isEmpty == false
        else {
            throw ValidationError(
                "--subsonic-url must be an http or https address such as http://127.0.0.1:4533, got \(subsonicUrl)")
        }
        guard let user = subsonicUser, !user.isEmpty else {
            throw ValidationError("--subsonic-url needs --subsonic-user (the user retrieve signs in as)")
        }
        guard subsonicPassword == nil || subsonicPasswordFile == nil else {
            throw ValidationError("give --subsonic-password or --subsonic-password-file, not both")
        }
        if let root = subsonicMusicRoot, root.isEmpty {
            throw ValidationError("--subsonic-music-root must name a folder")
        }
    }

    /// The settings, the password from the option, its file, or the environment; `nil` without a URL.
    func settings(environment: [String: String]) throws -> SubsonicSettings? {
        guard let subsonicUrl, let url = URL(string: subsonicUrl), let user = subsonicUser else { return nil }
        let password =
            try subsonicPassword ?? subsonicPasswordFile.map { try ServeCommand.readSecret($0, what: "password") }
            ?? environment[Self.passwordVariable]
        guard let password else {
            throw CLIError(
                "--subsonic-url needs the password: --subsonic-password-file FILE, $\(Self.passwordVariable), "
                    + "or --subsonic-password")
        }
        var settings = SubsonicSettings(url: url, user: user, password: password, musicRoot: subsonicMusicRoot)
        if let subsonicRefreshSeconds { settings.relistInterval = .seconds(subsonicRefreshSeconds) }
        return settings
    }
}
