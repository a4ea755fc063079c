import Foundation

/// A self-contained SVG document built element by element: the one SVG writer and the one XML escape of
/// retrieve (the library map and the training curves are drawn with it).
///
/// Coordinates are written with one decimal; every text and attribute value goes through `escape`.
public struct SVGDocument: Sendable {
    private var body = ""
    public let width: Int
    public let height: Int
    public let fontFamily: String

    /// An empty white canvas of `width × height` pixels.
    public init(width: Int, height: Int, fontFamily: String = "Helvetica, Arial, sans-serif") {
        self.width = width
        self.height = height
        self.fontFamily = fontFamily
    }

    /// The document: XML declaration, `<svg>` root with a white background, the elements in order.
    public var text: String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" \
        viewBox="0 0 \(width) \(height)" font-family="\(Self.escape(fontFamily))" font-size="12">
        <rect width="100%" height="100%" fill="white"/>

        """ + body + "</svg>\n"
    }

    /// A number as written in coordinates: one decimal.
    public static func number(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Text safe inside XML elements and attributes; control characters XML 1.0 forbids become spaces.
    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case _ where c.value < 0x20 && c != "\t" && c != "\n" && c != "\r": out += " "
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// `name="value"` pairs, values escaped.
    private static func attributes(_ pairs: KeyValuePairs<String, String>) -> String {
        pairs.map { " \($0.key)=\"\(escape($0.value))\"" }.joined()
    }

    private static let n = number

    /// A text label at (x, y); `anchor` is start, middle or end; `extra` adds attributes (font-size, transform).
    public mutating func text(
        _ content: String, x: Double, y: Double, anchor: String = "start",
        extra: KeyValuePairs<String, String> = [:]
    ) {
        body +=
            "<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" text-anchor=\"\(anchor)\"\(Self.attributes(extra))>"
            + Self.escape(content) + "</text>\n"
    }

    public mutating func line(
        x1: Double, y1: Double, x2: Double, y2: Double, stroke: String,
        extra: KeyValuePairs<String, String> = [:]
    ) {
        body +=
            "<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" "
            + "stroke=\"\(Self.escape(stroke))\"\(Self.attributes(extra))/>\n"
    }

    public mutating func rect(
        x: Double, y: Double, width: Double, height: Double, fill: String,
        stroke: String? = nil
    ) {
        body +=
            "<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" "
            + "fill=\"\(Self.escape(fill))\"" + (stroke.map { " stroke=\"\(Self.escape($0))\"" } ?? "") + "/>\n"
    }

    /// A circle; `tooltip` becomes its `<title>`.
    public mutating func circle(cx: Double, cy: Double, r: Double, fill: String, tooltip: String? = nil) {
        body +=
            "<circle cx=\"\(Self.n(cx))\" cy=\"\(Self.n(cy))\" r=\"\(Self.n(r))\" fill=\"\(Self.escape(fill))\""
            + (tooltip.map { "><title>\(Self.escape($0))</title></circle>\n" } ?? "/>\n")
    }

    public mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 2) {
        guard points.count > 1 else { return }
        let list = points.map { "\(Self.n($0.x)),\(Self.n($0.y))" }.joined(separator: " ")
        body +=
            "<polyline fill=\"none\" stroke=\"\(Self.escape(stroke))\" stroke-width=\"\(Self.n(width))\" points=\"\(list)\"/>\n"
    }

    /// Opens a group with the given attributes; close it with `endGroup()`.
    public mutating func beginGroup(_ pairs: KeyValuePairs<String, String> = [:]) {
        body += "<g\(Self.attributes(pairs))>\n"
    }

    public mutating func endGroup() { body += "</g>\n" }

    /// About five round tick values inside [lo, hi].
    public static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var t = ceil(lo / step) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    /// A tick's label: an integer when it is one, else `%g`.
    public static func tickLabel(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: "%g", v)
    }
}
