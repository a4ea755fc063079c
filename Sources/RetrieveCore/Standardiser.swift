extension Matrix {
    /// Per-column mean and population standard deviation (double accumulation); zeros for no rows.
    public func columnStatistics() -> (mean: [Float], std: [Float]) {
        let n = rows, c = columns
        var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        for r in 0..<n {
            for j in 0..<c {
                let v = Double(storage[r * c + j])
                sum[j] += v
                squares[j] += v * v
            }
        }
        guard n > 0 else { return ([Float](repeating: 0, count: c), [Float](repeating: 0, count: c)) }
        let mean = sum.map { $0 / Double(n) }
        let std = (0..<c).map { max(0, squares[$0] / Double(n) - mean[$0] * mean[$0]).squareRoot() }
        return (mean.map { Float($0) }, std.map { Float($0) })
    }
}

/// Per-dimension standardisation fitted on one set of vectors and applied to others.
///
/// Descriptors mix units (dB, dB per frame, embedding coordinates); z-scoring each dimension over the
/// evaluated collection before the cosine keeps one large-valued dimension from deciding every ranking.
/// A dimension that is constant over the collection carries no information and is set to zero.
public struct Standardiser: Sendable {
    public let mean: [Float]
    public let scale: [Float]

    /// Fits the mean and population standard deviation of each column.
    public init(fitting x: Matrix) {
        let (m, s) = x.columnStatistics()
        mean = m
        scale = s.map { $0 > 1e-12 ? 1 / $0 : 0 }
    }

    /// `(x − mean) / std` per row, then each row L2-normalised, so dot products are cosines.
    public func apply(_ x: Matrix) -> Matrix {
        precondition(x.columns == mean.count, "expected \(mean.count) columns, got \(x.columns)")
        var out = x
        for r in 0..<x.rows {
            var norm: Float = 0
            for j in 0..<x.columns {
                let v = (x.storage[r * x.columns + j] - mean[j]) * scale[j]
                out.storage[r * x.columns + j] = v
                norm += v * v
            }
            let inv = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<x.columns { out.storage[r * x.columns + j] *= inv }
        }
        return out
    }
}
