import Foundation

/// MD5 (RFC 1321), for the Subsonic API's token authentication only: `t = md5(password + salt)`.
///
/// Not for anything that needs a secure hash: MD5 is broken for collisions. The Subsonic API chose it, and the
/// package has no other MD5 (Foundation on Linux has no CommonCrypto, and swift-crypto's BoringSSL would be a
/// large build for 40 lines).
enum MD5 {
    private static let shifts: [UInt32] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
        14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15,
        21, 6, 10, 15, 21,
    ]
    /// `floor(abs(sin(i + 1)) · 2³²)`, as RFC 1321 tabulates it.
    private static let constants: [UInt32] = (0..<64).map {
        UInt32(truncatingIfNeeded: Int64(abs(sin(Double($0 + 1))) * 4_294_967_296))
    }

    /// The digest of `bytes` as 32 lower-case hex digits.
    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var message = Array(bytes)
        let bitLength = UInt64(message.count) &* 8
        message.append(0x80)
        while message.count % 64 != 56 { message.append(0) }
        for i in 0..<8 { message.append(UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i)))) }
        var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
        for chunk in stride(from: 0, to: message.count, by: 64) {
            let words = (0..<16).map { i in
                (0..<4).reduce(UInt32(0)) { $0 | UInt32(message[chunk + 4 * i + $1]) << (8 * UInt32($1)) }
            }
            var (a, b, c, d) = state
            for i in 0..<64 {
                let (f, g): (UInt32, Int)
                switch i {
                case 0..<16: (f, g) = ((b & c) | (~b & d), i)
                case 16..<32: (f, g) = ((d & b) | (~d & c), (5 * i + 1) % 16)
                case 32..<48: (f, g) = (b ^ c ^ d, (3 * i + 5) % 16)
                default: (f, g) = (c ^ (b | ~d), (7 * i) % 16)
                }
                let sum = a &+ f &+ constants[i] &+ words[g]
                (a, d, c) = (d, c, b)
                b = b &+ (sum << shifts[i] | sum >> (32 - shifts[i]))
            }
            state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d)
        }
        let digits = Array("0123456789abcdef")
        var text = ""
        for word in [state.0, state.1, state.2, state.3] {
            for byte in 0..<4 {
                let value = Int((word >> (8 * UInt32(byte))) & 0xff)
                text.append(digits[value >> 4])
                text.append(digits[value & 0xf])
            }
        }
        return text
    }
}
