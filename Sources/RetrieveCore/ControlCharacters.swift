extension String {
    /// Whether a scalar is a control character: C0 (U+0000–U+001F), DEL and C1 (U+0080–U+009F). A file name
    /// or a tag may hold them (a newline, a tab, an ANSI escape that would redraw the terminal).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// Whether the text holds a control character.
    public var hasControlCharacters: Bool { unicodeScalars.contains(where: Self.isControl) }

    /// The text for a terminal or a tab-separated line: control characters shown as visible escapes (`\n`,
    /// `\t`, `\r`, `\e`, else `\x7f`-style), everything else as is. Exact values come from `--json`.
    public var escapingControlCharacters: String {
        guard hasControlCharacters else { return self }
        var out = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{1B}": out += "\\e"
            case _ where Self.isControl(scalar): out += "\\x" + String(scalar.value, radix: 16, uppercase: false)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The text with every control character replaced by a space (a title in a playlist line).
    public var replacingControlCharactersWithSpaces: String {
        guard hasControlCharacters else { return self }
        var out = ""
        for scalar in unicodeScalars { out.unicodeScalars.append(Self.isControl(scalar) ? " " : scalar) }
        return out
    }
}
