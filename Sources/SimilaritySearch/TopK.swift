/// Many fixed-capacity top-k selections in flat storage, one per query row.
///
/// Each selection is a binary min-heap ordered "worst first": the root is the weakest of the kept
/// candidates, so a new candidate is compared against one number (`floors[h]`) and rejected in the common
/// case without touching the heap. Better means a higher score, or an equal score and a lower index, which
/// makes results deterministic under ties. NaN scores never enter (`!(s >= floor)` rejects them).
///
/// Measured against swift-collections' `Heap` (a min-max heap, insert then `removeMin` when over capacity):
/// see `bench/README.md` (`## search`); the flat hand-written heap wins because the reject path is one
/// compare against a contiguous array of floors and there is no per-heap allocation.
struct TopKHeaps: ~Copyable, @unchecked Sendable {
    // @unchecked: raw storage; several threads may use one set only on disjoint heaps (`VectorCollection.allNearest`).
    let k: Int
    let heapCount: Int
    private let scores: UnsafeMutablePointer<Float>
    private let indices: UnsafeMutablePointer<Int32>
    private let sizes: UnsafeMutablePointer<Int32>
    /// The score a candidate must reach to be considered: `-infinity` until the heap is full, then its root.
    let floors: UnsafeMutablePointer<Float>

    init(heapCount: Int, k: Int) {
        precondition(k >= 0 && heapCount >= 0)
        self.k = k
        self.heapCount = heapCount
        let slots = max(heapCount * k, 1)
        scores = .allocate(capacity: slots)
        indices = .allocate(capacity: slots)
        sizes = .allocate(capacity: max(heapCount, 1))
        sizes.initialize(repeating: 0, count: max(heapCount, 1))
        floors = .allocate(capacity: max(heapCount, 1))
        // With k = 0 nothing may ever enter: a floor of +infinity is never beaten (NaN is rejected anyway).
        floors.initialize(repeating: k == 0 ? .infinity : -.infinity, count: max(heapCount, 1))
    }

    deinit {
        scores.deallocate()
        indices.deallocate()
        sizes.deallocate()
        floors.deallocate()
    }

    /// `true` if (sa, ia) is worse than (sb, ib).
    @inline(__always)
    private static func worse(_ sa: Float, _ ia: Int32, _ sb: Float, _ ib: Int32) -> Bool {
        sa < sb || (sa == sb && ia > ib)
    }

    /// Offers a candidate whose score already passed `s >= floors[h]`; `include` is consulted only if it
    /// would enter, so expensive predicates cost nothing for the bulk of rejected candidates.
    ///
    /// - Complexity: O(log k)
    @inline(__always)
    func offer(_ h: Int, score s: Float, index: Int, include: (() -> Bool)?) {
        let base = h &* k
        let size = Int(sizes[h])
        let idx = Int32(truncatingIfNeeded: index)
        if size == k {
            // Full: must beat the root (ties broken by index).
            guard Self.worse(scores[base], indices[base], s, idx) else { return }
            if let include, !include() { return }
            siftDown(base: base, size: size, score: s, index: idx)
            floors[h] = scores[base]
        } else {
            if let include, !include() { return }
            var i = size
            while i > 0 {
                let p = (i &- 1) >> 1
                guard Self.worse(s, idx, scores[base &+ p], indices[base &+ p]) else { break }
                scores[base &+ i] = scores[base &+ p]
                indices[base &+ i] = indices[base &+ p]
                i = p
            }
            scores[base &+ i] = s
            indices[base &+ i] = idx
            sizes[h] = Int32(size &+ 1)
            if size &+ 1 == k { floors[h] = scores[base] }
        }
    }

    /// Replaces the root with (s, idx) and restores the heap order.
    @inline(__always)
    private func siftDown(base: Int, size: Int, score s: Float, index idx: Int32) {
        var i = 0
        while true {
            let l = 2 &* i &+ 1
            if l >= size { break }
            var c = l
            let r = l &+ 1
            if r < size && Self.worse(scores[base &+ r], indices[base &+ r], scores[base &+ l], indices[base &+ l]) {
                c = r
            }
            guard Self.worse(scores[base &+ c], indices[base &+ c], s, idx) else { break }
            scores[base &+ i] = scores[base &+ c]
            indices[base &+ i] = indices[base &+ c]
            i = c
        }
        scores[base &+ i] = s
        indices[base &+ i] = idx
    }

    /// Offers every score of one row of candidates, `candidates[j]` being candidate `firstIndex + j`.
    ///
    /// - Complexity: O(n) compares plus O(log k) per candidate that enters.
    @inline(__always)
    func offerRow(
        _ h: Int, _ candidates: UnsafePointer<Float>, count n: Int, firstIndex: Int, skip: Int = -1,
        include: ((Int) -> Bool)?
    ) {
        var floor = floors[h]
        var j = 0
        // Sixteen candidates per compare: once the heap is full almost every block is rejected whole.
        let whole = n & ~15
        let raw = UnsafeRawPointer(candidates)
        // The splat is rebuilt only when the floor moves: `SIMD16(repeating:)` compiles to sixteen stores.
        var floorVector = SIMD16<Float>(repeating: floor)
        while j < whole {
            let block = raw.loadUnaligned(fromByteOffset: j &* 4, as: SIMD16<Float>.self)
            if any(block .>= floorVector) {
                for t in j..<(j &+ 16) {
                    offerIfAbove(h, candidates[t], firstIndex &+ t, skip: skip, include: include, floor: &floor)
                }
                floorVector = SIMD16<Float>(repeating: floor)
            }
            j &+= 16
        }
        while j < n {
            offerIfAbove(h, candidates[j], firstIndex &+ j, skip: skip, include: include, floor: &floor)
            j &+= 1
        }
    }

    @inline(__always)
    private func offerIfAbove(
        _ h: Int, _ s: Float, _ index: Int, skip: Int, include: ((Int) -> Bool)?, floor: inout Float
    ) {
        if !(s >= floor) || index == skip { return }
        if let include {
            offer(h, score: s, index: index, include: { include(index) })
        } else {
            offer(h, score: s, index: index, include: nil)
        }
        floor = floors[h]
    }

    /// Offers candidate `index` to heaps `firstHeap ..< firstHeap + n`, `scores[j]` going to heap
    /// `firstHeap + j`: one row of a score tile read as a column of other queries' candidates.
    ///
    /// - Complexity: O(n) compares plus O(log k) per heap the candidate enters.
    @inline(__always)
    func offerColumn(
        _ scores: UnsafePointer<Float>, count n: Int, firstHeap: Int, index: Int, include: ((Int, Int) -> Bool)?
    ) {
        let floors = self.floors + firstHeap
        let raw = UnsafeRawPointer(scores), rawFloors = UnsafeRawPointer(floors)
        var j = 0
        let whole = n & ~15
        while j < whole {
            let block = raw.loadUnaligned(fromByteOffset: j &* 4, as: SIMD16<Float>.self)
            let limits = rawFloors.loadUnaligned(fromByteOffset: j &* 4, as: SIMD16<Float>.self)
            if any(block .>= limits) {
                for t in j..<(j &+ 16) where scores[t] >= floors[t] {
                    offerTo(firstHeap &+ t, scores[t], index, include)
                }
            }
            j &+= 16
        }
        while j < n {
            if scores[j] >= floors[j] { offerTo(firstHeap &+ j, scores[j], index, include) }
            j &+= 1
        }
    }

    @inline(__always)
    private func offerTo(_ target: Int, _ s: Float, _ index: Int, _ include: ((Int, Int) -> Bool)?) {
        if let include {
            offer(target, score: s, index: index, include: { include(target, index) })
        } else {
            offer(target, score: s, index: index, include: nil)
        }
    }

    /// Selection `h` as neighbours, best first (score descending, ties by ascending index).
    ///
    /// - Complexity: O(k log k)
    func sorted(_ h: Int) -> [Neighbour] {
        let base = h * k
        let size = Int(sizes[h])
        var result = [Neighbour]()
        result.reserveCapacity(size)
        for i in 0..<size { result.append(Neighbour(index: Int(indices[base + i]), score: scores[base + i])) }
        result.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        return result
    }
}
