import RetrieveCore
import SimilaritySearch
import Testing
import TestSupport

/// Checks every search path against brute force: score everything with a naive loop, sort fully, cut at k.
///
/// Vectors have small integer components, so every dot product is exact in Float whatever order BLAS sums
/// in; the brute force and the BLAS paths then agree bit for bit and ties (frequent with small integers)
/// are checked exactly, not approximately.
@Suite struct VectorCollectionTests {
    static func integerMatrix(rows: Int, columns: Int, seed: UInt64, range: ClosedRange<Int> = -2...2) -> Matrix {
        var rng = SeededGenerator(seed: seed)
        return Matrix(
            rows: rows, columns: columns,
            storage: (0..<(rows * columns)).map { _ in Float(Int.random(in: range, using: &rng)) })
    }

    static func bruteForce(_ vectors: Matrix, _ query: [Float], k: Int, include: (Int) -> Bool = { _ in true })
        -> [Neighbour]
    {
        var all = [Neighbour]()
        for i in 0..<vectors.rows where include(i) {
            var s: Float = 0
            for c in 0..<vectors.columns { s += vectors[i, c] * query[c] }
            all.append(Neighbour(index: i, score: s))
        }
        all.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        return Array(all.prefix(k))
    }

    @Test(arguments: [1, 5, 10, 37, 299, 300, 1000])
    func singleQueryMatchesBruteForce(k: Int) {
        let vectors = Self.integerMatrix(rows: 300, columns: 16, seed: 1)
        let queries = Self.integerMatrix(rows: 20, columns: 16, seed: 2)
        let collection = VectorCollection(vectors: vectors)
        for q in 0..<queries.rows {
            let query = queries.row(q)
            #expect(collection.nearest(to: query, k: k) == Self.bruteForce(vectors, query, k: k))
        }
    }

    @Test func singleQueryCrossesScanBlocks() {
        // 40 000 rows span three 16 384-row sgemv blocks, the last one ragged; the filter hides every
        // candidate of the first block so the answer must come from the later ones.
        let vectors = Self.integerMatrix(rows: 40_000, columns: 4, seed: 13, range: -3...3)
        let collection = VectorCollection(vectors: vectors)
        for q in 0..<3 {
            let query = Self.integerMatrix(rows: 1, columns: 4, seed: 100 + UInt64(q)).row(0)
            #expect(collection.nearest(to: query, k: 25) == Self.bruteForce(vectors, query, k: 25))
            #expect(
                collection.nearest(to: query, k: 25) { $0 >= 16_384 }
                    == Self.bruteForce(vectors, query, k: 25) { $0 >= 16_384 })
        }
    }

    @Test func tiesAreOrderedByIndex() {
        // Every vector equal: every score ties, so the answer is the first k indices.
        let collection = VectorCollection(vectors: Matrix(rows: 50, columns: 4, repeating: 0.5))
        let result = collection.nearest(to: [1, 1, 1, 1], k: 7)
        #expect(result.map(\.index) == Array(0..<7))
        #expect(result.allSatisfy { $0.score == 2 })
    }

    @Test func edgeCases() {
        let empty = VectorCollection(vectors: Matrix(rows: 0, columns: 8))
        #expect(empty.nearest(to: [Float](repeating: 1, count: 8), k: 5).isEmpty)
        #expect(empty.nearest(toEach: Matrix(rows: 3, columns: 8), k: 5) == [[], [], []])
        var calls = 0
        empty.allNearest(k: 3) { _, _ in calls += 1 }
        #expect(calls == 0)

        let vectors = Self.integerMatrix(rows: 6, columns: 3, seed: 3)
        let collection = VectorCollection(vectors: vectors)
        #expect(collection.nearest(to: [1, 0, 0], k: 0).isEmpty)
        #expect(collection.nearest(to: [1, 0, 0], k: 100).count == 6)
        #expect(collection.nearest(toEach: Matrix(rowArrays: [[1, 0, 0]]), k: 0) == [[]])
        collection.allNearest(k: 0) { _, list in #expect(list.isEmpty) }
        // A single vector has no neighbours but itself.
        VectorCollection(vectors: Matrix(rowArrays: [[1, 2]])).allNearest(k: 3) { row, list in
            #expect(row == 0 && list.isEmpty)
        }
    }

    @Test func nanScoresNeverEnter() {
        let collection = VectorCollection(vectors: Matrix(rowArrays: [[1, 0], [.nan, 0], [0.5, 0]]))
        #expect(collection.nearest(to: [1, 0], k: 3).map(\.index) == [0, 2])
    }

    @Test func filtersMatchBruteForceAndAreLazy() {
        let vectors = Self.integerMatrix(rows: 2000, columns: 12, seed: 4)
        let collection = VectorCollection(vectors: vectors)
        let query = Self.integerMatrix(rows: 1, columns: 12, seed: 5).row(0)
        let include: (Int) -> Bool = { $0 % 3 != 0 }
        var evaluated = 0
        let result = collection.nearest(to: query, k: 10) { i in
            evaluated += 1
            return include(i)
        }
        #expect(result == Self.bruteForce(vectors, query, k: 10, include: include))
        // Only candidates that would enter the top 10 are asked about, far fewer than all 2000.
        #expect(evaluated < 500)
        #expect(collection.nearest(to: query, k: 10) { _ in false }.isEmpty)
    }

    @Test func nearestToItemLeavesItselfOut() {
        let vectors = Self.integerMatrix(rows: 100, columns: 8, seed: 6)
        let collection = VectorCollection(vectors: vectors)
        for item in [0, 41, 99] {
            let expected = Self.bruteForce(vectors, vectors.row(item), k: 5) { $0 != item }
            #expect(collection.nearest(toItem: item, k: 5) == expected)
        }
    }

    @Test(arguments: [1, 3, 10])
    func batchedMatchesSingle(k: Int) {
        // 2500 stored vectors and 1100 queries cross both tile sizes (1024), including ragged last tiles.
        let vectors = Self.integerMatrix(rows: 2500, columns: 8, seed: 7)
        let queries = Self.integerMatrix(rows: 1100, columns: 8, seed: 8)
        let collection = VectorCollection(vectors: vectors)
        let batched = collection.nearest(toEach: queries, k: k) { q, c in (q + c) % 5 != 0 }
        #expect(batched.count == 1100)
        for q in stride(from: 0, to: 1100, by: 37) + [1099] {
            let expected = Self.bruteForce(vectors, queries.row(q), k: k) { (q + $0) % 5 != 0 }
            #expect(batched[q] == expected, "query \(q)")
        }
    }

    @Test(arguments: [(1, 7), (5, 16), (10, 64), (200, 33)])
    func allNearestMatchesPerRowBruteForce(k: Int, blockRows: Int) {
        // 301 rows: ragged last block; blockRows 7 gives many off-diagonal tiles in both directions.
        let vectors = Self.integerMatrix(rows: 301, columns: 6, seed: 9, range: -1...1)
        let collection = VectorCollection(vectors: vectors)
        var rowsSeen = [Int]()
        collection.allNearest(k: k, blockRows: blockRows) { row, list in
            rowsSeen.append(row)
            #expect(list == Self.bruteForce(vectors, vectors.row(row), k: k) { $0 != row }, "row \(row)")
        }
        #expect(rowsSeen == Array(0..<301))
    }

    /// Two workers per row block, and a resumed scan (rows before `startRow` not reported): the same selections.
    @Test(arguments: [(1, 0), (2, 0), (2, 14), (3, 7), (2, 294)])
    func allNearestInParallelAndResumedMatchesBruteForce(threads: Int, startRow: Int) {
        let vectors = Self.integerMatrix(rows: 301, columns: 6, seed: 12, range: -1...1)
        let collection = VectorCollection(vectors: vectors)
        var rowsSeen = [Int]()
        collection.allNearest(k: 5, blockRows: 7, startRow: startRow, threads: threads, where: { ($0 + $1) % 3 != 0 }) {
            row, list in
            rowsSeen.append(row)
            #expect(list == Self.bruteForce(vectors, vectors.row(row), k: 5) { $0 != row && (row + $0) % 3 != 0 })
        }
        #expect(rowsSeen == Array(startRow..<301))
    }

    /// A resumed scan reports what a full run reports to the bit, scores included, on real-valued vectors whose
    /// products round (integer vectors never do): a tile and its transpose may round differently in the last bit
    /// (seen with OpenBLAS's Zen kernels and `retrieve export`'s 512-row blocks), so a resumed run must make the
    /// full run's tiles in the full run's order. 1 500 rows in blocks of 512, as `retrieve export` cuts them.
    @Test(arguments: [(1, 512), (2, 512), (2, 1024)])
    func resumedScanMatchesAFullRunToTheBit(threads: Int, startRow: Int) {
        var rng = SeededGenerator(seed: 13)
        let rows = (0..<1500).map { _ in Embedding(normalising: (0..<100).map { _ in rng.nextGaussian() }).values }
        let collection = VectorCollection(vectors: Matrix(rowArrays: rows))
        var full = [Int: [Neighbour]]()
        collection.allNearest(k: 20, blockRows: 512, threads: threads) { row, list in
            if row >= startRow { full[row] = list }
        }
        var differing = [Int]()
        collection.allNearest(k: 20, blockRows: 512, startRow: startRow, threads: threads) { row, list in
            let expected = full[row] ?? []
            let sameBits = list.map(\.index) == expected.map(\.index)
                && list.map(\.score.bitPattern) == expected.map(\.score.bitPattern)
            if !sameBits { differing.append(row) }
        }
        #expect(differing.count == 0, "rows \(differing.prefix(10)) … differ from the full run")
    }

    @Test func allNearestWithAsymmetricFilterAndSelf() {
        let vectors = Self.integerMatrix(rows: 120, columns: 5, seed: 10)
        let collection = VectorCollection(vectors: vectors)
        // Asymmetric: a row may only see candidates with a higher index.
        collection.allNearest(k: 4, blockRows: 16, where: { row, candidate in candidate > row }) { row, list in
            #expect(list == Self.bruteForce(vectors, vectors.row(row), k: 4) { $0 > row }, "row \(row)")
        }
        collection.allNearest(k: 3, excludingSelf: false, blockRows: 32) { row, list in
            #expect(list == Self.bruteForce(vectors, vectors.row(row), k: 3), "row \(row)")
        }
    }

    @Test func allNearestAgreesWithNearestOnUnitVectors() {
        // Realistic data: random unit vectors, scores compared approximately (sgemm vs sgemv rounding).
        var rng = SeededGenerator(seed: 11)
        let rows = (0..<500).map { _ in Embedding(normalising: (0..<32).map { _ in rng.nextGaussian() }).values }
        let collection = VectorCollection(vectors: Matrix(rowArrays: rows))
        collection.allNearest(k: 10, blockRows: 128) { row, list in
            let single = collection.nearest(toItem: row, k: 10)
            #expect(Approx.maxAbsDifference(list.map(\.score), single.map(\.score)) < 1e-5)
            #expect(
                Set(list.prefix(5).map(\.index)) == Set(single.prefix(5).map(\.index))
                    || list[4].score - list[5].score < 1e-5)
        }
    }

    @Test func scoresAreDotProducts() {
        let vectors = Self.integerMatrix(rows: 10, columns: 4, seed: 12)
        let collection = VectorCollection(vectors: vectors)
        let query: [Float] = [1, -1, 2, 0]
        let scores = collection.scores(to: query)
        for i in 0..<10 {
            #expect(scores[i] == vectors[i, 0] - vectors[i, 1] + 2 * vectors[i, 2])
        }
    }
}
