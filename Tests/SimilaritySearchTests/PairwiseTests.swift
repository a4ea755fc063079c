import SimilaritySearch
import Testing

@Suite struct PairwiseTests {
    /// Every entry is `value(i, j)` at row-major position i · columns + j; a symmetric matrix computes each pair
    /// once (i < j), mirrors it and leaves the diagonal NaN; empty and one-row shapes work.
    @Test(arguments: [(0, 0), (1, 1), (1, 4), (5, 3), (7, 7)])
    func entriesSitWhereTheyBelong(rows: Int, columns: Int) {
        let value: @Sendable (Int, Int) -> Double = { i, j in Double(100 * i + j) }
        let full = Pairwise.matrix(rows: rows, columns: columns, symmetric: false, value)
        #expect(full == (0..<rows).flatMap { i in (0..<columns).map { value(i, $0) } })
        guard rows == columns else { return }
        let mirrored = Pairwise.matrix(rows: rows, columns: columns, symmetric: true, value)
        for i in 0..<rows {
            for j in 0..<columns {
                let entry = mirrored[i * columns + j]
                if i == j { #expect(entry.isNaN) } else { #expect(entry == value(min(i, j), max(i, j))) }
            }
        }
    }
}
