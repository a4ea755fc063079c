import Foundation
import RetrieveCore
import Testing

@Suite struct NumPyArrayTests {
    @Test func roundTripsAndReadsFloat64AndFortranOrder() throws {
        let m = Matrix(rows: 2, columns: 3, storage: [1, 2, 3, 4, 5, -6.5])
        let data = NumPyArray(m).npyData()
        #expect((data.count - 6 * 4) % 64 == 0)  // header padded to a multiple of 64 bytes
        let back = try NumPyArray(npyData: data)
        #expect(back.shape == [2, 3] && back.matrix == m)
        // A float64, Fortran-ordered 2×2 written by hand: [[1, 2], [3, 4]] stored column-major.
        var header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }"
        header += String(repeating: " ", count: 128 - 10 - header.utf8.count - 1) + "\n"
        var f64 = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8))
        for v in [1.0, 3.0, 2.0, 4.0] { withUnsafeBytes(of: v.bitPattern.littleEndian) { f64.append(contentsOf: $0) } }
        #expect(try NumPyArray(npyData: f64).values == [1, 2, 3, 4])
        #expect(throws: NumPyFormatError.self) { try NumPyArray(npyData: Data("hello".utf8)) }
        #expect(throws: NumPyFormatError.self) { try NumPyArray(npyData: data.prefix(data.count - 1)) }
    }

    @Test func aHostileShapeIsRefusedNotTrapped() throws {
        for shape in ["(9223372036854775807, 2)", "(4294967296, 4294967296)", "(2000000, 2000000)"] {
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
            header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
            var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
            data.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
            data.append(contentsOf: Array(header.utf8))
            #expect(throws: NumPyFormatError.self) { try NumPyArray(npyData: data, path: "hostile.npy") }
        }
    }
}
