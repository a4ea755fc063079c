import Foundation
import LinearAlgebra

extension VectorCollection {
    /// The top `k` of every stored vector against all others, handed to `body` in row order.
    ///
    /// The score matrix is symmetric, so only tiles on and above the diagonal are computed: a tile of rows
    /// `b` × columns `c` (c > b) feeds the selections of its rows directly and those of its columns
    /// transposed, which halves the `sgemm` work. A row's selection is complete once its own row block has
    /// been processed, so `body` is called block by block while the scan proceeds. Memory beyond the vectors:
    /// one blockRows² tile per thread plus k (score, index) pairs for every stored vector (8 bytes each).
    ///
    /// `include(row, candidate)` is called with the row whose selection is being filled, in both directions,
    /// so asymmetric filters are honoured; with `threads` > 1 it is called from several threads at once and
    /// must be pure. With `excludingSelf == false` each row normally finds itself first.
    ///
    /// - Parameters:
    ///   - k: neighbours per row.
    ///   - excludingSelf: leave each row out of its own selection.
    ///   - blockRows: rows per block (and per tile side).
    ///   - startRow: rows before it are not reported (a resumed export; a multiple of `blockRows`). Their
    ///     contributions to later rows are computed as a full run computes them (the earlier block's tile,
    ///     offered transposed, in block order), so every reported score and selection is the full run's to the
    ///     bit, whatever rounding the BLAS kernel gives a tile's edge rows.
    ///   - threads: the tiles of each row block are split between this many threads, each with private
    ///     selections for the block's rows (merged after the block) and its own columns' selections, which no
    ///     other thread touches; run BLAS single-threaded meanwhile (`BLAS.setThreadCount(1)`).
    ///   - include: `include(row, candidate)`, or nil to keep every candidate.
    ///   - body: called with each row and its selection, best first, in row order.
    /// - Complexity: O(count² × dimensions / 2) for the products, O(count²) compares for the selection.
    public func allNearest(
        k: Int, excludingSelf: Bool = true, blockRows: Int = 512, startRow: Int = 0, threads: Int = 1,
        where include: ((Int, Int) -> Bool)? = nil, _ body: (Int, [Neighbour]) throws -> Void
    ) rethrows {
        precondition(k >= 0, "k must be non-negative, got \(k)")
        precondition(blockRows > 0, "blockRows must be positive, got \(blockRows)")
        precondition(startRow >= 0 && startRow % blockRows == 0, "startRow must be a multiple of blockRows")
        let n = count
        if n == 0 || startRow >= n { return }
        let kk = min(k, excludingSelf ? n - 1 : n)
        let heaps = TopKHeaps(heapCount: n, k: kk)
        let scan = AllPairsScan(
            collection: self, blockRows: blockRows, excludingSelf: excludingSelf, include: include,
            threads: max(1, threads))
        defer { scan.deallocate() }
        for r0 in stride(from: startRow, to: n, by: blockRows) {
            let rows = min(blockRows, n - r0)
            if kk > 0 {
                // Row blocks before `startRow` are never reported; a full run fed this block's selections from
                // their tiles (their rows × this block's columns, offered transposed) before reaching it.
                for b in stride(from: 0, to: startRow, by: blockRows) {
                    scan.feedColumns(rowBlock: b, column: r0, into: heaps)
                }
                // This row block's own tiles: the diagonal and those right of it.
                let tiles = stride(from: r0, to: n, by: blockRows).map { (column: $0, feedsColumns: $0 != r0) }
                scan.process(rowBlock: r0, rows: rows, tiles: tiles, into: heaps)
            }
            for r in 0..<rows { try body(r0 + r, heaps.sorted(r0 + r)) }
        }
    }
}

/// The tile work of `VectorCollection.allNearest`: scratch tiles per thread, and how one row block's tiles
/// are scored and offered.
private struct AllPairsScan: @unchecked Sendable {
    // @unchecked: `include` must be pure (documented on `allNearest`), the tiles are one per thread.
    let collection: VectorCollection
    let blockRows: Int
    let excludingSelf: Bool
    let include: ((Int, Int) -> Bool)?
    let threads: Int
    /// One blockRows² score tile per thread.
    let tiles: UnsafeMutablePointer<Float>

    init(
        collection: VectorCollection, blockRows: Int, excludingSelf: Bool, include: ((Int, Int) -> Bool)?,
        threads: Int
    ) {
        self.collection = collection
        self.blockRows = blockRows
        self.excludingSelf = excludingSelf
        self.include = include
        self.threads = threads
        let side = min(blockRows, collection.count)
        tiles = .allocate(capacity: side * side * threads)
    }

    func deallocate() { tiles.deallocate() }

    /// Scores rows `r0 ..< r0 + rows` against each tile's columns and offers the scores to the rows' selections
    /// (and, for `feedsColumns`, transposed to the columns').
    func process(
        rowBlock r0: Int, rows: Int, tiles list: [(column: Int, feedsColumns: Bool)], into heaps: borrowing TopKHeaps
    ) {
        let workers = min(threads, list.count)
        if workers <= 1 {
            for tile in list { score(r0, rows, tile, scratch: tiles, rowHeaps: heaps, firstRowHeap: 0, heaps) }
            return
        }
        // Private selections for this block's rows, one set per worker, merged below.
        let own = TopKHeaps(heapCount: workers * rows, k: heaps.k)
        let side = min(blockRows, collection.count)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let range = (list.count * w / workers)..<(list.count * (w + 1) / workers)
            for tile in list[range] {
                score(
                    r0, rows, tile, scratch: tiles + w * side * side, rowHeaps: own, firstRowHeap: r0 - w * rows, heaps)
            }
        }
        for w in 0..<workers {
            for r in 0..<rows {
                for neighbour in own.sorted(w * rows + r) {
                    heaps.offer(r0 + r, score: neighbour.score, index: neighbour.index, include: nil)
                }
            }
        }
    }

    /// The tile of row block `b` against column block `c0`, offered only to the columns' selections: what
    /// `process` offers them when it scores row block `b` (the same `sgemm`, so the same scores to the bit).
    func feedColumns(rowBlock b: Int, column c0: Int, into heaps: borrowing TopKHeaps) {
        let rows = min(blockRows, collection.count - b)
        score(
            b, rows, (column: c0, feedsColumns: true), scratch: tiles, rowHeaps: heaps, firstRowHeap: 0, heaps,
            feedsRows: false)
    }

    /// One tile: `sgemm` of the row block against `tile.column`'s block, then the offers. Row `r0 + r`'s
    /// candidates go to `rowHeaps` heap `r0 + r - firstRowHeap` (unless `feedsRows` is false).
    private func score(
        _ r0: Int, _ rows: Int, _ tile: (column: Int, feedsColumns: Bool), scratch: UnsafeMutablePointer<Float>,
        rowHeaps: borrowing TopKHeaps, firstRowHeap: Int, _ heaps: borrowing TopKHeaps, feedsRows: Bool = true
    ) {
        let d = collection.dimensions, c0 = tile.column
        let cols = min(blockRows, collection.count - c0)
        collection.vectors.storage.withUnsafeBufferPointer { v in
            BLAS.gemm(
                .none, .transposed, m: rows, n: cols, k: d, a: v.baseAddress! + r0 * d, lda: d,
                b: v.baseAddress! + c0 * d, ldb: d, c: scratch, ldc: cols)
        }
        if feedsRows {
            for r in 0..<rows {
                let row = r0 + r
                rowHeaps.offerRow(
                    row - firstRowHeap, scratch + r * cols, count: cols, firstIndex: c0, skip: excludingSelf ? row : -1,
                    include: include.map { f in { f(row, $0) } })
            }
        }
        // The same scores seen from the columns: row block r0 are candidates for rows c0+j. Walk the tile row by
        // row so memory access stays sequential.
        guard tile.feedsColumns else { return }
        for r in 0..<rows {
            heaps.offerColumn(scratch + r * cols, count: cols, firstHeap: c0, index: r0 + r, include: include)
        }
    }
}
