import Foundation
import Logging
import RetrieveCore
import Synchronization

/// The live mapping between a Subsonic server's song ids and the indexed tracks (`--subsonic-url`), so that
/// `getSonicSimilarTracks` and `findSonicPath` take and give the Subsonic server's ids.
///
/// The server's songs are listed at start (`search3`, page by page) and matched by path (`SubsonicIDMatch`).
/// The listing is matched again against every reloaded index, and listed again when the index reloads or an
/// unknown id is asked for, at most once per `relistInterval`; an unknown id is also asked for alone
/// (`getSong`), at most once per `relistInterval` per id, so a new song resolves at once. A server that cannot
/// be reached at start is retried every `relistInterval`; wrong credentials stop the start instead.
final class SubsonicIDMap: Sendable {
    let settings: SubsonicSettings
    private let client: SubsonicClient
    private let logger: Logger
    private let state = Mutex(Listing())

    struct Listing: Sendable {
        var songs: [SubsonicSong] = []
        /// Songs that `getSong` found after the last listing.
        var extra: [SubsonicSong] = []
        var match = SubsonicIDMatch(songs: [], indexedPaths: [], root: nil)
        var listedAt: Date?
        var lastAttempt: ContinuousClock.Instant?
        var lastError: String?
        /// Ids that could not be resolved, when and why: not asked again within `relistInterval`.
        var misses: [String: (at: ContinuousClock.Instant, reason: String)] = [:]
    }

    /// An id that maps to no indexed track, and why.
    struct Miss: Error {
        let reason: String
    }

    init(settings: SubsonicSettings, logger: Logger) {
        self.settings = settings
        client = SubsonicClient(settings: settings)
        self.logger = logger
    }

    private var root: MusicRoot? { settings.musicRoot.map(MusicRoot.init) }

    /// The first listing. Throws `SubsonicClientError` for wrong credentials (they will not cure themselves);
    /// any other failure is logged and kept for `/api/stats`, and the server starts with an empty map.
    func start(indexedPaths: [String]) async throws {
        do {
            try await client.ping()
        } catch let error as SubsonicClientError where error.isAuthentication {
            throw error
        } catch {
            record(error)
            logger.warning("subsonic server not reachable; ids unmapped until it is: \(error)")
            return
        }
        try await relist(indexedPaths: indexedPaths)
    }

    /// Lists every song again and matches them against `indexedPaths`; logs the outcome. Returns whether the
    /// listing succeeded (a failure keeps the previous listing).
    @discardableResult
    func relist(indexedPaths: [String]) async throws -> Bool {
        state.withLock { $0.lastAttempt = .now }
        let songs: [SubsonicSong]
        do {
            songs = try await client.allSongs()
        } catch let error as SubsonicClientError where error.isAuthentication {
            record(error)
            throw error
        } catch {
            record(error)
            logger.warning("subsonic listing failed; keeping the previous id map: \(error)")
            return false
        }
        let match = SubsonicIDMatch(songs: songs, indexedPaths: indexedPaths, root: root)
        state.withLock {
            $0.songs = songs
            $0.extra = []
            $0.match = match
            $0.listedAt = Date()
            $0.lastError = nil
            $0.misses = [:]
        }
        log(match)
        return true
    }

    /// After an index reload: matches the listing against the new tracks, and lists again when the last
    /// listing is older than `relistInterval`.
    func indexReloaded(indexedPaths: [String]) async {
        if claimRelist(), (try? await relist(indexedPaths: indexedPaths)) == true { return }
        let match = state.withLock { listing in
            listing.match = SubsonicIDMatch(
                songs: listing.songs + listing.extra, indexedPaths: indexedPaths, root: root)
            return listing.match
        }
        logger.debug("subsonic ids rematched", metadata: ["mapped": "\(match.mapped)"])
    }

    /// Retries the listing while the server has not been listed (it was down at start), until cancelled.
    func retryUntilListed(indexedPaths: @Sendable () -> [String]) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.relistInterval)
            if state.withLock({ $0.listedAt }) != nil { return }
            try? await relist(indexedPaths: indexedPaths())
        }
    }

    /// The indexed path of Subsonic song `id`; throws `Miss` with a sentence naming the id and the reason.
    func indexedPath(
        ofID id: String, indexedPaths: @escaping @Sendable () -> [String], isIndexed: (String) -> Bool
    ) async throws -> String {
        let now = ContinuousClock.now
        let (known, miss) = state.withLock { ($0.match.pathOfID[id], $0.misses[id]) }
        if let known, isIndexed(known) { return known }
        if let miss, now - miss.at < settings.relistInterval { throw Miss(reason: miss.reason) }
        let reason: String
        do {
            if let song = try await client.song(id: id) {
                let root = root ?? state.withLock { $0.match.root }
                if let path = song.path,
                    let match = SubsonicIDMatch.indexedPath(of: path, root: root, isIndexed: isIndexed)
                {
                    let paths = indexedPaths()
                    state.withLock { listing in
                        listing.extra.append(song)
                        listing.match = SubsonicIDMatch(
                            songs: listing.songs + listing.extra, indexedPaths: paths, root: self.root)
                    }
                    return match
                }
                reason =
                    song.path.map {
                        "song \(id) (path \($0)) is not in retrieve's index; index it with `retrieve index`"
                    }
                    ?? "song \(id) has no path on the Subsonic server, so it cannot be matched to an indexed file"
            } else {
                reason = "song \(id) not found: the Subsonic server has no song with this id"
            }
        } catch {
            reason = "song \(id) is not in the id map, and the Subsonic server could not be asked: \(error)"
        }
        state.withLock { listing in
            if listing.misses.count >= 10_000 { listing.misses = [:] }
            listing.misses[id] = (now, reason)
        }
        if claimRelist() {
            Task.detached { [self] in try? await relist(indexedPaths: indexedPaths()) }
        }
        throw Miss(reason: reason)
    }

    /// The current matching, for one request to answer from (one lock, however many tracks it looks up).
    var current: SubsonicIDMatch { state.withLock { $0.match } }

    /// The mapping's state for `/api/stats`.
    var statistics: [String: Any] {
        let listing = state.withLock { $0 }
        let match = listing.match
        return [
            "url": settings.url.absoluteString, "user": settings.user,
            "musicRoot": match.root?.path ?? NSNull(), "musicRootInferred": match.rootInferred,
            "songs": match.listed, "mapped": match.mapped, "unmapped": match.withoutPath + match.unmatched,
            "withoutPath": match.withoutPath, "unmatched": match.unmatched, "indexedWithoutId": match.indexedWithoutID,
            "listedAt": listing.listedAt.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull(),
            "lastError": listing.lastError ?? NSNull(),
        ]
    }

    /// Whether a listing is due (none within `relistInterval`); if so, claims it, so that two requests that
    /// miss at once start one listing, not two.
    private func claimRelist() -> Bool {
        state.withLock { listing in
            let now = ContinuousClock.now
            guard listing.lastAttempt.map({ now - $0 >= settings.relistInterval }) ?? true else { return false }
            listing.lastAttempt = now
            return true
        }
    }

    private func record(_ error: any Error) { state.withLock { $0.lastError = String(describing: error) } }

    private func log(_ match: SubsonicIDMatch) {
        logger.info(
            "subsonic ids mapped",
            metadata: [
                "songs": "\(match.listed)", "mapped": "\(match.mapped)",
                "unmapped": "\(match.withoutPath + match.unmatched)", "withoutPath": "\(match.withoutPath)",
                "unmatched": "\(match.unmatched)", "indexedWithoutId": "\(match.indexedWithoutID)",
                "musicRoot": "\(match.root?.path ?? "none")", "musicRootInferred": "\(match.rootInferred)",
            ])
        if match.listed > 0 && match.mapped == 0 {
            logger.warning(
                """
                no Subsonic song path names an indexed file: Navidrome reports made-up Artist/Album/Title paths \
                unless Report Real Path is on (ND_SUBSONIC_DEFAULTREPORTREALPATH=true, or the player "retrieve" \
                in its settings); otherwise pass --subsonic-music-root, the server's music folder as the index \
                spells it
                """)
        } else if match.withoutPath > 0 {
            logger.warning("\(match.withoutPath) Subsonic songs have no path and cannot be mapped")
        }
    }
}
