import Foundation

/// A fast fingerprint of a file's bytes, stored in `tracks.content_hash` to recognise moved files.
///
/// Format `h1:<size in bytes>:<16 hex digits>`: the 64-bit FNV-1a hash of the first and last 64 KiB (the
/// whole file if it is smaller than 128 KiB), with the size in the clear. Reading 128 KiB instead of the
/// whole file keeps a rescan of a large library cheap (a full SHA-256 of 10 000 FLAC files reads ~300 GB).
/// It is a heuristic, not a proof of identity: two files that share size, head and tail but differ in the
/// middle collide. Audio files practically never do (the head holds the start of the audio stream), and
/// the indexer treats a hash match as a move only when the old path has disappeared, so a collision can at
/// worst carry one track's embedding over to an identical-looking file. Not cryptographic.
public enum ContentHash {
    /// Bytes read from each end.
    public static let edgeBytes = 64 * 1024

    /// The fingerprint of the file at `path`; throws Foundation's error if it cannot be read.
    public static func ofFile(atPath path: String) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 0)
        var hash = FNV1a64()
        if size <= UInt64(2 * edgeBytes) {
            hash.add(try handle.readToEnd() ?? Data())
        } else {
            hash.add(try handle.read(upToCount: edgeBytes) ?? Data())
            try handle.seek(toOffset: size - UInt64(edgeBytes))
            hash.add(try handle.read(upToCount: edgeBytes) ?? Data())
        }
        return format(size: size, hash: hash.value)
    }

    /// The fingerprint of in-memory bytes (what `ofFile` computes for a file holding exactly `data`).
    public static func of(_ data: Data) -> String {
        var hash = FNV1a64()
        if data.count <= 2 * edgeBytes {
            hash.add(data)
        } else {
            hash.add(data.prefix(edgeBytes))
            hash.add(data.suffix(edgeBytes))
        }
        return format(size: UInt64(data.count), hash: hash.value)
    }

    private static func format(size: UInt64, hash: UInt64) -> String {
        let hex = String(hash, radix: 16)
        return "h1:\(size):" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// 64-bit FNV-1a over bytes: the one non-cryptographic hash of the code base (file fingerprints, an export's
    /// resume check). Tells states apart; does not resist forgery.
    public struct FNV1a64: Sendable, Equatable {
        public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

        public init() {}

        /// Starts from the offset basis XOR `seed`, so that one seed deals strings differently from another.
        public init(seed: UInt64) { value ^= seed }

        /// The hash of `string`'s UTF-8 bytes, from the offset basis (XOR `seed`).
        public static func of(_ string: String, seed: UInt64 = 0) -> UInt64 {
            var hash = FNV1a64(seed: seed)
            hash.add(string)
            return hash.value
        }

        public mutating func add(_ string: String) {
            var bytes = string
            bytes.withUTF8 { add(UnsafeRawBufferPointer($0)) }
        }

        public mutating func add(_ data: Data) {
            data.withUnsafeBytes { add($0) }
        }

        /// - Complexity: O(bytes), about 1 ns per byte.
        public mutating func add(_ raw: UnsafeRawBufferPointer) {
            var h = value
            for byte in raw {
                h ^= UInt64(byte)
                h &*= 0x0000_0100_0000_01b3
            }
            value = h
        }

        public mutating func add(_ word: Int64) {
            withUnsafeBytes(of: word.littleEndian) { add($0) }
        }
    }
}
