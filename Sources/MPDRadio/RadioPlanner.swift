import Foundation
public import Library
public import RetrieveCore

/// The index as the radio sees it: the playlist source, the music root, and which rows lie under it.
public struct RadioLibrary: Sendable {
    public let source: PlaylistSource
    public let root: MusicRoot
    private let rowOfPath: [String: Int]
    /// Rows whose file lies under the music root: the only candidates.
    private let underRoot: [Bool]

    public init(source: PlaylistSource, root: MusicRoot) {
        self.source = source
        self.root = root
        let paths = source.tracks.indices.map(source.tracks.path(at:))
        rowOfPath = Dictionary(paths.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        underRoot = paths.map { root.relativePath(ofIndexed: $0) != nil }
    }

    /// The row of MPD's `file`, when it is indexed.
    public func row(ofMPDFile file: String) -> Int? { root.indexedPath(ofRelative: file).flatMap { rowOfPath[$0] } }

    /// Whether `row` may be sent to MPD (its file lies under the music root).
    public func isUnderRoot(_ row: Int) -> Bool { underRoot[row] }

    /// How many indexed tracks lie under the music root.
    public var countUnderRoot: Int { underRoot.count { $0 } }

    /// MPD's `file` for `row`; `nil` outside the music root.
    public func mpdFile(of row: Int) -> String? { root.relativePath(ofIndexed: source.tracks.path(at: row)) }
}

/// MPD's queue as the radio reads it: the songs' files in queue order and the current song's position.
public struct RadioQueue: Sendable, Equatable {
    public var files: [String]
    /// `status`'s `song`: the current (playing, paused or selected) song; `nil` when there is none.
    public var current: Int?

    public init(files: [String], current: Int?) {
        self.files = files
        self.current = current.flatMap { files.indices.contains($0) ? $0 : nil }
    }

    /// Songs after the current one (the whole queue when there is no current song).
    public var ahead: Int { current.map { files.count - 1 - $0 } ?? files.count }
}

/// What the radio does about a queue.
public enum RadioDecision: Sendable, Equatable {
    /// Enough songs are queued ahead already.
    case full(ahead: Int)
    /// Nothing to go on: the queue holds no indexed song from the current one on (the reason says which).
    case noSeed(reason: String)
    /// Append these (MPD files, in order) after the queue; `seed` is the MPD file the radio continues from
    /// (the last indexed song of the queue). May be empty when no track passes the diversity rules.
    case append(files: [String], cosines: [Float], seed: String)
}

/// The radio's decisions, free of I/O: which songs to append to MPD's queue.
public enum RadioPlanner {
    /// Tops the queue up to `keepAhead` songs after the current one with `Playlists.radio`.
    ///
    /// Seeds are the indexed songs from the current one to the end of the queue, in order (the station
    /// continues the queue as it stands, centred on it); recently played are the indexed songs of `played`
    /// (this session's history, oldest first) and those before the current one in the queue. Candidates are
    /// indexed tracks under the music root, not in `excluded` (MPD said it does not know them), not already in
    /// the queue or the history (nor copies), with the artist and album rules of `Playlists.radio`.
    public static func decide(
        queue: RadioQueue, played: [String] = [], keepAhead: Int, artistGap: Int, excluded: Set<Int> = [],
        library: RadioLibrary
    ) -> RadioDecision {
        let ahead = queue.ahead
        guard ahead < keepAhead else { return .full(ahead: ahead) }
        let from = queue.current ?? 0
        let seedFiles = queue.files.isEmpty ? [] : Array(queue.files[from...])
        let seeds = unique(seedFiles.compactMap(library.row(ofMPDFile:)))
        guard let lastSeed = seeds.last, let seedFile = library.mpdFile(of: lastSeed) else {
            if queue.files.isEmpty {
                return .noSeed(reason: "the queue is empty; add and play a song to seed the radio")
            }
            return .noSeed(
                reason: "no song from the current one on is in the index under \(library.root.path) "
                    + "(index that folder with `retrieve index`, or check --music-root)")
        }
        let seedSet = Set(seeds)
        let history = played + queue.files[..<from]
        let recent = unique(history.compactMap(library.row(ofMPDFile:))).filter { !seedSet.contains($0) }
        let picks = Playlists.radio(
            seeds: seeds, count: keepAhead - ahead, recent: recent, artistGap: artistGap, in: library.source,
            where: { library.isUnderRoot($0) && !excluded.contains($0) })
        return .append(
            files: picks.compactMap { library.mpdFile(of: $0.row) }, cosines: picks.map(\.cosine), seed: seedFile)
    }

    /// `rows` without repeats, first occurrence kept, order kept.
    private static func unique(_ rows: [Int]) -> [Int] {
        var seen = Set<Int>()
        return rows.filter { seen.insert($0).inserted }
    }
}
