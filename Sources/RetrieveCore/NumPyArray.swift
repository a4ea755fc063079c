public import Foundation

/// A float array with a shape, read from or written to NumPy's `.npy` format (version 1.0).
///
/// `.npy` is how features and embeddings leave the tool (`retrieve features --out`, `retrieve embed`) and how
/// the librosa and PyTorch reference fixtures come in, so one small reader and writer serve both. Values are
/// held as `Float`; reading accepts little-endian `float32` and `float64` (narrowed to `Float`) in C or
/// Fortran order; writing always produces little-endian `float32` in C order.
public struct NumPyArray: Sendable, Equatable {
    /// The dimensions, outermost first (`[rows, columns]` for a matrix).
    public var shape: [Int]
    /// The elements in C (row-major) order; `values.count` is the product of `shape`.
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "NumPy shape must be non-negative, got \(shape)")
        precondition(
            values.count == shape.reduce(1, *),
            "NumPy array of shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
        self.shape = shape
        self.values = values
    }

    /// A 2-D array of the matrix's shape (`rows × columns`).
    public init(_ matrix: Matrix) {
        self.init(shape: [matrix.rows, matrix.columns], values: matrix.storage)
    }

    /// The array as a matrix when it is 2-D (a 1-D array becomes one column), otherwise `nil`.
    public var matrix: Matrix? {
        switch shape.count {
        case 1: return Matrix(rows: shape[0], columns: 1, storage: values)
        case 2: return Matrix(rows: shape[0], columns: shape[1], storage: values)
        default: return nil
        }
    }

    /// The `.npy` serialisation: magic, version 1.0, a header padded to a multiple of 64 bytes, `<f4` data.
    public func npyData() -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let headerLength = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.reserveCapacity(data.count + values.count * 4)
        for v in values {
            let bits = v.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Writes the array as a `.npy` file, replacing any file at `url`.
    public func write(to url: URL) throws {
        try OutputFile.write(npyData(), to: url.path)
    }

    /// Reads a `.npy` file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NumPyFormatError(
                path: url.path, reason: "cannot read the file (\(readFailureReason(error, path: url.path)))")
        }
        try self.init(npyData: data, path: url.path)
    }

    /// Parses `.npy` bytes; `path` only names the source in errors.
    public init(npyData data: Data, path: String = "<data>") throws(NumPyFormatError) {
        let bytes = [UInt8](data)
        let header = try Self.header(of: bytes, path: path)
        let count = header.count, elementSize = header.elementSize
        guard bytes.count - header.dataStart >= count * elementSize else {
            throw NumPyFormatError(
                path: path,
                reason: "truncated data: shape \(header.shape) needs \(count * elementSize) "
                    + "bytes, file has \(bytes.count - header.dataStart)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let offset = header.dataStart + i * elementSize
                if elementSize == 4 {
                    values[i] = Float(
                        bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                } else {
                    values[i] = Float(
                        Double(
                            bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                        ))
                }
            }
        }
        if header.fortranOrder && header.shape.count > 1 { values = Self.rowMajor(values, shape: header.shape) }
        self.init(shape: header.shape, values: values)
    }

    /// What a `.npy` header says: where the data starts, the element size, the order and the shape.
    struct Header {
        var dataStart: Int
        var elementSize: Int
        var fortranOrder: Bool
        var shape: [Int]
        /// The element count; the shape's product was checked not to overflow.
        var count: Int
    }

    static func header(of bytes: [UInt8], path: String) throws(NumPyFormatError) -> Header {
        func fail(_ reason: String) -> NumPyFormatError { NumPyFormatError(path: path, reason: reason) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        if major == 1 {
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerStart = 12
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        } else {
            throw fail("unsupported .npy version \(major)")
        }
        guard bytes.count >= headerStart + headerLength,
            let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else { throw fail("truncated header") }

        func field(_ key: String) -> Substring? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return header[r.upperBound...].drop { $0 == " " }
        }
        guard let descrField = field("descr"), descrField.first == "'",
            let descrEnd = descrField.dropFirst().firstIndex(of: "'")
        else { throw fail("header has no 'descr'") }
        let descr = String(descrField[descrField.index(after: descrField.startIndex)..<descrEnd])
        let elementSize: Int
        switch descr {
        case "<f4", "=f4": elementSize = 4
        case "<f8", "=f8": elementSize = 8
        default: throw fail("dtype '\(descr)' is not supported; save as float32 or float64")
        }
        let fortran = field("fortran_order")?.hasPrefix("True") ?? false
        guard let shapeField = field("shape"), shapeField.first == "(",
            let close = shapeField.firstIndex(of: ")")
        else { throw fail("header has no 'shape'") }
        let dims = shapeField[shapeField.index(after: shapeField.startIndex)..<close]
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let n = Int(d), n >= 0 else { throw fail("bad shape entry '\(d)'") }
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            // A hostile shape must not trap: no real file holds more than 2⁴⁰ elements.
            guard !overflow, product <= 1 << 40 else { throw fail("shape \(dims) is too large") }
            count = product
            shape.append(n)
        }
        return Header(
            dataStart: headerStart + headerLength, elementSize: elementSize, fortranOrder: fortran,
            shape: shape, count: count)
    }

    /// Column-major (Fortran-order) values of `shape` in row-major order: element (i0, i1, …) sits at
    /// Σ i_k · Π_{j<k} shape_j.
    static func rowMajor(_ values: [Float], shape: [Int]) -> [Float] {
        var reordered = [Float](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<values.count {
            var f = 0, stride = 1
            for k in 0..<shape.count { f += index[k] * stride; stride *= shape[k] }
            reordered[c] = values[f]
            var k = shape.count - 1
            while k >= 0 { index[k] += 1; if index[k] < shape[k] { break }; index[k] = 0; k -= 1 }
        }
        return reordered
    }
}

/// A `.npy` file that could not be parsed: which file and why.
public struct NumPyFormatError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String {
        "\(path): not a readable .npy array: \(reason); write it with numpy.save as float32 or float64"
    }
}
