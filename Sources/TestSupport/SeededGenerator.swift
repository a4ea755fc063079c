import Foundation
public import RetrieveCore

/// A deterministic random number generator (SplitMix64) so that every test sees the same "random" data.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var base: SplitMix64
    public init(seed: UInt64) { base = SplitMix64(seed: seed) }
    public mutating func next() -> UInt64 { base.next() }
    /// A standard normal sample (Box–Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = max(Double.random(in: 0..<1, using: &self), 1e-12)
        let u2 = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
    /// A matrix of uniform values in `range`.
    public mutating func matrix(rows: Int, columns: Int, in range: ClosedRange<Float> = -1...1) -> Matrix {
        Matrix(
            rows: rows, columns: columns,
            storage: (0..<(rows * columns)).map { _ in Float.random(in: range, using: &self) })
    }
}

/// Approximate comparison helpers shared by the numeric tests.
public enum Approx {
    /// The largest absolute difference between two equally long arrays.
    public static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "Lengths differ: \(a.count) vs \(b.count)")
        var m: Float = 0
        for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
        return m
    }
    /// ‖a − b‖ / max(‖b‖, tiny): the relative error of `a` against reference `b`.
    public static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "Lengths differ: \(a.count) vs \(b.count)")
        var num: Double = 0, den: Double = 0
        for i in 0..<a.count {
            let d = Double(a[i]) - Double(b[i])
            num += d * d
            den += Double(b[i]) * Double(b[i])
        }
        return Float((num / max(den, 1e-30)).squareRoot())
    }
}

/// A temporary directory that is removed when the value is deinitialised.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public init(prefix: String = "retrieve-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func path(_ name: String) -> URL { url.appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(at: url) }
}
