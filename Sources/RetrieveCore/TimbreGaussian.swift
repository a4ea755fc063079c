import Foundation

/// A track's timbre as one multivariate Gaussian over its MFCC frames: the mean and full covariance of MFCCs
/// 1…24 (of 25), as in the single-Gaussian timbre models of Mandel & Ellis (2005) and Musly's `timbre` method.
///
/// MFCC 0, the frame's overall level, is left out, so the model does not see loudness: a gain only moves MFCC 0
/// (the DCT of a constant dB offset), and the log-mel it is made from is floored relative to its own peak
/// (`init(logMel:configuration:bandLimit:)`, in SpectralFeatures), so a quieter copy of a recording gets the same
/// Gaussian. The covariance is the unbiased sample covariance with 1e-4 added to its diagonal, which keeps it
/// positive definite for near-constant input (digital silence, a pure tone). Values are kept in `Double`: the
/// divergences of `TimbreSimilarity` subtract log-determinants of similar size.
public struct TimbreGaussian: Sendable, Equatable {
    /// The MFCCs computed per frame; `coefficients` of them are modelled.
    public static let mfccCount = 25
    /// The modelled MFCCs: all but MFCC 0 (the level).
    public static let coefficients = 1..<25
    /// Added to the covariance's diagonal.
    public static let diagonalLoading = 1e-4

    /// d = `coefficients.count` values.
    public let mean: [Double]
    /// d × d, row-major, symmetric.
    public let covariance: [Double]
    /// log det `covariance`.
    public let logDeterminant: Double

    public var dimensions: Int { mean.count }

    /// The Gaussian of `mfcc`'s frames (rows; at least `mfccCount` columns, of which `coefficients` are used).
    /// Nil when there are not more frames than dimensions (a covariance needs them) or a value is not finite.
    ///
    /// - Complexity: O(frames · d²).
    public init?(mfcc: Matrix) {
        let d = Self.coefficients.count, first = Self.coefficients.lowerBound, n = mfcc.rows
        guard mfcc.columns >= Self.coefficients.upperBound, n > d else { return nil }
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n {
            for i in 0..<d { mean[i] += Double(mfcc[r, first + i]) }
        }
        for i in 0..<d { mean[i] /= Double(n) }
        var covariance = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: d)
        for r in 0..<n {
            for i in 0..<d { centred[i] = Double(mfcc[r, first + i]) - mean[i] }
            for i in 0..<d {
                let ci = centred[i]
                for j in i..<d { covariance[i * d + j] += ci * centred[j] }
            }
        }
        for i in 0..<d {
            for j in i..<d {
                let v = covariance[i * d + j] / Double(n - 1) + (i == j ? Self.diagonalLoading : 0)
                covariance[i * d + j] = v
                covariance[j * d + i] = v
            }
        }
        guard mean.allSatisfy(\.isFinite), covariance.allSatisfy(\.isFinite),
            let logDeterminant = Self.logDeterminant(covariance, dimensions: d)
        else { return nil }
        self.mean = mean
        self.covariance = covariance
        self.logDeterminant = logDeterminant
    }

    /// log det of the symmetric d × d matrix `a` (row-major), by Cholesky factorisation (2 Σ log Lᵢᵢ); nil when
    /// `a` is not positive definite. Reads the lower triangle only.
    ///
    /// - Complexity: O(d³ / 3).
    public static func logDeterminant(_ a: [Double], dimensions d: Int) -> Double? {
        precondition(a.count == d * d, "expected a \(d) × \(d) matrix, got \(a.count) values")
        var l = a
        var sum = 0.0
        for j in 0..<d {
            var diagonal = l[j * d + j]
            for k in 0..<j { diagonal -= l[j * d + k] * l[j * d + k] }
            guard diagonal > 0, diagonal.isFinite else { return nil }
            let root = diagonal.squareRoot()
            l[j * d + j] = root
            sum += Foundation.log(root)
            for i in (j + 1)..<max(j + 1, d) {
                var v = l[i * d + j]
                for k in 0..<j { v -= l[i * d + k] * l[j * d + k] }
                l[i * d + j] = v / root
            }
        }
        return 2 * sum
    }
}
