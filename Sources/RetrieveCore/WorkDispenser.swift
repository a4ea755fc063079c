import Synchronization

/// Hands out the indices `0 ..< count`, each exactly once, to concurrent workers: the one work queue of
/// retrieve (indexing files, inference parts).
///
/// - Complexity: O(1) per `next()`, lock-free (one atomic add).
public final class WorkDispenser: Sendable {
    /// How many indices there are.
    public let count: Int
    private let taken = Atomic<Int>(0)

    public init(count: Int) {
        precondition(count >= 0, "a work dispenser needs count ≥ 0, got \(count)")
        self.count = count
    }

    /// The next index not yet handed out, or nil when all are.
    public func next() -> Int? {
        let i = taken.wrappingAdd(1, ordering: .relaxed).oldValue
        return i < count ? i : nil
    }
}
