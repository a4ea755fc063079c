import Foundation

/// JSON text of plain dictionaries, arrays, strings, numbers, booleans and `NSNull`, written straight into
/// bytes: what `JSONSerialization.data(withJSONObject:options: [.sortedKeys, .withoutEscapingSlashes])` writes,
/// without its cost.
///
/// Foundation's writer sorts keys with a locale-aware, case-insensitive `NSString.compare` and bridges every
/// dictionary and array to `NSDictionary`/`NSArray`: for a `/api/similar` answer of ten tracks that took as
/// much CPU as scanning 100 000 vectors (`bench/README.md`, `## serve`). Here keys are sorted by `String`'s
/// own order (the same as Foundation's for our lower-case ASCII keys), numbers are written as Swift prints them
/// (integral floating-point values without `.0`, as Foundation does), and strings escape `"`, `\` and control
/// characters only. A non-finite number, which JSON cannot hold, becomes `null`; any other type is written
/// as its description, quoted.
enum JSONText {
    static func bytes(_ object: Any) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(object, to: &out)
        return out
    }

    static func write(_ value: Any, to out: inout [UInt8]) {
        switch value {
        case let string as String: write(string: string, to: &out)
        case let number as Int: out.append(contentsOf: String(number).utf8)
        case let number as Double: write(number: number, to: &out)
        case let object as [String: Any]:
            out.append(UInt8(ascii: "{"))
            for (i, key) in object.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(string: key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(object[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case let array as [Any]:
            out.append(UInt8(ascii: "["))
            for (i, element) in array.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let flag as Bool: out.append(contentsOf: (flag ? "true" : "false").utf8)
        case let number as Int64: out.append(contentsOf: String(number).utf8)
        case let number as Float: write(number: number, to: &out)
        case let number as Int32: out.append(contentsOf: String(number).utf8)
        case is NSNull: out.append(contentsOf: "null".utf8)
        default: write(string: String(describing: value), to: &out)
        }
    }

    /// As Foundation writes a `Double` or a `Float`: its shortest round-trip description, without a trailing `.0`.
    static func write<Number: BinaryFloatingPoint & LosslessStringConvertible>(number: Number, to out: inout [UInt8]) {
        guard number.isFinite else { return out.append(contentsOf: "null".utf8) }
        var text = number.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        out.append(contentsOf: text.utf8)
    }

    static func write(string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), byte])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), byte])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
