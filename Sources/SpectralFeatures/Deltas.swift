import Foundation
public import RetrieveCore

extension FeatureExtractor {
    /// Local derivative estimates along time (`librosa.feature.delta(width, order, mode='interp')`), per column.
    ///
    /// A Savitzky–Golay filter: at each frame a polynomial of degree `order` is least-squares fitted to the
    /// `width` frames around it and its `order`-th derivative taken. At the first and last `width / 2` frames
    /// ('interp' mode) the polynomial fitted to the first (last) `width` frames is used instead of a centred one.
    /// librosa refuses inputs with fewer than `width` frames; here `width` shrinks to the largest odd number
    /// of frames available (still above `order`), and with too few frames even for that the result is zero.
    ///
    /// - Parameters:
    ///   - features: `frames × bands`.
    ///   - width: odd window length, at least 3.
    ///   - order: derivative order, 1 (delta) or more (delta-delta, …), below `width`.
    /// - Returns: `frames × bands`.
    /// - Complexity: O(frames × bands × width).
    public static func deltas(_ features: Matrix, width: Int = 9, order: Int = 1) -> Matrix {
        precondition(width >= 3 && width % 2 == 1, "delta width must be an odd integer ≥ 3, got \(width)")
        precondition(order >= 1 && order < width, "delta order must be between 1 and width − 1, got \(order)")
        let rows = features.rows, cols = features.columns
        var out = Matrix(rows: rows, columns: cols)
        let w = min(width, rows % 2 == 1 ? rows : rows - 1)
        guard w > order else { return out }
        let half = w / 2
        // Coefficients for the centred window, and for each edge position from the fitted edge windows.
        let centre = savitzkyGolay(points: (-half...half).map(Double.init), at: 0, degree: order, derivative: order)
        let left = (0..<half).map {
            savitzkyGolay(points: (0..<w).map(Double.init), at: Double($0), degree: order, derivative: order)
        }
        let right = (0..<half).map {
            savitzkyGolay(
                points: (0..<w).map(Double.init), at: Double(w - half + $0), degree: order,
                derivative: order)
        }
        for c in 0..<cols {
            func x(_ r: Int) -> Double { Double(features.storage[r * cols + c]) }
            for t in 0..<rows {
                var acc = 0.0
                if t < half {
                    for i in 0..<w { acc += left[t][i] * x(i) }
                } else if t >= rows - half {
                    let base = rows - w
                    for i in 0..<w { acc += right[t - (rows - half)][i] * x(base + i) }
                } else {
                    for i in 0..<w { acc += centre[i] * x(t - half + i) }
                }
                out.storage[t * cols + c] = Float(acc)
            }
        }
        return out
    }

    /// Weights `c` with `Σ cᵢ yᵢ` = the `derivative`-th derivative at `x0` of the degree-`degree` polynomial
    /// least-squares fitted to (pointsᵢ, yᵢ): `c = Aᵀ (AᵀA)⁻¹ v` with `A[i][j] = pointsᵢ^j`, `v_j = d/dx^d x^j`.
    static func savitzkyGolay(points: [Double], at x0: Double, degree: Int, derivative: Int) -> [Double] {
        let p = degree + 1
        let a = points.map { x in (0..<p).map { pow(x, Double($0)) } }
        var normal = [[Double]](repeating: [Double](repeating: 0, count: p), count: p)
        for row in a { for i in 0..<p { for j in 0..<p { normal[i][j] += row[i] * row[j] } } }
        var v = (0..<p).map { j -> Double in
            guard j >= derivative else { return 0 }
            var f = 1.0
            for k in 0..<derivative { f *= Double(j - k) }
            return f * pow(x0, Double(j - derivative))
        }
        // Gaussian elimination with partial pivoting; p is at most a handful.
        for col in 0..<p {
            let pivot = (col..<p).max { abs(normal[$0][col]) < abs(normal[$1][col]) }!
            normal.swapAt(col, pivot)
            v.swapAt(col, pivot)
            for r in (col + 1)..<p {
                let f = normal[r][col] / normal[col][col]
                for k in col..<p { normal[r][k] -= f * normal[col][k] }
                v[r] -= f * v[col]
            }
        }
        var z = [Double](repeating: 0, count: p)
        for r in stride(from: p - 1, through: 0, by: -1) {
            var s = v[r]
            for k in (r + 1)..<p { s -= normal[r][k] * z[k] }
            z[r] = s / normal[r][r]
        }
        return a.map { row in zip(row, z).reduce(0) { $0 + $1.0 * $1.1 } }
    }
}
