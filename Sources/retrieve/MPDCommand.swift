import ArgumentParser
import Foundation
import Library
import MPDRadio
import Server
import VectorIndex

/// `retrieve mpd`: a radio for MPD, appending similar tracks to its queue as it plays.
struct MPDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpd",
        abstract: "Keep MPD's queue topped up with tracks like the one playing (MPD radio).",
        discussion: """
            Connects to MPD (--host, else $MPD_HOST, else 127.0.0.1; a host of the form password@host carries \
            the password; a host starting with / is MPD's local socket), reads the current song and appends \
            similar tracks until --count songs are queued after it: no artist of the last --artist-gap songs, \
            no album already queued, nothing in the queue or played this session. Then waits for MPD's player \
            and queue events and tops up again, reconnecting if MPD goes away, until SIGTERM or Ctrl-C. \
            --once appends and exits. Only indexed tracks under MPD's music directory (--music-root; over a \
            local socket MPD is asked) are sent. Each next track is the best for the queue's songs and the last \
            one by the mix `retrieve similar` ranks with (--timbre-weight, --neighbour-weight; with \
            --timbre-weight 0, or a model without timbre, the embedding's cosine).
            """)

    @OptionGroup var location: IndexLocationOptions

    @Option(
        help: ArgumentHelp("MPD's host or local socket path (default: $MPD_HOST, else 127.0.0.1).", valueName: "host"))
    var host: String?

    @Option(help: ArgumentHelp("MPD's TCP port (default: $MPD_PORT, else 6600).", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("MPD's password (default: from $MPD_HOST's password@host form).", valueName: "password"))
    var password: String?

    @Option(
        help: ArgumentHelp(
            "MPD's music_directory as the index sees it (default: asked from MPD over a local socket).",
            valueName: "dir"))
    var musicRoot: String?

    @Option(help: "Songs to keep queued after the current one.")
    var count = 5

    @Option(help: "No artist of the last this many songs is picked.")
    var artistGap = 3

    @OptionGroup var ranking: RankingOptions

    @Flag(help: "Append once and exit instead of following MPD.")
    var once = false

    func validate() throws {
        try Check.range("--port", port, 1...65_535)
        try Check.range("--count", count, 1...1000)
        try Check.range("--artist-gap", artistGap, 1...1000)
        if let musicRoot, musicRoot.isEmpty { throw ValidationError("--music-root must name a folder") }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let (address, resolvedPassword) = MPDAddress.resolve(
            host: host, port: port, password: password, environment: environment)
        if !address.isLocal && musicRoot == nil {
            throw CLIError(
                "--music-root is needed over TCP (MPD tells its music directory only over a local socket): pass "
                    + "MPD's music_directory, e.g. --music-root ~/Music")
        }
        // The index as `retrieve serve` reads it: an SQLite file or PostgreSQL, one committed state per load.
        let postgres = try location.postgresURL.map { try PostgresLibrarySource(url: $0) }
        defer { postgres?.close() }
        let library: any LibrarySource
        if let postgres {
            library = postgres
        } else {
            try location.requireIndexFile()
            library = try SQLiteLibrarySource(path: location.databasePath)
        }
        let encoder = try location.loadModel()
        let engine = try library.load(model: encoder.version).engine
        ranking.apply(to: engine)
        var settings = RadioStation.Settings(address: address, password: resolvedPassword, musicRoot: musicRoot)
        settings.keepAhead = count
        settings.artistGap = artistGap
        let interrupt = InterruptFlag()
        // Tracks indexed (or removed) while the radio runs are picked up at the next song change.
        let reload: () throws -> PlaylistSource? = { [ranking] in
            guard try Blocking.run({ try await library.hasChanged() }) else { return nil }
            let engine = try library.load(model: encoder.version).engine
            ranking.apply(to: engine)
            return engine.playlistSource
        }
        let station = RadioStation(
            settings: settings, source: engine.playlistSource, stop: interrupt.stop, reload: reload
        ) { Self.say($0.escapingControlCharacters) }
        if once {
            let added = try station.runOnce()
            Self.say("appended \(added.count) track(s) to MPD's queue at \(address)")
            return
        }
        interrupt.catchInterrupts {}
        Self.say("following MPD at \(address); Ctrl-C stops")
        try station.follow()
        Self.say("stopped")
    }

    /// One line to standard output at once (unbuffered: a service log or a pipe sees it as it happens).
    static func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
}
