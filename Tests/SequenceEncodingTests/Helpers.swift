import Foundation
import RetrieveCore
@testable import SequenceEncoding

enum Fixtures {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")
            ?? Bundle.module.resourceURL!.appendingPathComponent("Fixtures/\(name)")
    }

    static func safetensors(_ name: String) throws -> SafeTensorsFile {
        let u = url(name)
        return try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: u)), path: u.path)
    }

    /// Splits a [B, T, F] tensor into B segment matrices.
    static func segments(_ t: SafeTensorsFile.Tensor) -> [Matrix] {
        let (b, rows, cols) = (t.shape[0], t.shape[1], t.shape[2])
        return (0..<b).map { i in
            Matrix(rows: rows, columns: cols, storage: Array(t.values[(i * rows * cols)..<((i + 1) * rows * cols)]))
        }
    }
}

/// Minimal .npy (version 1.0, little-endian float32, C order) reading and writing for the reverse fixture.
enum NPY {
    static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let n = UInt16(header.utf8.count)
        bytes += [UInt8(n & 0xff), UInt8(n >> 8)] + Array(header.utf8)
        values.withUnsafeBytes { bytes += $0 }
        try Data(bytes).write(to: url)
    }

    static func read(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](try Data(contentsOf: url))
        let n = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + n)], as: UTF8.self)
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var values = [Float](repeating: 0, count: (bytes.count - 10 - n) / 4)
        values.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[(10 + n)...])) } }
        return (shape, values)
    }
}
