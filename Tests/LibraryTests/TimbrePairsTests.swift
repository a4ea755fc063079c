@testable import Library
import Testing

/// The export's memory of timbre similarities: one entry per unordered pair, computed once, bounded.
@Suite struct TimbrePairsTests {
    @Test func aPairIsComputedOnceWhicheverTrackAsks() {
        let pairs = TimbrePairs()
        var computed = 0
        let first = pairs.similarity(3, 70_000) { computed += 1; return 0.25 }
        let reversed = pairs.similarity(70_000, 3) { computed += 1; return 0.5 }
        #expect(first == 0.25 && reversed == 0.25 && computed == 1)
        // Another pair sharing a row, or rows whose halves of the key would collide if packed carelessly.
        #expect(pairs.similarity(3, 70_001) { 0.75 } == 0.75)
        #expect(pairs.similarity(0, 3) { 0.125 } == 0.125)
        #expect(pairs.similarity(3 << 16, 0) { 1 } == 1)
        // A pair without a shared band stays NaN without being computed again.
        #expect(pairs.similarity(5, 6) { computed += 1; return .nan }.isNaN)
        #expect(pairs.similarity(6, 5) { computed += 1; return 0 }.isNaN)
        #expect(computed == 2 && pairs.count == 5)
    }

    @Test func memoryStaysWithinItsCapacity() {
        let pairs = TimbrePairs(capacity: 256, parts: 4)
        for a in 0..<200 {
            for b in (a + 1)..<(a + 10) { _ = pairs.similarity(a, b) { Double(a * 1000 + b) } }
        }
        #expect(pairs.count <= 256 && pairs.count > 0)
        // What it still holds is right, and what it dropped is computed again, right.
        for a in stride(from: 0, to: 200, by: 7) {
            #expect(pairs.similarity(a + 3, a) { Double(a * 1000 + a + 3) } == Double(a * 1000 + a + 3))
        }
    }
}
