import Analysis
import ArgumentParser
import Foundation
import Library
import RetrieveCore
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
        guard let executable = OwnExecutable.url else {
            throw CLIError("cannot find this program's own file (/proc/self/exe), which analyses uploads; is /proc mounted?")
        }
        let encoder = try location.loadModel()
        var configuration = ServerConfiguration(
            databasePath: location.databaseName,
            analysis: UploadAnalysisSettings(
                executable: executable, modelPath: location.modelOption.path,
                segmentVersion: IdentificationFrontEnd.version(for: encoder.configuration)))
        configuration.host = host
        configuration.port = port
        configuration.limits.maxUploadBytes = maxUploadMb << 20
        configuration.token = try token ?? tokenFile.map(Self.readToken)
        configuration.subsonic = try subsonic.settings(environment: ProcessInfo.processInfo.environment)
        if let url = location.postgresURL {
            configuration.source = try PostgresLibrarySource(url: url)
        } else {
            try location.requireIndexFile()
        }
        // ArgumentParser calls run() synchronously; the server is async. Block this thread until it returns.
        try Blocking.run { [configuration] in try await RetrieveServer.run(configuration, model: encoder.version) }
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

/// `retrieve analyse-upload` (not in the help): the analysis of one clip uploaded to `retrieve serve`, in a
/// process of its own so that a file that crashes a decoder ends this process and not the server
/// (`UploadAnalyser`). Writes the analysis to --out (`UploadAnalysis.encoded`); exits 3 when the clip cannot be
/// analysed and 4 when the model cannot be loaded or is not the one the server loaded, the reason on stderr.
struct AnalyseUploadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyse-upload", abstract: "Analyse a clip uploaded to `retrieve serve` (used by the server).",
        shouldDisplay: false)

    @Option(help: "The model file the server loaded.")
    var model: String

    @Option(help: "The model's digest as the server loaded it: another file there now is refused.")
    var modelDigest: String

    @Flag(help: "Segment embeddings for identification instead of the clip's embedding and timbre.")
    var identify = false

    @Option(help: "With --identify: pitch offsets in semitones to try besides the clip as it is, comma-separated.")
    var pitchOffsets = ""

    @Option(help: "Where to write the analysis.")
    var out: String

    @Argument(help: "The uploaded clip.")
    var clip: String

    func run() throws {
        let offsets = try pitchOffsets.split(separator: ",").map { text in
            guard let value = Double(text), value.isFinite, abs(value) <= 12 else {
                throw ValidationError("--pitch-offsets: \"\(text)\" is not a number of semitones from -12 to 12")
            }
            return value
        }
        let analyser: EncoderAnalyser
        do {
            let encoder = try ModelFile.load(path: Paths.absolute(model))
            guard encoder.version.digest == modelDigest else {
                throw CLIError(
                    "the model file \(model) has changed since `retrieve serve` loaded it; restart the server to use "
                        + "the new model")
            }
            analyser = try EncoderAnalyser(encoder: encoder, modelPath: model)
        } catch {
            Output.error(String(describing: error))
            throw ExitCode(UploadAnalysisExit.setUp)
        }
        let request: UploadAnalysis.Request = identify ? .identification(pitchOffsets: offsets) : .style
        let analysis: UploadAnalysis
        do {
            analysis = try CrashNote.analysing(clip) { try UploadAnalysis.analyse(request, path: clip, analyser: analyser) }
        } catch {
            Output.error(String(describing: error))
            throw ExitCode(UploadAnalysisExit.notAnalysable)
        }
        try analysis.encoded.write(to: URL(fileURLWithPath: out))
    }
}
