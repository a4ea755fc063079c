import Foundation

/// The byte layout of a stored vector: float32, little-endian, no header; length = dimensions × 4.
///
/// Decoding copies bytes into Float storage and never rebinds the source, because SQLite hands BLOBs back
/// at arbitrary alignment. Both directions are bit-exact (NaN payloads, signed zeros and subnormals included).
public enum VectorCodec {
    public static func encode(_ values: [Float]) -> Data {
        #if _endian(little)
            return values.withUnsafeBytes { Data($0) }
        #else
            return values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        #endif
    }

    /// Copies `raw.count / 4` floats from `raw` (any alignment) into `destination`; counts must match.
    package static func decode(_ raw: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(raw.count == destination.count * 4, "Vector has \(raw.count) bytes, need \(destination.count * 4)")
        UnsafeMutableRawBufferPointer(destination).copyMemory(from: raw)
        #if _endian(big)
            for i in destination.indices {
                destination[i] = Float(bitPattern: UInt32(littleEndian: destination[i].bitPattern))
            }
        #endif
    }

    static func decode(_ data: Data) -> [Float] {
        var values = [Float](repeating: 0, count: data.count / 4)
        data.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer {
                decode(UnsafeRawBufferPointer(rebasing: raw[0..<($0.count * 4)]), into: $0)
            }
        }
        return values
    }
}
