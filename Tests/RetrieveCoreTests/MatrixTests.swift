import Testing
import RetrieveCore

@Suite struct MatrixTests {
    @Test func rowMajorLayoutAndTranspose() {
        let m = Matrix(rowArrays: [[1, 2, 3], [4, 5, 6]])
        #expect(m[1, 0] == 4)
        #expect(m.row(0) == [1, 2, 3])
        let t = m.transposed()
        #expect(t.rows == 3 && t.columns == 2)
        #expect(t.storage == [1, 4, 2, 5, 3, 6])
        #expect(t.transposed() == m)
    }

    @Test func appendRowGrowsMatrix() {
        var m = Matrix(rows: 0, columns: 2)
        m.appendRow([1, 2])
        m.appendRow([3, 4])
        #expect(m.rows == 2)
        #expect(m.rows(1..<2).storage == [3, 4])
    }

    @Test func embeddingsAreUnitLengthAndZeroStaysZero() {
        let e = Embedding(normalising: [3, 4])
        #expect(abs(e.values[0] - 0.6) < 1e-6 && abs(e.values[1] - 0.8) < 1e-6)
        #expect(Embedding(normalising: [0, 0]).values == [0, 0])
        let pooled = Embedding.pooled([Embedding(normalising: [1, 0]), Embedding(normalising: [0, 1])])!
        #expect(abs(pooled.cosine(Embedding(normalising: [1, 1])) - 1) < 1e-6)
    }
}
