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

    /// The number of values of `packed`: d means and the d (d + 1) / 2 covariances on and above the diagonal.
    public static let packedCount = coefficients.count * (coefficients.count + 3) / 2

    /// The model as stored in an index or a model file: the mean, then the covariance's upper triangle row by
    /// row, as `Float` (`packedCount` values). Reading it back (`init(packed:)`) gives the model rounded to
    /// `Float`, which is what everything computed from stored models sees.
    public var packed: [Float] {
        let d = dimensions
        var out = mean.map(Float.init)
        out.reserveCapacity(Self.packedCount)
        for i in 0..<d {
            for j in i..<d { out.append(Float(covariance[i * d + j])) }
        }
        return out
    }

    /// A model read back from `packed` form. Nil when the count is not `packedCount`, a value is not finite, or
    /// the covariance is not positive definite (a damaged or foreign row): such a model is treated as missing.
    ///
    /// - Complexity: O(d³ / 3), the log-determinant.
    public init?(packed: ArraySlice<Float>) {
        let d = Self.coefficients.count
        guard packed.count == Self.packedCount else { return nil }
        // Concrete and by pointer: a query reads hundreds of these (`TimbreProfile`).
        let read = packed.withUnsafeBufferPointer { p -> (mean: [Double], covariance: [Double])? in
            guard p.allSatisfy(\.isFinite) else { return nil }
            let mean = (0..<d).map { Double(p[$0]) }
            var covariance = [Double](repeating: 0, count: d * d)
            covariance.withUnsafeMutableBufferPointer { c in
                var k = d
                for i in 0..<d {
                    for j in i..<d {
                        c[i * d + j] = Double(p[k])
                        c[j * d + i] = Double(p[k])
                        k += 1
                    }
                }
            }
            return (mean, covariance)
        }
        guard let read, let logDeterminant = Self.logDeterminant(read.covariance, dimensions: d) else { return nil }
        mean = read.mean
        covariance = read.covariance
        self.logDeterminant = logDeterminant
    }

    /// `init(packed:)` of a whole array.
    public init?(packed: [Float]) { self.init(packed: packed[...]) }

    /// This model as it reads back from `packed` (rounded to `Float`); nil only if rounding broke positive
    /// definiteness, which the diagonal loading prevents for any model `init(mfcc:)` makes.
    public var rounded: TimbreGaussian? { TimbreGaussian(packed: packed) }

    /// log det of the symmetric d × d matrix `a` (row-major), by Cholesky factorisation (2 Σ log Lᵢᵢ); nil when
    /// `a` is not positive definite. Reads the lower triangle only.
    ///
    /// - Complexity: O(d³ / 3).
    public static func logDeterminant(_ a: [Double], dimensions d: Int) -> Double? {
        precondition(a.count == d * d, "expected a \(d) × \(d) matrix, got \(a.count) values")
        var l = a
        return l.withUnsafeMutableBufferPointer { logDeterminant(overwriting: $0.baseAddress!, dimensions: d) }
    }

    /// `logDeterminant(_:dimensions:)` of the d × d matrix at `l` (row-major, lower triangle read), factorising
    /// it in place: the lower triangle becomes the Cholesky factor (as far as the factorisation got).
    public static func logDeterminant(overwriting l: UnsafeMutablePointer<Double>, dimensions d: Int) -> Double? {
        var sum = 0.0
        for j in 0..<d {
            let rowJ = l + j * d
            var diagonal = rowJ[j]
            for k in 0..<j { diagonal -= rowJ[k] * rowJ[k] }
            guard diagonal > 0, diagonal.isFinite else { return nil }
            let root = diagonal.squareRoot()
            rowJ[j] = root
            sum += Foundation.log(root)
            var i = j + 1
            while i < d {
                let rowI = l + i * d
                var v = rowI[j]
                for k in 0..<j { v -= rowI[k] * rowJ[k] }
                rowI[j] = v / root
                i += 1
            }
        }
        return 2 * sum
    }
}
