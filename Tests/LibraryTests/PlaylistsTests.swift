import Foundation
import Library
import RetrieveCore
import SimilaritySearch
import Testing
import TestSupport
import VectorIndex

/// `Playlists.path` and `Playlists.radio` against brute force: every cosine computed naively, every rule checked
/// on the result.
@Suite struct PlaylistsTests {
    /// `n` random unit vectors in `d` dimensions, tracks with `artists` artists and `albums` albums (some
    /// without tags), every 17th track a byte-identical copy of the one before it.
    static func source(n: Int, d: Int = 16, artists: Int, albums: Int, seed: UInt64) -> PlaylistSource {
        var rng = SeededGenerator(seed: seed)
        var vectors = Matrix(rows: 0, columns: d)
        var tracks: [TrackRecord] = []
        for i in 0..<n {
            vectors.appendRow(Embedding(normalising: (0..<d).map { _ in rng.nextGaussian() }).values)
            let copy = i % 17 == 16
            tracks.append(
                TrackRecord(
                    id: TrackID(Int64(i + 1)), path: "/music/\(i).flac", size: 1, modificationTime: 0,
                    contentHash: copy ? "h\(i - 1)" : "h\(i)", duration: 60, sampleRate: 22_050, channels: 1,
                    format: "flac", title: "Song \(i)",
                    artist: i % 11 == 5
                        ? nil
                        : (i % 2 == 0
                            ? "Artist \(Int(rng.next() % UInt64(artists)))"
                            : " artist \(Int(rng.next() % UInt64(artists))) "),
                    album: i % 13 == 7 ? "" : "Album \(Int(rng.next() % UInt64(albums)))"))
        }
        return PlaylistSource(tracks: tracks, vectors: VectorCollection(vectors: vectors))
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    static func key(_ s: String?) -> String? {
        let k = s?.trimmingCharacters(in: .whitespaces).lowercased()
        return k?.isEmpty == false ? k : nil
    }

    /// The path as its documentation states it, by scanning every track at every step.
    static func bruteForcePath(from a: Int, to b: Int, count: Int, in s: PlaylistSource) -> [Int] {
        let va = s.vectors.vector(at: a), vb = s.vectors.vector(at: b)
        var path = [a]
        var used: Set<Int> = [a, b]
        var hashes: Set<String> = [s.tracks[a].contentHash, s.tracks[b].contentHash]
        for step in 1..<(count - 1) {
            let t = Float(step) / Float(count - 1)
            let target = zip(va, vb).map { (1 - t) * $0 + t * $1 }
            var best: (Int, Float)?
            for row in 0..<s.tracks.count where !used.contains(row) && !hashes.contains(s.tracks[row].contentHash) {
                let artist = key(s.tracks[row].artist)
                if let artist, artist == key(s.tracks[path.last!].artist) { continue }
                if let artist, step == count - 2, artist == key(s.tracks[b].artist) { continue }
                let score = dot(target, s.vectors.vector(at: row))
                if best == nil || score > best!.1 { best = (row, score) }
            }
            guard let (row, _) = best else { continue }
            path.append(row)
            used.insert(row)
            hashes.insert(s.tracks[row].contentHash)
        }
        return path + [b]
    }

    static func bruteForceRadio(seeds: [Int], count: Int, recent: [Int], gap: Int, in s: PlaylistSource) -> [Int] {
        var centre = [Float](repeating: 0, count: s.vectors.dimensions)
        for r in seeds { for (j, v) in s.vectors.vector(at: r).enumerated() { centre[j] += v } }
        let norm = dot(centre, centre).squareRoot()
        centre = centre.map { $0 / norm }
        var history = recent + seeds
        var picks: [Int] = []
        while picks.count < count {
            let target = zip(centre, s.vectors.vector(at: history.last!)).map { $0 + $1 }
            let blocked = Set(history.suffix(gap).compactMap { key(s.tracks[$0].artist) })
            let albums = Set((seeds + picks).compactMap { key(s.tracks[$0].album) })
            let hashes = Set(history.map { s.tracks[$0].contentHash })
            var best: (Int, Float)?
            for row in 0..<s.tracks.count where !history.contains(row) && !hashes.contains(s.tracks[row].contentHash) {
                if let artist = key(s.tracks[row].artist), blocked.contains(artist) { continue }
                if let album = key(s.tracks[row].album), albums.contains(album) { continue }
                let score = dot(target, s.vectors.vector(at: row))
                if best == nil || score > best!.1 { best = (row, score) }
            }
            guard let (row, _) = best else { break }
            picks.append(row)
            history.append(row)
        }
        return picks
    }

    @Test(arguments: [(2, 1), (5, 2), (12, 3), (25, 4), (60, 5)])
    func pathMatchesBruteForceAndKeepsItsRules(count: Int, seed: UInt64) {
        let s = Self.source(n: 300, artists: 6, albums: 40, seed: seed)
        let (a, b) = (3, 250)
        let path = Playlists.path(from: a, to: b, count: count, in: s)
        #expect(path.map(\.row) == Self.bruteForcePath(from: a, to: b, count: count, in: s))
        #expect(path.count == count)
        #expect(path.first?.row == a && path.last?.row == b)
        #expect(Set(path.map(\.row)).count == path.count)
        #expect(Set(path.map { s.tracks[$0.row].contentHash }).count == path.count, "no copy of a track twice")
        for (x, y) in zip(path.dropLast(), path.dropFirst()) {
            let ax = Self.key(s.tracks[x.row].artist), ay = Self.key(s.tracks[y.row].artist)
            #expect(ax == nil || ax != ay, "same artist twice in a row at \(x.row) → \(y.row)")
        }
        // Each middle track's reported cosine is its cosine with its point of the line.
        let va = s.vectors.vector(at: a), vb = s.vectors.vector(at: b)
        for (i, entry) in path.enumerated() where i > 0 && i < path.count - 1 {
            let t = Float(i) / Float(count - 1)
            let target = zip(va, vb).map { (1 - t) * $0 + t * $1 }
            let expected = Self.dot(target, s.vectors.vector(at: entry.row)) / Self.dot(target, target).squareRoot()
            #expect(abs(entry.cosine - expected) < 1e-4)
        }
    }

    @Test func pathInATinyCollectionIsShorterButComplete() {
        let s = Self.source(n: 6, artists: 3, albums: 3, seed: 9)
        let path = Playlists.path(from: 0, to: 5, count: 25, in: s)
        #expect(path.map(\.row) == Self.bruteForcePath(from: 0, to: 5, count: 25, in: s))
        #expect(path.count <= 6 && path.first?.row == 0 && path.last?.row == 5)
        #expect(Set(path.map(\.row)).count == path.count)
    }

    @Test(arguments: [(1, 0, 1), (10, 3, 2), (30, 3, 3), (50, 5, 4), (10, 0, 5)])
    func radioMatchesBruteForceAndKeepsItsRules(count: Int, gap: Int, seed: UInt64) {
        let s = Self.source(n: 400, artists: 12, albums: 150, seed: seed)
        let seeds = [10, 20], recent = [30, 40, 50]
        let radio = Playlists.radio(seeds: seeds, count: count, recent: recent, artistGap: gap, in: s)
        #expect(radio.map(\.row) == Self.bruteForceRadio(seeds: seeds, count: count, recent: recent, gap: gap, in: s))
        #expect(radio.count == count)
        let rows = radio.map(\.row)
        #expect(Set(rows).count == rows.count && Set(rows).isDisjoint(with: seeds + recent))
        let history = recent + seeds + rows
        for (i, row) in history.enumerated() where i >= recent.count + seeds.count {
            let artist = Self.key(s.tracks[row].artist)
            let window = history[max(0, i - gap)..<i].compactMap { Self.key(s.tracks[$0].artist) }
            #expect(artist == nil || !window.contains(artist!), "artist repeated within \(gap) at \(row)")
        }
        let albums = (seeds + rows).compactMap { Self.key(s.tracks[$0].album) }
        #expect(Set(albums).count == albums.count, "an album repeated")
        #expect(radio.allSatisfy { (-1.0001...1.0001).contains($0.cosine) })
    }

    @Test func radioStopsWhenNothingPassesTheRules() {
        // Two tracks only, both seeds or recent: nothing is left to play.
        let s = Self.source(n: 3, artists: 1, albums: 1, seed: 3)
        #expect(Playlists.radio(seeds: [0], count: 5, recent: [1, 2], in: s).isEmpty)
    }
}
