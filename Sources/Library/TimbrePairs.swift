import Synchronization

/// Timbre similarities of pairs of tracks (rows of one engine), remembered across the seeds of an export: the
/// seeds of a library share most of the pairs the mix and its shared-neighbour step compare (in a library
/// smaller than the pool, every seed compares pairs of the same few hundred tracks), and one comparison costs
/// two Cholesky factorisations. `TimbreProfile.similarity` is symmetric, so a pair is one entry whichever
/// track asks.
///
/// Safe from many threads (the entries are split over locks by key); bounded: a part that reaches its share of
/// `capacity` is emptied and fills again, so memory stays at about `capacity` × 16 bytes plus the tables'
/// overhead however large the library.
final class TimbrePairs: Sendable {
    private final class Part: Sendable {
        let entries = Mutex<[UInt64: Double]>([:])
    }

    private let parts: [Part]
    private let partCapacity: Int

    init(capacity: Int = 1 << 22, parts: Int = 64) {
        precondition(capacity > 0 && parts > 0, "a cache holds something")
        self.parts = (0..<parts).map { _ in Part() }
        partCapacity = max(1, capacity / parts)
    }

    /// The similarity of rows `a` and `b`, when remembered (NaN included: a pair without a shared band).
    func cached(_ a: Int, _ b: Int) -> Double? {
        let (part, key) = place(a, b)
        return part.entries.withLock { $0[key] }
    }

    /// Remembers the similarity of rows `a` and `b`.
    func remember(_ a: Int, _ b: Int, _ value: Double) {
        let (part, key) = place(a, b)
        part.entries.withLock { entries in
            if entries.count >= partCapacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
    }

    /// The pair's key, one for both orders, and the part that holds it.
    private func place(_ a: Int, _ b: Int) -> (Part, UInt64) {
        let key = UInt64(min(a, b)) << 32 | UInt64(max(a, b))
        // Fibonacci hashing spreads neighbouring rows over the parts.
        return (parts[Int((key &* 0x9E37_79B9_7F4A_7C15) >> 32) % parts.count], key)
    }

    /// Pairs remembered now.
    var count: Int { parts.reduce(0) { $0 + $1.entries.withLock { $0.count } } }
}
