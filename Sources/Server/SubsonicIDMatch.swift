import Foundation
import RetrieveCore

/// One matching of a Subsonic server's songs against the indexed tracks, by path: which Subsonic id is which
/// indexed path, and the counts the log and `/api/stats` report. Pure: made from the two lists, no network.
///
/// A song's `path` is relative to the server's music folder; `root` (given, or inferred) is that folder as the
/// index spells it, so `root/path` is the indexed path. A server that reports absolute paths is matched as
/// well: such a path is tried as an indexed path first, then as relative to the root.
struct SubsonicIDMatch: Sendable {
    /// The music folder used; `nil` when it had to be inferred and no song path matched an indexed one.
    let root: MusicRoot?
    let rootInferred: Bool
    /// Subsonic id → indexed path, for the songs that matched.
    let pathOfID: [String: String]
    /// Indexed path → the Subsonic song (the first listed, when two ids share a path).
    let songOfPath: [String: SubsonicSong]
    /// Songs the server listed.
    let listed: Int
    /// Songs listed without a `path` (the server withholds it).
    let withoutPath: Int
    /// Songs with a path that names no indexed track.
    let unmatched: Int
    /// Indexed tracks no listed song matched: answers leave them out.
    let indexedWithoutID: Int

    var mapped: Int { pathOfID.count }

    init(songs: [SubsonicSong], indexedPaths: [String], root given: MusicRoot?) {
        let indexed = Set(indexedPaths)
        let root = given ?? Self.inferRoot(songs: songs, indexedPaths: indexedPaths)
        var pathOfID: [String: String] = [:]
        var songOfPath: [String: SubsonicSong] = [:]
        var withoutPath = 0, unmatched = 0
        for song in songs {
            guard let path = song.path else {
                withoutPath += 1
                continue
            }
            guard let match = Self.indexedPath(of: path, root: root, isIndexed: indexed.contains) else {
                unmatched += 1
                continue
            }
            pathOfID[song.id] = match
            if songOfPath[match] == nil { songOfPath[match] = song }
        }
        self.root = root
        rootInferred = given == nil
        self.pathOfID = pathOfID
        self.songOfPath = songOfPath
        listed = songs.count
        self.withoutPath = withoutPath
        self.unmatched = unmatched
        indexedWithoutID = indexed.count - songOfPath.count
    }

    /// The indexed path a song path names, if it is indexed.
    static func indexedPath(of path: String, root: MusicRoot?, isIndexed: (String) -> Bool) -> String? {
        if path.hasPrefix("/"), isIndexed(Paths.absolute(path)) { return Paths.absolute(path) }
        let relative = String(path.drop { $0 == "/" })
        guard let candidate = root?.indexedPath(ofRelative: relative), isIndexed(candidate) else { return nil }
        return candidate
    }

    /// The folder under which the most song paths name an indexed track: for each song, every indexed path that
    /// ends in `/` + its path votes for what comes before. This finds the folder whether the Subsonic server
    /// sees the same tree (`/srv/music`) or a mount of it (Navidrome in Docker reads `/music`, the index
    /// `/home/me/Music`). `nil` when no path matched: Navidrome, for one, reports made-up `Artist/Album/Title`
    /// paths unless "Report Real Path" is on.
    ///
    /// - Complexity: O(songs × indexed tracks sharing a file name), about O(songs) for a real library.
    static func inferRoot(songs: [SubsonicSong], indexedPaths: [String]) -> MusicRoot? {
        var byName: [Substring: [String]] = [:]
        for path in indexedPaths {
            byName[path.split(separator: "/").last ?? "", default: []].append(path)
        }
        var votes: [String: Int] = [:]
        for song in songs {
            guard let path = song.path else { continue }
            let relative = String(path.drop { $0 == "/" })
            guard let name = relative.split(separator: "/").last else { continue }
            for candidate in byName[name] ?? [] where candidate.hasSuffix("/" + relative) {
                votes[String(candidate.dropLast(relative.count + 1)), default: 0] += 1
            }
        }
        // Most votes; of equals, the longest folder (the most specific claim).
        guard let best = votes.max(by: { ($0.value, $0.key.count) < ($1.value, $1.key.count) }) else { return nil }
        return MusicRoot(best.key.isEmpty ? "/" : best.key)
    }
}
