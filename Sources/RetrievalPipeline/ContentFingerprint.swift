import Foundation

/// A cheap fingerprint of a file's bytes, used to recognise a moved or renamed file without re-analysing it.
///
/// It hashes the size and the first and last 64 KiB with 64-bit FNV-1a rather than the whole file: reading a
/// whole collection twice (once to hash, once to decode) would double the cost of every index run, and audio
/// files that agree in size, header, first and last 64 KiB are in practice the same recording. It is not a
/// security hash and is never used as one.
public enum ContentFingerprint {
    static let edgeBytes = 64 * 1024

    /// The fingerprint as 16 hex digits, or nil when the file cannot be read.
    public static func of(path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence<UInt8>>(_ bytes: S) {
            for b in bytes {
                hash ^= UInt64(b)
                hash &*= 0x0000_0100_0000_01B3
            }
        }
        withUnsafeBytes(of: size.littleEndian) { mix($0) }
        do {
            try handle.seek(toOffset: 0)
            mix(try handle.read(upToCount: edgeBytes) ?? Data())
            if size > UInt64(edgeBytes) {
                try handle.seek(toOffset: max(UInt64(edgeBytes), size - UInt64(edgeBytes)))
                mix(try handle.read(upToCount: edgeBytes) ?? Data())
            }
        } catch {
            return nil
        }
        return String(hash, radix: 16).leftPadded(to: 16)
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
