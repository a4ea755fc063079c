import Testing
import LinearAlgebra
import RetrieveCore
import TestSupport

/// Checks the BLAS wrappers against a naive triple loop, in every transpose combination.
@Suite struct BLASTests {
    func naive(_ a: Matrix, _ b: Matrix) -> Matrix {
        var c = Matrix(rows: a.rows, columns: b.columns)
        for i in 0..<a.rows { for j in 0..<b.columns { for k in 0..<a.columns { c[i, j] += a[i, k] * b[k, j] } } }
        return c
    }

    @Test(arguments: [(Transpose.none, Transpose.none), (.transposed, .none), (.none, .transposed), (.transposed, .transposed)])
    func gemmMatchesNaiveProduct(transA: Transpose, transB: Transpose) {
        var rng = SeededGenerator(seed: 7)
        let a = rng.matrix(rows: 5, columns: 7), b = rng.matrix(rows: 7, columns: 3)
        let storedA = transA == .none ? a : a.transposed()
        let storedB = transB == .none ? b : b.transposed()
        let c = BLAS.multiply(storedA, transA, storedB, transB)
        #expect(Approx.maxAbsDifference(c.storage, naive(a, b).storage) < 1e-5)
    }

    @Test func gemvMatchesGemm() {
        var rng = SeededGenerator(seed: 8)
        let a = rng.matrix(rows: 6, columns: 4)
        let x = (0..<4).map { _ in Float.random(in: -1...1, using: &rng) }
        let y = BLAS.multiply(a, vector: x)
        let expected = naive(a, Matrix(rows: 4, columns: 1, storage: x)).storage
        #expect(Approx.maxAbsDifference(y, expected) < 1e-5)
        let yt = BLAS.multiply(a.transposed(), .transposed, vector: x)
        #expect(Approx.maxAbsDifference(yt, expected) < 1e-5)
    }

    @Test func emptyInnerDimensionGivesZeros() {
        let c = BLAS.multiply(Matrix(rows: 2, columns: 0), Matrix(rows: 0, columns: 3))
        #expect(c.storage == [Float](repeating: 0, count: 6))
    }
}
