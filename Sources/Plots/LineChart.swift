/// Panels of line series against a shared x quantity (e.g. loss and accuracy against the epoch), side by side,
/// each with its legend, y grid and an optional dashed vertical marker.
public struct LineChart: Sendable {
    /// One line: finite points are joined in x order; non-finite values are left out.
    public struct Series: Sendable {
        public var name: String
        public var colour: String
        public var values: [Double]
        public init(name: String, colour: String, values: [Double]) {
            self.name = name
            self.colour = colour
            self.values = values
        }
    }

    /// One panel: its title, series over `LineChart.xs`, and the y range [0, yMax].
    public struct Panel: Sendable {
        public var title: String
        public var series: [Series]
        public var yMax: Double
        public init(title: String, series: [Series], yMax: Double) {
            self.title = title
            self.series = series
            self.yMax = yMax
        }
    }

    public var title: String
    public var xTitle: String
    public var xs: [Double]
    public var panels: [Panel]
    /// An x value marked by a dashed vertical line in every panel (e.g. the best epoch).
    public var marker: Double?

    public init(title: String, xTitle: String, xs: [Double], panels: [Panel], marker: Double? = nil) {
        self.title = title
        self.xTitle = xTitle
        self.xs = xs
        self.panels = panels
        self.marker = marker
    }

    /// The SVG document: panels of 400 × 270 pixels, 440 apart.
    public func svg() -> String {
        let panelWidth = 360.0, panelHeight = 270.0, top = 50.0, left = 60.0, spacing = 440.0
        var doc = SVGDocument(
            width: Int(left + spacing * Double(max(1, panels.count))), height: 380,
            fontFamily: "sans-serif")
        doc.text(title, x: Double(doc.width) / 2, y: 22, anchor: "middle", extra: ["font-size": "15"])
        for (i, panel) in panels.enumerated() {
            draw(panel, into: &doc, x: left + spacing * Double(i), y: top, w: panelWidth, h: panelHeight)
        }
        return doc.text
    }

    private func draw(_ panel: Panel, into doc: inout SVGDocument, x: Double, y: Double, w: Double, h: Double) {
        let yMax = panel.yMax > 0 && panel.yMax.isFinite ? panel.yMax : 1
        let xMax = max(1, xs.max() ?? 1), xMin = min(xs.min() ?? 0, xMax - 1)
        func px(_ v: Double) -> Double { x + (v - xMin) / (xMax - xMin) * w }
        func py(_ v: Double) -> Double { y + h - min(max(v, 0), yMax) / yMax * h }
        doc.beginGroup()
        doc.text(panel.title, x: x + w / 2, y: y - 8, anchor: "middle")
        doc.rect(x: x, y: y, width: w, height: h, fill: "none", stroke: "#888")
        for i in 0...4 {
            let v = yMax * Double(i) / 4
            doc.line(x1: x, y1: py(v), x2: x + w, y2: py(v), stroke: "#eee")
            doc.text(String(format: "%.2f", v), x: x - 6, y: py(v) + 4, anchor: "end")
        }
        for v in SVGDocument.ticks(xMin, xMax) {
            doc.text(SVGDocument.tickLabel(v), x: px(v), y: y + h + 16, anchor: "middle")
        }
        doc.text(xTitle, x: x + w / 2, y: y + h + 34, anchor: "middle")
        if let marker {
            doc.line(
                x1: px(marker), y1: y, x2: px(marker), y2: y + h, stroke: "#999", extra: ["stroke-dasharray": "4 3"])
        }
        for (i, series) in panel.series.enumerated() {
            let points = zip(xs, series.values).filter { $0.1.isFinite }.map { (x: px($0.0), y: py($0.1)) }
            doc.polyline(points, stroke: series.colour)
            for p in points { doc.circle(cx: p.x, cy: p.y, r: 2.5, fill: series.colour) }
            let ly = y + 14 + Double(i) * 16
            doc.line(x1: x + 8, y1: ly - 4, x2: x + 26, y2: ly - 4, stroke: series.colour, extra: ["stroke-width": "2"])
            doc.text(series.name, x: x + 30, y: ly)
        }
        doc.endGroup()
    }
}
