import Foundation
public import RetrieveCore
public import SimilaritySearch
public import VectorIndex

/// The tracks and vectors a playlist is drawn from: row `i` of `vectors` is `tracks[i]` (unit vectors, so a dot
/// product is a cosine).
public struct PlaylistSource: Sendable {
    public let tracks: TrackTable
    public let vectors: VectorCollection
    /// Chooses each next track of `Playlists.radio`; nil takes the eligible track with the highest cosine to the
    /// step's target. A query engine's source (`QueryEngine.playlistSource`) ranks as "more like this" does.
    public let radioRanker: RadioRanker?

    public init(tracks: TrackTable, vectors: VectorCollection, radioRanker: RadioRanker? = nil) {
        precondition(tracks.count == vectors.count, "one track per vector row")
        self.tracks = tracks
        self.vectors = vectors
        self.radioRanker = radioRanker
    }

    /// A source of `tracks` as records (kept as a `TrackTable`).
    public init(tracks: [TrackRecord], vectors: VectorCollection) {
        self.init(tracks: TrackTable(tracks), vectors: vectors)
    }
}

/// One step of `Playlists.radio`, as a `RadioRanker` sees it.
public struct RadioStep {
    /// The direction the step aims at: `c + last` (see `Playlists.radio`), not normalised.
    public let target: [Float]
    /// The radio's seeds (the anchor `c` is their unit mean).
    public let seeds: [Int]
    /// The list's last track (the last seed, then the last pick).
    public let last: Int
    /// Whether a row may be picked (the radio's rules: not played, not picked, artist and album rules).
    public let eligible: (Int) -> Bool

    public init(target: [Float], seeds: [Int], last: Int, eligible: @escaping (Int) -> Bool) {
        self.target = target
        self.seeds = seeds
        self.last = last
        self.eligible = eligible
    }
}

/// Picks a radio step's next track: an eligible row, or nil when none is.
public typealias RadioRanker = @Sendable (RadioStep) -> Int?

/// One track of a playlist: its row in the `PlaylistSource` and its cosine with the point the step aimed at.
public struct PlaylistEntry: Sendable, Equatable {
    public let row: Int
    /// Cosine with the step's target (see `Playlists.path` and `Playlists.radio`), in [-1, 1].
    public let cosine: Float
}

/// Playlists drawn from the embedding space: a path between two tracks and a diverse radio continuation.
///
/// One implementation for every client (the HTTP server, later the MPD client). Artist and album names are
/// compared case-insensitively with surrounding spaces trimmed; a track without an artist (album) never
/// conflicts with another on artist (album). A copy of a track (same content hash) counts as that track.
public enum Playlists {
    /// A playlist of up to `count` tracks that starts at `start`, ends at `end`, and in between follows the
    /// straight line between their embeddings.
    ///
    /// Step `i` of `count − 1` aims at the point `(1 − t)·a + t·b`, `t = i / (count − 1)`, and takes the track
    /// with the highest cosine to it among those not yet in the playlist (nor copies of them, nor `end`) whose
    /// artist differs from the previous track's — and, for the last step before `end`, from `end`'s. A step
    /// with no such track is skipped, so a small collection gives a shorter path; `start` and `end` are always
    /// there (the one exception to "no same artist twice": `count` = 2 with both by one artist).
    ///
    /// `cosine` of an entry is its cosine with its step's target (1 for `start` and `end` themselves).
    ///
    /// - Precondition: `count` ≥ 2 and `start`, `end` valid rows.
    /// - Complexity: O(count × n × d) for n tracks of d dimensions (one scan per step).
    public static func path(from start: Int, to end: Int, count: Int, in source: PlaylistSource) -> [PlaylistEntry] {
        precondition(count >= 2, "a path has at least its two ends")
        let a = source.vectors.vector(at: start), b = source.vectors.vector(at: end)
        var used = Set([start, end])
        var usedHashes = Set([source.tracks[start].contentHash, source.tracks[end].contentHash].filter { !$0.isEmpty })
        let endArtist = artistKey(source.tracks[end])
        var result = [PlaylistEntry(row: start, cosine: 1)]
        var previousArtist = artistKey(source.tracks[start])
        for step in 1..<(count - 1) {
            let t = Float(step) / Float(count - 1)
            let target = zip(a, b).map { (1 - t) * $0 + t * $1 }
            let isLast = step == count - 2
            let best = source.vectors.nearest(to: target, k: 1) { row in
                if used.contains(row) { return false }
                let track = source.tracks[row]
                if !track.contentHash.isEmpty && usedHashes.contains(track.contentHash) { return false }
                let artist = artistKey(track)
                if artist != nil && (artist == previousArtist || (isLast && artist == endArtist)) { return false }
                return true
            }.first
            guard let best else { continue }
            used.insert(best.index)
            let track = source.tracks[best.index]
            if !track.contentHash.isEmpty { usedHashes.insert(track.contentHash) }
            previousArtist = artistKey(track)
            result.append(PlaylistEntry(row: best.index, cosine: best.score / norm(target)))
        }
        result.append(PlaylistEntry(row: end, cosine: 1))
        return result
    }

    /// Up to `count` tracks that continue `seeds` (oldest first) like a radio station: similar, but varied.
    ///
    /// Each next track is the one with the highest cosine to `c + last`, where `c` is the unit mean of the seeds'
    /// embeddings and `last` the embedding of the list's last track (the last seed, then the last pick): the
    /// station follows the list as it drifts and stays anchored to the seeds. With the source's `radioRanker`
    /// it is the one that ranker picks for that step (a query engine's: the best by the mix of cosine and timbre,
    /// `QueryEngine.radioNext`). Candidates are never a seed, a
    /// track of `recent` (recently played), a track already picked, or a copy of one; their artist must not be
    /// among the artists of the last `artistGap` tracks of `recent + seeds + picks`; their album must not be
    /// the album of a seed or of a pick; and `include`, when given, must accept their row (the MPD radio passes
    /// "under the music root, known to MPD"). When no track passes, the list ends early.
    ///
    /// `cosine` of an entry is its cosine with its step's target `c + last`.
    ///
    /// - Precondition: `seeds` is not empty; every row is valid.
    /// - Complexity: O(count × n × d) for n tracks of d dimensions; with a ranker, `count` of its steps.
    public static func radio(
        seeds: [Int], count: Int, recent: [Int] = [], artistGap: Int = 3, in source: PlaylistSource,
        where include: ((Int) -> Bool)? = nil
    ) -> [PlaylistEntry] {
        precondition(!seeds.isEmpty, "a radio needs at least one seed")
        let dimensions = source.vectors.dimensions
        var centre = [Float](repeating: 0, count: dimensions)
        for row in seeds { for (j, v) in source.vectors.vector(at: row).enumerated() { centre[j] += v } }
        let centreNorm = norm(centre)
        if centreNorm > 0 { centre = centre.map { $0 / centreNorm } }

        var history = recent + seeds
        var used = Set(history)
        var usedHashes = Set(history.map { source.tracks[$0].contentHash }.filter { !$0.isEmpty })
        var albums = Set(seeds.compactMap { albumKey(source.tracks[$0]) })
        var result: [PlaylistEntry] = []
        while result.count < count {
            let last = source.vectors.vector(at: history.last!)
            let target = zip(centre, last).map { $0 + $1 }
            let blocked = Set(history.suffix(max(0, artistGap)).compactMap { artistKey(source.tracks[$0]) })
            // Used within this step only (the sets change after it).
            let eligible = { (row: Int) -> Bool in
                if used.contains(row) { return false }
                if let include, !include(row) { return false }
                let track = source.tracks[row]
                if !track.contentHash.isEmpty && usedHashes.contains(track.contentHash) { return false }
                if let artist = artistKey(track), blocked.contains(artist) { return false }
                if let album = albumKey(track), albums.contains(album) { return false }
                return true
            }
            let best: Neighbour?
            if let ranker = source.radioRanker {
                best = ranker(RadioStep(target: target, seeds: seeds, last: history.last!, eligible: eligible)).map {
                    precondition(eligible($0), "a radio ranker picked row \($0), which the radio's rules exclude")
                    let v = source.vectors.vector(at: $0)
                    return Neighbour(index: $0, score: zip(v, target).reduce(0) { $0 + $1.0 * $1.1 })
                }
            } else {
                best = source.vectors.nearest(to: target, k: 1, where: eligible).first
            }
            guard let best else { break }
            let track = source.tracks[best.index]
            used.insert(best.index)
            if !track.contentHash.isEmpty { usedHashes.insert(track.contentHash) }
            if let album = albumKey(track) { albums.insert(album) }
            history.append(best.index)
            result.append(PlaylistEntry(row: best.index, cosine: best.score / norm(target)))
        }
        return result
    }

    /// The artist as compared by the diversity rules: trimmed, lower case; `nil` when absent or empty.
    public static func artistKey(_ track: TrackRecord) -> String? { key(track.artist) }

    /// The album as compared by the diversity rules: trimmed, lower case; `nil` when absent or empty.
    public static func albumKey(_ track: TrackRecord) -> String? { key(track.album) }

    private static func key(_ value: String?) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces).lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Euclidean norm; a zero vector gives 1, so a cosine with it reads as the raw dot product (0).
    private static func norm(_ v: [Float]) -> Float {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return n > 0 ? n : 1
    }
}
