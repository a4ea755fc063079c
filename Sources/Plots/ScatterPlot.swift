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
        var entries = ordered.prefix(Self.palette.count).enumerated().map { (i, e) in (e.key, Self.palette[i], e.value)
        }
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
        func range(_ v: [Double]) -> (Double, Double) {
            guard let lo = v.min(), let hi = v.max() else { return (-1, 1) }
            let pad = hi > lo ? (hi - lo) * 0.05 : 1
            return (lo - pad, hi + pad)
        }
        let (x0, x1) = range(points.map(\.x)), (y0, y1) = range(points.map(\.y))
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotHeight }

        var doc = SVGDocument(width: width, height: height)
        doc.text(title, x: left + plotWidth / 2, y: 28, anchor: "middle", extra: ["font-size": "18"])
        doc.rect(x: left, y: top, width: plotWidth, height: plotHeight, fill: "none", stroke: "#444")
        for t in SVGDocument.ticks(x0, x1) {  // five per axis, at round numbers
            doc.line(x1: px(t), y1: top + plotHeight, x2: px(t), y2: top + plotHeight + 5, stroke: "#444")
            doc.text(
                SVGDocument.tickLabel(t), x: px(t), y: top + plotHeight + 18, anchor: "middle",
                extra: ["font-size": "11"])
        }
        for t in SVGDocument.ticks(y0, y1) {
            doc.line(x1: left - 5, y1: py(t), x2: left, y2: py(t), stroke: "#444")
            doc.text(SVGDocument.tickLabel(t), x: left - 8, y: py(t) + 4, anchor: "end", extra: ["font-size": "11"])
        }
        doc.text(xTitle, x: left + plotWidth / 2, y: Double(height) - 15, anchor: "middle", extra: ["font-size": "14"])
        let middle = SVGDocument.number(top + plotHeight / 2)
        doc.text(
            yTitle, x: 18, y: top + plotHeight / 2, anchor: "middle",
            extra: ["font-size": "14", "transform": "rotate(-90 18 \(middle))"])
        doc.beginGroup(["stroke": "white", "stroke-width": "0.5", "fill-opacity": "0.85"])
        for p in points {
            doc.circle(
                cx: px(p.x), cy: py(p.y), r: 4.5, fill: colourOf[p.category] ?? Self.otherColour,
                tooltip: "\(p.tooltip) (\(p.category))")
        }
        doc.endGroup()
        let lx = left + plotWidth + 25
        doc.text(legendTitle, x: lx, y: top + 12, extra: ["font-size": "14", "font-weight": "bold"])
        for (i, entry) in legend.enumerated() {
            let y = top + 34 + Double(i) * 20
            // Legend keys are squares, so the document's circles are exactly its points.
            doc.rect(x: lx, y: y - 10, width: 12, height: 12, fill: entry.colour)
            doc.text("\(Self.shorten(entry.category)) (\(entry.count))", x: lx + 18, y: y, extra: ["font-size": "12"])
        }
        return doc.text
    }

    static func shorten(_ text: String) -> String { text.count > 26 ? text.prefix(25) + "…" : text }
}
