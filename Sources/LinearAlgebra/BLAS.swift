internal import CBLAS
public import RetrieveCore

/// Whether an operand enters a product as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
    fileprivate var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Thin, shape-checked wrappers over CBLAS (OpenBLAS). This is the only module that touches BLAS.
///
/// The pointer-level functions exist for the hot loops (LSTM steps, top-k scans) that keep their own
/// preallocated buffers; the `Matrix` functions are for everything else. All matrices are row-major.
public enum BLAS {
    /// C ← alpha · op(A) · op(B) + beta · C, on raw row-major buffers.
    ///
    /// `m × k` is the shape of op(A), `k × n` of op(B), `m × n` of C; `lda`, `ldb`, `ldc` are the
    /// row strides of the stored (untransposed) buffers.
    @inlinable
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        rawGemm(
            transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
            beta: beta, c: c, ldc: ldc)
    }

    @usableFromInline
    static func rawGemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y ← alpha · op(A) · x + beta · y, on a raw row-major `rows × columns` buffer.
    public static func gemv(
        _ trans: Transpose, rows: Int, columns: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        guard rows > 0, columns > 0 else { return }
        cblas_sgemv(CblasRowMajor, trans.cblas, Int32(rows), Int32(columns), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// Σ x_i · y_i over `count` floats (`sdot`).
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        guard count > 0 else { return 0 }
        return cblas_sdot(Int32(count), x, 1, y, 1)
    }

    /// A · B as a new matrix.
    public static func multiply(_ a: Matrix, _ b: Matrix) -> Matrix {
        multiply(a, .none, b, .none)
    }

    /// op(A) · op(B) as a new matrix.
    public static func multiply(_ a: Matrix, _ transA: Transpose, _ b: Matrix, _ transB: Transpose) -> Matrix {
        let (m, ka) = transA == .none ? (a.rows, a.columns) : (a.columns, a.rows)
        let (kb, n) = transB == .none ? (b.rows, b.columns) : (b.columns, b.rows)
        precondition(ka == kb, "Inner dimensions differ: op(A) is \(m)×\(ka), op(B) is \(kb)×\(n)")
        var c = Matrix(rows: m, columns: n)
        if ka == 0 { return c }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                c.storage.withUnsafeMutableBufferPointer { pc in
                    rawGemm(
                        transA, transB, m: m, n: n, k: ka, alpha: 1, a: pa.baseAddress!, lda: max(a.columns, 1),
                        b: pb.baseAddress!, ldb: max(b.columns, 1), beta: 0, c: pc.baseAddress!, ldc: max(n, 1))
                }
            }
        }
        return c
    }

    /// A · x (or Aᵀ · x) as a new vector.
    public static func multiply(_ a: Matrix, _ trans: Transpose = .none, vector x: [Float]) -> [Float] {
        let (outCount, inCount) = trans == .none ? (a.rows, a.columns) : (a.columns, a.rows)
        precondition(x.count == inCount, "Vector has \(x.count) elements, op(A) has \(inCount) columns")
        var y = [Float](repeating: 0, count: outCount)
        if a.storage.isEmpty { return y }
        a.storage.withUnsafeBufferPointer { pa in
            x.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    gemv(
                        trans, rows: a.rows, columns: a.columns, a: pa.baseAddress!, lda: a.columns,
                        x: px.baseAddress!, y: py.baseAddress!)
                }
            }
        }
        return y
    }

    /// Sets the number of threads OpenBLAS may use for the rest of the process.
    ///
    /// Callers decide per workload: one thread when the caller already runs work on every core (parallel
    /// decoders, our own per-batch parallelism), all cores for one large product.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS uses now.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
