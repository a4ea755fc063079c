/// A dense, row-major matrix of single-precision floats.
///
/// Every stage passes frames, weights and embeddings as `Matrix`: rows are time frames, tracks or
/// output units, columns are bands, features or input units. Storage is one contiguous `[Float]`
/// so that it can be handed to BLAS and FFTW without copying.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public private(set) var rows: Int
    /// Number of columns.
    public let columns: Int
    /// Row-major elements; element (r, c) is at `r * columns + c`.
    public var storage: [Float]

    /// A matrix of the given shape, every element `value`.
    public init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0, "Matrix shape must be non-negative, got \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        self.storage = [Float](repeating: value, count: rows * columns)
    }

    /// A matrix over existing row-major storage; `storage.count` must equal `rows * columns`.
    public init(rows: Int, columns: Int, storage: [Float]) {
        precondition(
            storage.count == rows * columns,
            "Matrix storage holds \(storage.count) elements, shape \(rows)×\(columns) needs \(rows * columns)")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// A matrix from an array of equally long rows.
    public init(rowArrays: [[Float]]) {
        let columns = rowArrays.first?.count ?? 0
        precondition(rowArrays.allSatisfy { $0.count == columns }, "All rows must have \(columns) columns")
        self.init(rows: rowArrays.count, columns: columns, storage: rowArrays.flatMap { $0 })
    }

    /// The element at row `r`, column `c`.
    @inlinable
    public subscript(r: Int, c: Int) -> Float {
        get { storage[r * columns + c] }
        set { storage[r * columns + c] = newValue }
    }

    /// A copy of row `r`.
    public func row(_ r: Int) -> [Float] {
        Array(storage[(r * columns)..<((r + 1) * columns)])
    }

    /// The transpose, as a new matrix.
    ///
    /// - Complexity: O(rows × columns)
    public func transposed() -> Matrix {
        var result = Matrix(rows: columns, columns: rows)
        for r in 0..<rows {
            for c in 0..<columns {
                result.storage[c * rows + r] = storage[r * columns + c]
            }
        }
        return result
    }

    /// Appends one row; `values.count` must equal `columns`.
    public mutating func appendRow<C: Collection<Float>>(_ values: C) {
        precondition(values.count == columns, "Row has \(values.count) values, matrix has \(columns) columns")
        storage.append(contentsOf: values)
        rows += 1
    }

    /// Rows `range` as a new matrix.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(
            rows: range.count, columns: columns,
            storage: Array(storage[(range.lowerBound * columns)..<(range.upperBound * columns)]))
    }
}
