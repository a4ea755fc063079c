public import RetrieveCore
import LinearAlgebra

/// A principal-component projection of a set of vectors onto their few directions of largest variance.
///
/// The `d × d` sample covariance is formed with one GEMM and its leading eigenvectors are found by power
/// iteration, each new vector kept orthogonal to the ones before (deflation by Gram–Schmidt). That is exact
/// to float precision when the eigenvalues are separated; when two are (nearly) equal, any orthonormal basis
/// of their plane is an equally valid answer and iteration stops after `maxIterations`. Each component's
/// sign is fixed so that its largest-magnitude coordinate is positive, so equal input gives equal plots.
public struct PrincipalComponents: Sendable {
    /// `components × d`: unit-length, mutually orthogonal directions, largest variance first.
    public let components: Matrix
    /// The variance along each component (the covariance's eigenvalues).
    public let variances: [Float]
    /// The total variance (the covariance's trace), to express `variances` as fractions.
    public let totalVariance: Float
    /// The per-dimension mean subtracted before projecting.
    public let mean: [Float]

    /// Fits `count` components to the rows of `x` (`n × d`, n ≥ 2).
    ///
    /// - Complexity: O(n d² + count · iterations · d²).
    public init(fitting x: Matrix, count: Int = 2, maxIterations: Int = 1_000, tolerance: Float = 1e-7) {
        let n = x.rows, d = x.columns
        precondition(count >= 1 && count <= d, "cannot fit \(count) components to \(d) dimensions")
        var mean = [Float](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mean[j] += x.storage[r * d + j] } }
        mean = mean.map { $0 / Float(max(1, n)) }
        var centred = x
        for r in 0..<n { for j in 0..<d { centred.storage[r * d + j] -= mean[j] } }
        var covariance = BLAS.multiply(centred, .transposed, centred, .none)
        let scale = 1 / Float(max(1, n - 1))
        for i in 0..<covariance.storage.count { covariance.storage[i] *= scale }
        totalVariance = (0..<d).reduce(0) { $0 + covariance[$1, $1] }

        var found: [[Float]] = []
        var values: [Float] = []
        for c in 0..<count {
            // A start with a component along every axis, different for each component.
            var v = (0..<d).map { 1 + Float(($0 * 7 + c * 13) % 11) / 10 }
            Self.orthogonalise(&v, against: found)
            var lambda: Float = 0
            for _ in 0..<maxIterations {
                var w = BLAS.multiply(covariance, vector: v)
                Self.orthogonalise(&w, against: found)
                let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 0 else { break }
                w = w.map { $0 / norm }
                let change = zip(w, v).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                v = w
                lambda = norm
                if change < tolerance { break }
            }
            if let peak = v.indices.max(by: { abs(v[$0]) < abs(v[$1]) }), v[peak] < 0 { v = v.map { -$0 } }
            found.append(v)
            values.append(lambda)
        }
        components = Matrix(rowArrays: found)
        variances = values
        self.mean = mean
    }

    /// The coordinates of each row of `x` along the components: `(x − mean) · componentsᵀ`, `n × count`.
    public func project(_ x: Matrix) -> Matrix {
        var centred = x
        for r in 0..<x.rows { for j in 0..<x.columns { centred.storage[r * x.columns + j] -= mean[j] } }
        return BLAS.multiply(centred, .none, components, .transposed)
    }

    private static func orthogonalise(_ v: inout [Float], against basis: [[Float]]) {
        for b in basis {
            let dot = zip(v, b).reduce(0) { $0 + $1.0 * $1.1 }
            for i in 0..<v.count { v[i] -= dot * b[i] }
        }
    }
}
