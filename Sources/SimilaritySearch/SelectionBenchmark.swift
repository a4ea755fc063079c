import Collections

/// Two top-k selections over one array of scores, exposed to `bench/run search` only, which times them
/// against each other to justify the hand-written heap in `TopKHeaps`.
@_spi(Benchmarks)
public enum SelectionBenchmark {
    /// The flat fixed-size min-heap used by `VectorCollection`.
    public static func handWritten(_ scores: [Float], k: Int) -> [Neighbour] {
        let heaps = TopKHeaps(heapCount: 1, k: min(k, scores.count))
        scores.withUnsafeBufferPointer {
            heaps.offerRow(0, $0.baseAddress!, count: $0.count, firstIndex: 0, include: nil)
        }
        return heaps.sorted(0)
    }

    /// The same selection with swift-collections' `Heap` (min-max heap): insert until full, then
    /// `replaceMin` when a candidate beats the weakest kept one.
    public static func collectionsHeap(_ scores: [Float], k: Int) -> [Neighbour] {
        struct Entry: Comparable {
            var score: Float
            var index: Int
            // "Less" = worse: lower score, or equal score and higher index.
            static func < (a: Entry, b: Entry) -> Bool {
                a.score < b.score || (a.score == b.score && a.index > b.index)
            }
        }
        guard k > 0 else { return [] }
        var heap = Heap<Entry>()
        for (i, s) in scores.enumerated() where !s.isNaN {
            let entry = Entry(score: s, index: i)
            if heap.count < k {
                heap.insert(entry)
            } else if heap.min! < entry {
                _ = heap.replaceMin(with: entry)
            }
        }
        var result = [Neighbour]()
        while let best = heap.popMax() { result.append(Neighbour(index: best.index, score: best.score)) }
        return result
    }
}
