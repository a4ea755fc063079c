import Foundation

/// A self-contained SVG scatter plot: one circle per point, coloured by category, with a legend, axis titles
/// and a `<title>` tooltip per point.
///
/// Categories are coloured in order of size (the largest first) from a 20-colour qualitative palette
/// (Tableau 10, then its lighter variants); beyond 20 categories the smallest share one grey "other" entry,
/// since more hues than that cannot be told apart.
public struct ScatterPlot: Sendable {
    /// One point.
    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public var category: String
        /// Tooltip text (e.g. the file name).
        public var tooltip: String
        public init(x: Double, y: Double, category: String, tooltip: String) {
            self.x = x
            self.y = y
            self.category = category
            self.tooltip = tooltip
        }
    }

    public var title: String
    public var xTitle: String
    public var yTitle: String
    public var legendTitle: String
    public var points: [Point]
    public var width = 960
    public var height = 720

    public init(title: String, xTitle: String, yTitle: String, legendTitle: String, points: [Point]) {
        self.title = title
        self.xTitle = xTitle
        self.yTitle = yTitle
        self.legendTitle = legendTitle
        self.points = points
    }

    static let palette = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
        "#1f3b73", "#a0522d", "#8c1c13", "#2a7f62", "#2e5e1e", "#9e7c00", "#6b3e75", "#c0587e", "#5b4636", "#6e6e6e",
    ]
    static let otherColour = "#c8c8c8"

    /// Category → colour, largest categories first; categories beyond the palette map to "other".
    public func legend() -> [(category: String, colour: String, count: Int)] {
        let counts = Dictionary(points.map { ($0.category, 1) }, uniquingKeysWith: +)
        let ordered = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        var entries = ordered.prefix(Self.palette.count).enumerated().map { (i, e) in (e.key, Self.palette[i], e.value) }
        let rest = ordered.dropFirst(Self.palette.count).reduce(0) { $0 + $1.value }
        if rest > 0 { entries.append(("other", Self.otherColour, rest)) }
        return entries
    }

    /// The SVG document.
    public func svg() -> String {
        let legend = legend()
        let colourOf = Dictionary(legend.map { ($0.category, $0.colour) }, uniquingKeysWith: { a, _ in a })
        let left = 70.0, top = 50.0, bottom = 60.0, legendWidth = 220.0
        let plotWidth = Double(width) - left - legendWidth - 20, plotHeight = Double(height) - top - bottom
        let xs = points.map(\.x), ys = points.map(\.y)
        func range(_ v: [Double]) -> (Double, Double) {
            guard let lo = v.min(), let hi = v.max() else { return (-1, 1) }
            let pad = hi > lo ? (hi - lo) * 0.05 : 1
            return (lo - pad, hi + pad)
        }
        let (x0, x1) = range(xs), (y0, y1) = range(ys)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotHeight }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" \
            viewBox="0 0 \(width) \(height)" font-family="Helvetica, Arial, sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left + plotWidth / 2))" y="28" text-anchor="middle" font-size="18">\(Self.escape(title))</text>
            <rect x="\(f(left))" y="\(f(top))" width="\(f(plotWidth))" height="\(f(plotHeight))" fill="none" stroke="#444"/>

            """
        // Ticks: five per axis, at round numbers.
        for t in Self.ticks(x0, x1) {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + plotHeight + 5))\" stroke=\"#444\"/>"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\" font-size=\"11\">\(Self.tickLabel(t))</text>\n"
        }
        for t in Self.ticks(y0, y1) {
            s += "<line x1=\"\(f(left - 5))\" y1=\"\(f(py(t)))\" x2=\"\(f(left))\" y2=\"\(f(py(t)))\" stroke=\"#444\"/>"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\" font-size=\"11\">\(Self.tickLabel(t))</text>\n"
        }
        s += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(Double(height) - 15))\" text-anchor=\"middle\" font-size=\"14\">\(Self.escape(xTitle))</text>\n"
        s += "<text x=\"18\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 18 \(f(top + plotHeight / 2)))\">\(Self.escape(yTitle))</text>\n"
        s += "<g stroke=\"white\" stroke-width=\"0.5\" fill-opacity=\"0.85\">\n"
        for p in points {
            let colour = colourOf[p.category] ?? Self.otherColour
            s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"4.5\" fill=\"\(colour)\">"
                + "<title>\(Self.escape(p.tooltip)) (\(Self.escape(p.category)))</title></circle>\n"
        }
        s += "</g>\n"
        let lx = left + plotWidth + 25
        s += "<text x=\"\(f(lx))\" y=\"\(f(top + 12))\" font-size=\"14\" font-weight=\"bold\">\(Self.escape(legendTitle))</text>\n"
        for (i, entry) in legend.enumerated() {
            let y = top + 34 + Double(i) * 20
            // Legend keys are squares, so the document's circles are exactly its points.
            s += "<rect x=\"\(f(lx))\" y=\"\(f(y - 10))\" width=\"12\" height=\"12\" fill=\"\(entry.colour)\"/>"
            s += "<text x=\"\(f(lx + 18))\" y=\"\(f(y))\" font-size=\"12\">\(Self.escape(Self.shorten(entry.category))) (\(entry.count))</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    /// Text safe inside XML elements and attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            // Control characters other than tab and newlines are not allowed in XML 1.0 at all.
            case _ where c.value < 0x20 && c != "\t" && c != "\n" && c != "\r": out += " "
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func shorten(_ text: String) -> String { text.count > 26 ? text.prefix(25) + "…" : text }

    /// About five round tick values inside [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
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

    static func tickLabel(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: "%g", v)
    }
}
