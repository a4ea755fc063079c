import Dispatch
import Synchronization
import Testing
import RetrieveCore

@Suite struct SegmentCutterTests {
    /// Frames numbered by row, so a window's first value says where it starts.
    func frames(_ n: Int, columns: Int = 2) -> Matrix {
        Matrix(rows: n, columns: columns, storage: (0..<(n * columns)).map { Float($0 / columns) })
    }

    func starts(_ windows: [Matrix]) -> [Int] { windows.map { Int($0.storage.first ?? -1) } }

    @Test func regularWindowsThenOneEndingAtTheEnd() {
        let w = SegmentCutter.windows(of: frames(10), length: 4, hop: 3)
        #expect(starts(w) == [0, 3, 6])            // 6 + 4 = 10: the regular ones end at the end
        #expect(w.allSatisfy { $0.rows == 4 })
        #expect(starts(SegmentCutter.windows(of: frames(11), length: 4, hop: 3)) == [0, 3, 6, 7])
    }

    @Test func shortAndEmptyStreams() {
        let short = SegmentCutter.windows(of: frames(3), length: 4, hop: 2)
        #expect(short.count == 1 && short[0].rows == 3)
        #expect(SegmentCutter.windows(of: frames(0), length: 4, hop: 2).isEmpty)
        #expect(starts(SegmentCutter.windows(of: frames(4), length: 4, hop: 2)) == [0])
    }

    @Test func aHopLongerThanTheWindowSkipsFramesAndStillHearsTheEnd() {
        #expect(starts(SegmentCutter.windows(of: frames(20), length: 3, hop: 8)) == [0, 8, 16, 17])
    }

    @Test(arguments: [1, 2, 3, 5, 7, 64])
    func streamingInAnyBlocksGivesTheWholeMatrixWindows(block: Int) {
        for n in [0, 1, 5, 29, 30, 31, 97] {
            for (length, hop) in [(5, 2), (5, 5), (4, 9), (1, 1)] {
                let all = frames(n)
                var cutter = SegmentCutter(length: length, hop: hop, columns: 2)
                var streamed: [Matrix] = []
                for start in stride(from: 0, to: n, by: block) {
                    streamed += cutter.push(all.rows(start..<min(n, start + block)))
                }
                streamed += cutter.finish()
                #expect(streamed == SegmentCutter.windows(of: all, length: length, hop: hop),
                        "n \(n), length \(length), hop \(hop), block \(block)")
            }
        }
    }
}

@Suite struct WorkDispenserTests {
    @Test func everyIndexGoesToExactlyOneWorker() {
        let dispenser = WorkDispenser(count: 10_000)
        let seen = Mutex([Int](repeating: 0, count: 10_000))
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            while let i = dispenser.next() { seen.withLock { $0[i] += 1 } }
        }
        #expect(seen.withLock { $0.allSatisfy { $0 == 1 } })
        #expect(dispenser.next() == nil)
    }
}

@Suite struct CSVTests {
    @Test func fieldsRoundTripThroughQuotes() {
        let fields = ["plain", "with,comma", "with \"quote\"", "two\nlines", ""]
        let line = fields.map(CSV.field).joined(separator: ",")
        #expect(CSV.rows(line) == [fields])
    }
}

@Suite struct StopRequestTests {
    @Test func onlyTheFirstRaiseCounts() {
        let stop = StopRequest()
        #expect(!stop.isRaised)
        #expect(stop.raise())
        #expect(!stop.raise())
        #expect(stop.isRaised)
    }
}

@Suite struct FNV1a64Tests {
    /// The published FNV-1a 64 test vectors; a seed is XORed into the offset basis (which is how leave-labels-out
    /// deals its folds and training picks each track's degraded copy, so these values must never change).
    @Test func stringsHashToThePublishedValues() {
        #expect(ContentHash.FNV1a64.of("") == 0xcbf2_9ce4_8422_2325)
        #expect(ContentHash.FNV1a64.of("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(ContentHash.FNV1a64.of("foobar") == 0x8594_4171_f739_67e8)
        #expect(ContentHash.FNV1a64.of("a", seed: 1) == 0xaf63_dd4c_8601_ee3f)
        var split = ContentHash.FNV1a64()
        split.add("foo")
        split.add("bar")
        #expect(split.value == ContentHash.FNV1a64.of("foobar"))
    }
}
