import Foundation
public import RetrieveCore
import SimilaritySearch
import Synchronization

// All-against-all recommendations for `Exporter`.
extension QueryEngine {
    /// Seeds per block of an export: one block of the all-pairs scan, and the unit of progress and resumption.
    public static let exportBlock = 512

    /// Whether `candidate` is the track at `row` or a byte-identical copy of it (same content fingerprint): such
    /// tracks are never recommended for it, by `similar` or by an export.
    static func isSelfOrCopy(_ candidate: Int, of row: Int, groups: [Int32]) -> Bool {
        candidate == row || (groups[row] >= 0 && groups[candidate] == groups[row])
    }

    /// Recommendations for every track (or for the seed rows `rows`), streamed in seed order, block by block; a
    /// track's own copies are left out as `similar` leaves them out.
    ///
    /// With `timbreWeight` not 0, each seed with a stored timbre profile is ranked as `search` ranks it alone
    /// (`rankedWithTimbre`: the mix of cosine and timbre, then shared neighbours), its results' scores the mix's;
    /// a block's pools come from one matrix product, and its seeds are ranked on `threads` threads. A seed
    /// without a profile, and every seed with `timbreWeight` 0, is ranked by the cosine — for every track, by
    /// the all-pairs scan, which computes each pair once for both tracks.
    ///
    /// The records of each block's seeds and neighbours are read together before `body` sees them, and the
    /// previous block's are dropped, so with `.onDemand` loading memory holds one block of records.
    ///
    /// - Parameters:
    ///   - k: neighbours per seed.
    ///   - rows: the seeds; nil for every track.
    ///   - startingAt: how many seeds a previous, interrupted run already wrote (a multiple of `exportBlock`):
    ///     they are skipped, and every later seed gets exactly the neighbours of a full run.
    ///   - threads: threads for the all-pairs scan (see `VectorCollection.allNearest`) or the mix.
    ///   - body: called for each seed row with its neighbours, best first.
    ///   - afterBlock: called after each block with the number of seeds done so far.
    /// - Throws: what `body` or `afterBlock` throw, and `IndexError` when records cannot be read.
    public func forEachTrack(
        k: Int, rows: [Int]? = nil, startingAt: Int = 0, threads: Int = 1,
        _ body: (Int, [SimilarTrack]) throws -> Void, afterBlock: ((Int) throws -> Void)? = nil
    ) throws {
        precondition(startingAt % Self.exportBlock == 0, "resume at a block boundary")
        let groups = try copyGroups()
        var pending: [(row: Int, neighbours: [Neighbour], mixed: Bool)] = []
        var done = startingAt
        func flush() throws {
            try catalog.prefetch(rows: pending.flatMap { [$0.row] + $0.neighbours.map(\.index) }, keepingOnly: true)
            for (row, neighbours, mixed) in pending {
                let seed = mixed ? embedding(row: row) : nil
                try body(
                    row,
                    neighbours.enumerated().map { rank, neighbour in
                        SimilarTrack(
                            rank: rank + 1, score: neighbour.score, track: catalog[neighbour.index],
                            cosine: seed?.cosine(embedding(row: neighbour.index)))
                    })
            }
            done += pending.count
            pending.removeAll(keepingCapacity: true)
            try afterBlock?(done)
        }
        if rows != nil || timbreWeight != 0 {
            // Seeds in blocks, so one sgemm scores a block and memory stays bounded for long seed lists.
            let seeds = rows ?? Array(0..<count)
            // The timbre similarities of pairs of tracks, for every later seed that compares them again.
            let pairs = TimbrePairs()
            for start in stride(from: startingAt, to: seeds.count, by: Self.exportBlock) {
                let block = Array(seeds[start..<min(seeds.count, start + Self.exportBlock)])
                pending = neighbours(of: block, k: k, groups: groups, threads: threads, pairs: pairs)
                try flush()
            }
        } else {
            // The filter runs for every pair of the scan: pass none when no track has a copy.
            let include: ((Int, Int) -> Bool)? = groups.map { g in { !Self.isSelfOrCopy($1, of: $0, groups: g) } }
            try collection.allNearest(
                k: k, excludingSelf: true, blockRows: Self.exportBlock, startRow: startingAt, threads: threads,
                where: include
            ) { row, neighbours in
                pending.append((row, neighbours, false))
                if pending.count == Self.exportBlock || row == count - 1 { try flush() }
            }
        }
    }

    /// The `k` neighbours of each seed of `block`, and whether the mix ranked them (see `forEachTrack`); the
    /// timbre similarities it compares are remembered in `pairs`.
    private func neighbours(
        of block: [Int], k: Int, groups: [Int32]?, threads: Int, pairs: TimbrePairs
    ) -> [(row: Int, neighbours: [Neighbour], mixed: Bool)] {
        // The seeds' profiles as `search` reads them: none readable ranks by the cosine.
        let stored =
            timbreWeight == 0
            ? [:] : modelID.flatMap { try? view.timbres(tracks: block.map { catalog.ids[$0] }, model: $0) } ?? [:]
        let profiles = block.map { row in
            stored[catalog.ids[row]].flatMap(TimbreProfile.init(packed:)).flatMap { $0.isEmpty ? nil : $0 }
        }
        // The query `search` makes of one seed.
        let queries = block.map { Embedding.pooled([embedding(row: $0)])!.values }
        var matrix = Matrix(rows: 0, columns: collection.dimensions)
        for q in queries { matrix.appendRow(q) }
        let depth = profiles.contains { $0 != nil } ? timbrePoolSize(k: k) : k
        let pools = collection.nearest(toEach: matrix, k: depth) { q, candidate in
            groups.map { !Self.isSelfOrCopy(candidate, of: block[q], groups: $0) } ?? (candidate != block[q])
        }
        let ranked = Mutex([[Neighbour]?](repeating: nil, count: block.count))
        let queue = WorkDispenser(count: block.count)
        let shared = SharedEngine(engine: self)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, block.count))) { _ in
            while let i = queue.next() {
                guard let profile = profiles[i] else { continue }
                let answer = shared.engine.rankedWithTimbre(
                    pool: pools[i], query: queries[i], timbres: [profile], k: k, seedRows: [block[i]],
                    pairs: (pairs, block[i]))
                ranked.withLock { $0[i] = answer }
            }
        }
        let answers = ranked.withLock { $0 }
        return block.indices.map { i in
            (block[i], answers[i] ?? Array(pools[i].prefix(k)), answers[i] != nil)
        }
    }

    /// A fingerprint of what an export of this engine writes: the ids and vector bits of every row (FNV-1a), the
    /// number of tracks, the newest track update (a move, a re-analysis), and the mix's settings. A resumed
    /// export continues only when it is unchanged.
    ///
    /// - Complexity: one pass over the vectors (about 0.5 s per 10⁶ × 128).
    public func exportFingerprint() throws -> String {
        var hash = ContentHash.FNV1a64()
        catalog.ids.map(\.rawValue).withUnsafeBytes { hash.add($0) }
        collection.vectors.storage.withUnsafeBytes { hash.add($0) }
        let stamp = try view.updateStamp()
        // How the neighbours are ranked is part of what is written (the profiles change with `newestUpdate`).
        let ranking =
            timbreWeight == 0
            ? "" : " timbre=\(timbreWeight) pool=\(timbrePool) neighbours=\(neighbourWeight)"
        return String(format: "%016llx-%d-%.6f", hash.value, stamp.tracks, stamp.newestUpdate) + ranking
    }
}

/// An engine shared by threads that only read it — an export's ranking threads (its vectors resident, its copy
/// groups read before), a radio's ranker — as the server's requests share one engine; the index view serialises
/// its reads.
struct SharedEngine: @unchecked Sendable {
    let engine: QueryEngine
}
