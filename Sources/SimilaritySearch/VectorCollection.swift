public import RetrieveCore
import LinearAlgebra

/// One search result: the row of a stored vector and its score against the query.
public struct Neighbour: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The row of the vector in its `VectorCollection`.
    public let index: Int
    /// The dot product with the query; the cosine similarity when both are unit length.
    public let score: Float

    public init(index: Int, score: Float) {
        self.index = index
        self.score = score
    }

    public var description: String { "\(index): \(score)" }
}

/// A set of equally long vectors held contiguously (one row-major `Matrix`, rows = items), searched exactly.
///
/// The score of a candidate is its dot product with the query, computed by our scan kernel for one query
/// (C, AVX2+FMA when the CPU has it: see `ScanKernel`) and by BLAS for many (blocked `sgemm`); on unit
/// vectors this is the cosine similarity. The search is exhaustive and exact up to float rounding: the
/// kernel and BLAS sum in their own orders, so scores can differ from a naive loop in the
/// last bits (about 1e-7 relative for unit vectors of a few hundred dimensions), and two candidates whose
/// scores differ by less than that may swap places. Equal scores are ordered by ascending index.
///
/// The top-k selection is bounded (O(k) memory per query, never a full sort). Filters (`where:`) are
/// evaluated lazily, only for candidates whose score would put them into the current top k, in ascending
/// index order per query; they must be pure. So an over-fetch such as "k + 50, then drop same-album
/// results" is cheap, and a filter can be a dictionary lookup without slowing the scan.
///
/// Threading: a single query runs on the calling thread (the scan kernel does not use BLAS). For batches and
/// all-pairs the collection never changes OpenBLAS's thread count; the caller decides
/// (`BLAS.setThreadCount`). Our recommendation, measured on the two shared cores of the CI machine
/// (`bench/README.md`, `## search`): one thread. With other work on the machine a second OpenBLAS thread made
/// 1000-query batches 1.3–2.2× more expensive in CPU time (and, back when single queries used `sgemv`, those
/// 1.4×; one core already streams ~20 GB/s), and no wall time improved. Only a batch or
/// all-against-all run on an otherwise idle machine gains from two threads (sgemm is compute bound); the
/// top-k selection itself is single-threaded.
public struct VectorCollection: Sendable {
    /// Whether single-query scans run our own kernel on this CPU (AVX2+FMA or AVX-512F) rather than BLAS.
    public static var scansWithoutBLAS: Bool { ScanKernel.hasVectorKernel }

    /// The stored vectors, one per row.
    public let vectors: Matrix

    /// Wraps `vectors` (rows = items). Indices are limited to `Int32` (about two billion rows).
    ///
    /// The storage is used as is, never copied. For large collections prefer storage backed by huge pages
    /// (`IndexStore.loadVectors` provides it): a scan is ~20 % faster without 4 KiB-page TLB misses.
    public init(vectors: Matrix) {
        precondition(vectors.rows < Int(Int32.max), "A collection holds at most \(Int32.max) vectors")
        self.vectors = vectors
    }

    /// The number of vectors.
    public var count: Int { vectors.rows }
    /// The length of each vector.
    public var dimensions: Int { vectors.columns }

    /// A copy of vector `index`.
    public func vector(at index: Int) -> [Float] { vectors.row(index) }

    /// The score of every stored vector against `query`, in row order (for evaluation: ranks, recall).
    ///
    /// - Complexity: O(count × dimensions)
    public func scores(to query: [Float]) -> [Float] {
        precondition(query.count == dimensions, "Query has \(query.count) dimensions, collection has \(dimensions)")
        if count == 0 { return [] }
        return BLAS.multiply(vectors, vector: query)
    }

    /// The `k` stored vectors with the highest score against `query`, best first.
    ///
    /// Returns fewer than `k` if fewer vectors exist or pass `include` (a predicate on the candidate row).
    ///
    /// - Complexity: O(count × dimensions) for the scores, plus O(count + m log k) for the selection where
    ///   m ≤ count is the number of candidates that entered the top k while scanning.
    public func nearest(to query: [Float], k: Int, where include: ((Int) -> Bool)? = nil) -> [Neighbour] {
        nearest(to: query, k: k, kernel: .automatic, where: include)
    }

    /// `nearest(to:k:where:)` with the scan kernel chosen (tests force `.portable` to cover CPUs without AVX2).
    func nearest(to query: [Float], k: Int, kernel: ScanKernel, where include: ((Int) -> Bool)? = nil) -> [Neighbour] {
        precondition(query.count == dimensions, "Query has \(query.count) dimensions, collection has \(dimensions)")
        let scan = NearestScan(query: query, k: min(k, count), kernel: kernel, where: include)
        vectors.storage.withUnsafeBufferPointer { scan.offer($0, firstRow: 0) }
        return scan.result()
    }

    /// Stored vectors scored per kernel call in `nearest(to:)`: 64 KiB of scores, which stay in L2.
    static let scanBlock = 16_384

    /// The `k` nearest neighbours of stored vector `index`, leaving out the vector itself when
    /// `excludingSelf` (a track is not its own recommendation; exact duplicates still appear).
    public func nearest(
        toItem index: Int, k: Int, excludingSelf: Bool = true, where include: ((Int) -> Bool)? = nil
    ) -> [Neighbour] {
        precondition(index >= 0 && index < count, "Item \(index) is outside 0..<\(count)")
        if !excludingSelf { return nearest(to: vector(at: index), k: k, where: include) }
        return nearest(to: vector(at: index), k: k) { candidate in
            candidate != index && (include?(candidate) ?? true)
        }
    }

    /// Rows of queries per `sgemm` tile in `nearest(toEach:)`.
    static let queryBlock = 1024
    /// Stored vectors per `sgemm` tile; queryBlock × vectorBlock floats (4 MiB) is the scratch memory.
    static let vectorBlock = 1024

    /// The `k` nearest stored vectors of each row of `queries`, best first; `include(queryRow, candidate)`.
    ///
    /// Scores are computed tile by tile (up to 1024 queries × 1024 stored vectors per `sgemm`), so scratch
    /// memory stays at 4 MiB plus k entries per query however large the collection.
    ///
    /// - Complexity: O(queries × count × dimensions) for the products, plus the selection as in
    ///   `nearest(to:k:where:)` for each query.
    public func nearest(toEach queries: Matrix, k: Int, where include: ((Int, Int) -> Bool)? = nil) -> [[Neighbour]] {
        precondition(k >= 0, "k must be non-negative, got \(k)")
        precondition(
            queries.columns == dimensions || queries.rows == 0,
            "Queries have \(queries.columns) dimensions, collection has \(dimensions)")
        let nq = queries.rows
        if k == 0 || count == 0 || nq == 0 { return Array(repeating: [], count: nq) }
        let d = dimensions, n = count
        let qb = Self.queryBlock, vb = Self.vectorBlock
        var results = [[Neighbour]]()
        results.reserveCapacity(nq)
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: min(qb, nq) * min(vb, n))
        defer { tile.deallocate() }
        queries.storage.withUnsafeBufferPointer { q in
            vectors.storage.withUnsafeBufferPointer { v in
                for q0 in stride(from: 0, to: nq, by: qb) {
                    let rows = min(qb, nq - q0)
                    let heaps = TopKHeaps(heapCount: rows, k: min(k, n))
                    for v0 in stride(from: 0, to: n, by: vb) {
                        let cols = min(vb, n - v0)
                        BLAS.gemm(
                            .none, .transposed, m: rows, n: cols, k: d, a: q.baseAddress! + q0 * d, lda: d,
                            b: v.baseAddress! + v0 * d, ldb: d, c: tile, ldc: cols)
                        for r in 0..<rows {
                            let queryRow = q0 + r
                            heaps.offerRow(
                                r, tile + r * cols, count: cols, firstIndex: v0,
                                include: include.map { f in { f(queryRow, $0) } })
                        }
                    }
                    for r in 0..<rows { results.append(heaps.sorted(r)) }
                }
            }
        }
        return results
    }
}
