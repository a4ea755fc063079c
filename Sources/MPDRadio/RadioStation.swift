import Foundation
public import Library
public import RetrieveCore

/// The MPD radio: reads MPD's queue, appends similar tracks (`RadioPlanner`), and, unless `once`, keeps the
/// queue topped up as songs change, reconnecting with backoff when MPD goes away.
public final class RadioStation {
    /// What the station needs to know, fixed for a run.
    public struct Settings: Sendable {
        public var address: MPDAddress
        public var password: String?
        /// MPD's music directory; `nil`: ask MPD (`config`, local socket only).
        public var musicRoot: String?
        /// Songs to keep queued after the current one.
        public var keepAhead = 5
        public var artistGap = 3
        /// Longest wait between reconnection attempts, in seconds.
        public var maximumBackoff = 30.0

        public init(address: MPDAddress, password: String?, musicRoot: String?) {
            self.address = address
            self.password = password
            self.musicRoot = musicRoot
        }
    }

    private let settings: Settings
    private var source: PlaylistSource
    /// Called before each top-up: a fresh source when the index changed since, else `nil`.
    private let reload: (() throws -> PlaylistSource?)?
    private let stop: StopRequest
    private let log: (String) -> Void
    private var library: RadioLibrary?
    /// This session's played songs (MPD files), oldest first, at most `historyLimit`.
    private var played: [String] = []
    private let historyLimit = 500
    private var lastCurrent: String?
    /// Files MPD refused to add (not in its database): never offered again this session.
    private var excluded = Set<String>()

    /// `reload`, when given, is asked before each top-up for a fresh source (the index changed: tracks added or
    /// removed by `retrieve index` while the radio runs); a failure is logged and the previous source kept.
    public init(
        settings: Settings, source: PlaylistSource, stop: StopRequest,
        reload: (() throws -> PlaylistSource?)? = nil, log: @escaping (String) -> Void
    ) {
        self.settings = settings
        self.source = source
        self.reload = reload
        self.stop = stop
        self.log = log
    }

    /// Connects and tops the queue up once; returns the files appended. Errors: `MPDConnectionError`, `MPDAck`,
    /// `RadioError`.
    public func runOnce() throws -> [String] {
        let connection = try connect()
        return try topUp(connection)
    }

    /// Follows MPD until `stop` is raised: tops up, waits for `idle player playlist`, tops up again. A dropped
    /// connection is retried after 1, 2, 4 … `maximumBackoff` s; the first connection must succeed.
    public func follow() throws {
        var connection: MPDConnection? = try connect()
        var backoff = 1.0
        while !stop.isRaised {
            do {
                if connection == nil {
                    connection = try connect()
                    log("reconnected to MPD at \(settings.address)")
                    backoff = 1
                }
                _ = try topUp(connection!)
                _ = try connection!.idle(["player", "playlist"], stop: stop)
            } catch let error as MPDConnectionError {
                connection = nil
                log("\(error) (retrying in \(Int(backoff)) s)")
                let until = Date().addingTimeInterval(backoff)
                while !stop.isRaised && Date() < until { usleep(100_000) }
                backoff = min(settings.maximumBackoff, backoff * 2)
            }
        }
    }

    private func connect() throws -> MPDConnection {
        let connection = try MPDConnection(settings.address, password: settings.password)
        if library == nil {
            let candidate = RadioLibrary(source: source, root: try musicRoot(connection))
            guard candidate.countUnderRoot > 0 else {
                throw RadioError(
                    "none of the \(source.tracks.count) indexed tracks lies under MPD's music directory "
                        + "\(candidate.root.path); index that folder, or pass the --music-root the index sees")
            }
            library = candidate
        }
        return connection
    }

    private func musicRoot(_ connection: MPDConnection) throws -> MusicRoot {
        if let given = settings.musicRoot { return MusicRoot(given) }
        guard settings.address.isLocal else {
            throw RadioError(
                "MPD tells its music directory only over a local socket; pass --music-root DIR (MPD's "
                    + "music_directory) when connecting over TCP")
        }
        guard let directory = try connection.command("config")["music_directory"] else {
            throw RadioError("MPD did not say its music_directory; pass --music-root DIR")
        }
        return MusicRoot(directory)
    }

    /// Reads the queue, remembers the current song, appends what the planner decides; returns the files added.
    private func topUp(_ connection: MPDConnection) throws -> [String] {
        if let reload, let current = library {
            do {
                if let fresh = try reload() {
                    source = fresh
                    library = RadioLibrary(source: fresh, root: current.root)
                    log("index changed: \(fresh.tracks.count) tracks")
                }
            } catch {
                log("could not reload the index (\(error)); going on with the previous one")
            }
        }
        guard let library else { return [] }
        var added: [String] = []
        for _ in 0..<4 {
            let status = try connection.command("status")
            let songs = try connection.command("playlistinfo").records(startingAt: "file")
            let queue = RadioQueue(files: songs.compactMap { $0["file"] }, current: status["song"].flatMap { Int($0) })
            if let current = queue.current.map({ queue.files[$0] }), current != lastCurrent {
                if let previous = lastCurrent { played.append(previous) }
                if played.count > historyLimit { played.removeFirst(played.count - historyLimit) }
                lastCurrent = current
            }
            let decision = RadioPlanner.decide(
                queue: queue, played: played, keepAhead: settings.keepAhead, artistGap: settings.artistGap,
                excluded: Set(excluded.compactMap(library.row(ofMPDFile:))), library: library)
            switch decision {
            case .full:
                return added
            case .noSeed(let reason):
                log(reason)
                return added
            case .append(let files, let cosines, let seed):
                if files.isEmpty {
                    log(
                        "no indexed track under \(library.root.path) passes the diversity rules after \(seed); nothing appended"
                    )
                    return added
                }
                var refused = false
                log("after \(seed):")
                for (file, cosine) in zip(files, cosines) {
                    do {
                        try connection.command("add", [file])
                        added.append(file)
                        log("  + \(file)  \(String(format: "%.3f", cosine))")
                    } catch let ack as MPDAck where ack.code == MPDAck.noExist {
                        // Indexed, but not in MPD's database (not updated yet, or filtered by MPD): skip it.
                        excluded.insert(file)
                        log("MPD does not know \(file) (\(ack.message)); skipped")
                        refused = true
                    }
                }
                if !refused { return added }
            }
        }
        return added
    }
}

/// The radio cannot start: a missing setting, said with its remedy.
public struct RadioError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
