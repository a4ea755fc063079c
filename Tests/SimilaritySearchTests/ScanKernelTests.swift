import RetrieveCore
@testable import SimilaritySearch
import Testing
import TestSupport

/// The C scan kernel (vector and portable paths) against a naive double-precision dot product, on shapes that
/// exercise every remainder: rows not a multiple of the eight-row unroll, dimensions not a multiple of 8 or 16.
@Suite struct ScanKernelTests {
    static func unitRows(rows: Int, columns: Int, seed: UInt64) -> Matrix {
        var rng = SeededGenerator(seed: seed)
        var storage = [Float]()
        storage.reserveCapacity(rows * columns)
        for _ in 0..<rows {
            let row = (0..<columns).map { _ in Float.random(in: -1...1, using: &rng) }
            let norm = max(row.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-6)
            storage += row.map { $0 / norm }
        }
        return Matrix(rows: rows, columns: columns, storage: storage)
    }

    static func kernelScores(_ m: Matrix, _ query: [Float], _ kernel: ScanKernel) -> [Float] {
        var out = [Float](repeating: .nan, count: m.rows)
        m.storage.withUnsafeBufferPointer { v in
            query.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    kernel.scores(
                        v, dimensions: m.columns, firstRow: 0, rowCount: m.rows, query: q, into: o.baseAddress!)
                }
            }
        }
        return out
    }

    @Test(arguments: [ScanKernel.automatic, .portable, .avx2], [1, 3, 8, 15, 16, 17, 31, 32, 33, 128, 130])
    func scoresMatchDoublePrecision(kernel: ScanKernel, dimensions d: Int) {
        for rows in [1, 7, 8, 9, 37, 1003] {
            let m = Self.unitRows(rows: rows, columns: d, seed: UInt64(rows * 1000 + d))
            let query = Self.unitRows(rows: 1, columns: d, seed: UInt64(d) &+ 77).row(0)
            let got = Self.kernelScores(m, query, kernel)
            for r in 0..<rows {
                var exact = 0.0
                for c in 0..<d { exact += Double(m[r, c]) * Double(query[c]) }
                #expect(abs(Double(got[r]) - exact) <= 1e-5, "row \(r) of \(rows), d = \(d)")
            }
        }
    }

    @Test func offsetBlocksScoreTheRightRows() {
        // A block starting mid-matrix reads exactly its own rows and writes exactly rowCount scores.
        let m = Self.unitRows(rows: 50, columns: 17, seed: 5)
        let query = Self.unitRows(rows: 1, columns: 17, seed: 6).row(0)
        let all = Self.kernelScores(m, query, .automatic)
        var out = [Float](repeating: -7, count: 20)
        m.storage.withUnsafeBufferPointer { v in
            query.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    ScanKernel.automatic.scores(
                        v, dimensions: 17, firstRow: 31, rowCount: 19, query: q, into: o.baseAddress!)
                }
            }
        }
        #expect(Array(out[0..<19]) == Array(all[31..<50]))
        #expect(out[19] == -7)
    }

    @Test func bothKernelsGiveTheBruteForceTopK() {
        // Small integers: every dot product is exact in Float, so both paths must agree with brute force bit
        // for bit, ties included; 40 000 rows cross scan blocks, d = 13 leaves a masked tail.
        let vectors = VectorCollectionTests.integerMatrix(rows: 40_000, columns: 13, seed: 21, range: -3...3)
        let collection = VectorCollection(vectors: vectors)
        for q in 0..<3 {
            let query = VectorCollectionTests.integerMatrix(rows: 1, columns: 13, seed: 200 + UInt64(q)).row(0)
            let expected = VectorCollectionTests.bruteForce(vectors, query, k: 30)
            #expect(collection.nearest(to: query, k: 30, kernel: .portable) == expected)
            #expect(collection.nearest(to: query, k: 30, kernel: .automatic) == expected)
            #expect(collection.nearest(to: query, k: 30, kernel: .avx2) == expected)
            #expect(
                collection.nearest(to: query, k: 30, kernel: .portable) { $0 % 3 == 0 }
                    == VectorCollectionTests.bruteForce(vectors, query, k: 30) { $0 % 3 == 0 })
        }
    }

    @Test func vectorKernelIsAvailableOnX86WithAVX2() {
        // Not a correctness check: records which path `automatic` took, so a CI log shows what was tested.
        #if arch(x86_64)
        let path = ScanKernel.hasAVX512Kernel ? "AVX-512F (AVX2+FMA tested too)"
            : ScanKernel.hasVectorKernel ? "AVX2+FMA" : "portable only"
        print("ScanKernel: automatic runs \(path)")
        #else
        #expect(!ScanKernel.hasVectorKernel)
        #endif
    }
}
