@testable import Library
import Testing

/// The export's memory of timbre similarities: one entry per unordered pair, bounded.
@Suite struct TimbrePairsTests {
    @Test func aPairIsOneEntryWhicheverTrackAsks() {
        let pairs = TimbrePairs()
        #expect(pairs.cached(3, 70_000) == nil)
        pairs.remember(70_000, 3, 0.25)
        #expect(pairs.cached(3, 70_000) == 0.25 && pairs.cached(70_000, 3) == 0.25)
        // Pairs sharing a row, or whose rows would collide if the key were packed carelessly, are their own.
        pairs.remember(3, 70_001, 0.75)
        pairs.remember(0, 3, 0.125)
        pairs.remember(3 << 16, 0, 1)
        #expect(pairs.cached(3, 70_001) == 0.75 && pairs.cached(3, 0) == 0.125 && pairs.cached(0, 3 << 16) == 1)
        #expect(pairs.cached(3, 3 << 16) == nil && pairs.cached(70_000, 70_001) == nil)
        // A pair without a shared band is remembered as NaN, not as unknown.
        pairs.remember(5, 6, .nan)
        #expect(pairs.cached(6, 5)?.isNaN == true)
        #expect(pairs.count == 5)
    }

    @Test func memoryStaysWithinItsCapacity() {
        let pairs = TimbrePairs(capacity: 256, parts: 4)
        for a in 0..<200 {
            for b in (a + 1)..<(a + 10) { pairs.remember(a, b, Double(a * 1000 + b)) }
        }
        #expect(pairs.count <= 256 && pairs.count > 0)
        // What it still holds is right; what it dropped is unknown, never another pair's value.
        var held = 0
        for a in 0..<200 {
            for b in (a + 1)..<(a + 10) {
                guard let value = pairs.cached(b, a) else { continue }
                #expect(value == Double(a * 1000 + b))
                held += 1
            }
        }
        #expect(held == pairs.count)
    }
}
