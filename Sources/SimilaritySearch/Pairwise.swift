import Foundation
import Synchronization

/// A matrix of pairwise values computed over every core, one row per iteration.
public enum Pairwise {
    /// `value(i, j)` for every row `i < rows` and column `j < columns`, row-major. With `symmetric` (a square
    /// matrix of one set against itself) each pair is computed once, for `i < j`, and mirrored; the diagonal is
    /// then left NaN for the caller.
    ///
    /// - Complexity: `rows · columns` calls of `value` (half of them when `symmetric`), split over the cores.
    public static func matrix(
        rows: Int, columns: Int, symmetric: Bool, _ value: @Sendable (Int, Int) -> Double
    ) -> [Double] {
        precondition(!symmetric || rows == columns, "a symmetric matrix is square: \(rows) × \(columns)")
        // Each row is written by the one iteration that computes it.
        let computed = Mutex([[Double]](repeating: [], count: rows))
        DispatchQueue.concurrentPerform(iterations: rows) { i in
            let first = symmetric ? i + 1 : 0
            let row = (first..<max(first, columns)).map { value(i, $0) }
            computed.withLock { $0[i] = row }
        }
        var out = [Double](repeating: .nan, count: rows * columns)
        computed.withLock { computed in
            for i in 0..<rows {
                let first = symmetric ? i + 1 : 0
                for (k, v) in computed[i].enumerated() {
                    out[i * columns + first + k] = v
                    if symmetric { out[(first + k) * columns + i] = v }
                }
            }
        }
        return out
    }
}
