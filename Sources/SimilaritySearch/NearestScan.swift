/// The exact top k of vectors that arrive block by block: a library streamed from disk a chunk at a time, or a
/// `VectorCollection` in one block (its `nearest(to:k:where:)` is this scan).
///
/// Each block is scored by the scan kernel (`ScanKernel`) 16 384 rows at a time into a small reused buffer and
/// selected while the scores are still in L2; the selection is the bounded heap of `TopKHeaps`, so the result is
/// the same whatever the blocks' sizes: best first, equal scores by ascending row, `include` consulted only for
/// candidates that would enter. Rows are numbered across blocks by the `firstRow` the caller gives.
public final class NearestScan {
    private let query: [Float]
    private let heaps: TopKHeaps
    private let kernel: ScanKernel
    private let include: ((Int) -> Bool)?
    private let scores: UnsafeMutablePointer<Float>

    /// - Parameters:
    ///   - query: the query vector.
    ///   - k: how many neighbours to keep.
    ///   - include: a predicate on the candidate row (pure), or nil to keep every candidate.
    public convenience init(query: [Float], k: Int, where include: ((Int) -> Bool)? = nil) {
        self.init(query: query, k: k, kernel: .automatic, where: include)
    }

    init(query: [Float], k: Int, kernel: ScanKernel, where include: ((Int) -> Bool)?) {
        precondition(k >= 0, "k must be non-negative, got \(k)")
        self.query = query
        self.kernel = kernel
        self.include = include
        heaps = TopKHeaps(heapCount: 1, k: k)
        scores = .allocate(capacity: VectorCollection.scanBlock)
    }

    deinit { scores.deallocate() }

    /// Scores the rows of `vectors` (row-major, `query.count` floats each) as rows `firstRow …` and keeps the best.
    ///
    /// - Complexity: O(rows × dimensions), plus O(log k) per candidate that enters.
    public func offer(_ vectors: UnsafeBufferPointer<Float>, firstRow: Int) {
        if heaps.k == 0 || vectors.isEmpty { return }
        let d = query.count
        precondition(d > 0 && vectors.count % d == 0, "a block holds whole vectors of \(d) floats")
        let n = vectors.count / d
        query.withUnsafeBufferPointer { q in
            for r0 in stride(from: 0, to: n, by: VectorCollection.scanBlock) {
                let rows = min(VectorCollection.scanBlock, n - r0)
                kernel.scores(vectors, dimensions: d, firstRow: r0, rowCount: rows, query: q, into: scores)
                heaps.offerRow(0, scores, count: rows, firstIndex: firstRow + r0, include: include)
            }
        }
    }

    /// The neighbours kept so far, best first.
    public func result() -> [Neighbour] { heaps.k == 0 ? [] : heaps.sorted(0) }
}
