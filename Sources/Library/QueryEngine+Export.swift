import Foundation
public import RetrieveCore
import SimilaritySearch

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
    /// The records of each block's seeds and neighbours are read together before `body` sees them, and the
    /// previous block's are dropped, so with `.onDemand` loading memory holds one block of records.
    ///
    /// - Parameters:
    ///   - k: neighbours per seed.
    ///   - rows: the seeds; nil for every track.
    ///   - startingAt: how many seeds a previous, interrupted run already wrote (a multiple of `exportBlock`):
    ///     they are skipped, and every later seed gets exactly the neighbours of a full run.
    ///   - threads: threads for the all-pairs scan (see `VectorCollection.allNearest`).
    ///   - body: called for each seed row with its neighbours, best first.
    ///   - afterBlock: called after each block with the number of seeds done so far.
    /// - Throws: what `body` or `afterBlock` throw, and `IndexError` when records cannot be read.
    public func forEachTrack(
        k: Int, rows: [Int]? = nil, startingAt: Int = 0, threads: Int = 1,
        _ body: (Int, [SimilarTrack]) throws -> Void, afterBlock: ((Int) throws -> Void)? = nil
    ) throws {
        precondition(startingAt % Self.exportBlock == 0, "resume at a block boundary")
        let groups = try copyGroups()
        var pending: [(row: Int, neighbours: [Neighbour])] = []
        var done = startingAt
        func flush() throws {
            try catalog.prefetch(rows: pending.flatMap { [$0.row] + $0.neighbours.map(\.index) }, keepingOnly: true)
            for (row, neighbours) in pending {
                try body(
                    row,
                    neighbours.enumerated().map {
                        SimilarTrack(rank: $0 + 1, score: $1.score, track: catalog[$1.index])
                    })
            }
            done += pending.count
            pending.removeAll(keepingCapacity: true)
            try afterBlock?(done)
        }
        if let rows {
            // Seeds in blocks, so one sgemm scores a block and memory stays bounded for long seed lists.
            for start in stride(from: startingAt, to: rows.count, by: Self.exportBlock) {
                let block = Array(rows[start..<min(rows.count, start + Self.exportBlock)])
                var queries = Matrix(rows: 0, columns: collection.dimensions)
                for r in block { queries.appendRow(collection.vector(at: r)) }
                let answers = collection.nearest(toEach: queries, k: k) { q, candidate in
                    groups.map { !Self.isSelfOrCopy(candidate, of: block[q], groups: $0) } ?? (candidate != block[q])
                }
                pending = zip(block, answers).map { ($0, $1) }
                try flush()
            }
        } else {
            // The filter runs for every pair of the scan: pass none when no track has a copy.
            let include: ((Int, Int) -> Bool)? = groups.map { g in { !Self.isSelfOrCopy($1, of: $0, groups: g) } }
            try collection.allNearest(
                k: k, excludingSelf: true, blockRows: Self.exportBlock, startRow: startingAt, threads: threads,
                where: include
            ) { row, neighbours in
                pending.append((row, neighbours))
                if pending.count == Self.exportBlock || row == count - 1 { try flush() }
            }
        }
    }

    /// A fingerprint of what an export of this engine writes: the ids and vector bits of every row (FNV-1a), the
    /// number of tracks, and the newest track update (a move, a re-analysis). A resumed export continues only
    /// when it is unchanged.
    ///
    /// - Complexity: one pass over the vectors (about 0.5 s per 10⁶ × 128).
    public func exportFingerprint() throws -> String {
        var hash = ContentHash.FNV1a64()
        catalog.ids.map(\.rawValue).withUnsafeBytes { hash.add($0) }
        collection.vectors.storage.withUnsafeBytes { hash.add($0) }
        let stamp = try view.updateStamp()
        return String(format: "%016llx-%d-%.6f", hash.value, stamp.tracks, stamp.newestUpdate)
    }
}
