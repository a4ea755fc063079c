/// A track or segment embedding: a unit-length vector in the encoder's output space.
///
/// Cosine similarity between two embeddings is their dot product, which is what the search engine
/// computes; keeping them normalised at construction means no stage has to remember to do it.
public struct Embedding: Sendable, Equatable {
    /// The components; their Euclidean norm is 1 (or every component is 0 for a zero input).
    public let values: [Float]

    /// Normalises `values` to unit length. An all-zero vector stays zero rather than becoming NaN.
    public init(normalising values: [Float]) {
        var sum: Float = 0
        for v in values { sum += v * v }
        let norm = sum.squareRoot()
        self.values = norm > 0 ? values.map { $0 / norm } : values
    }

    /// Wraps values already known to be unit length (read back from the index, for example).
    public init(unchecked values: [Float]) {
        self.values = values
    }

    /// The number of dimensions.
    public var dimensions: Int { values.count }

    /// The normalised mean of several embeddings: how a track pools its segments and how
    /// "more like these" combines several seeds.
    public static func pooled(_ embeddings: [Embedding]) -> Embedding? {
        guard let first = embeddings.first else { return nil }
        var sum = [Float](repeating: 0, count: first.dimensions)
        for e in embeddings {
            precondition(
                e.dimensions == sum.count, "Cannot pool embeddings of \(sum.count) and \(e.dimensions) dimensions")
            for i in 0..<sum.count { sum[i] += e.values[i] }
        }
        return Embedding(normalising: sum)
    }

    /// Cosine similarity with another embedding of the same size.
    public func cosine(_ other: Embedding) -> Float {
        precondition(dimensions == other.dimensions, "Embedding sizes differ: \(dimensions) vs \(other.dimensions)")
        var dot: Float = 0
        for i in 0..<values.count { dot += values[i] * other.values[i] }
        return dot
    }
}
