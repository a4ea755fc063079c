import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Plots
import Testing

@Suite struct PlotsTests {
    @Test func escapeMakesAnyTextSafeXML() {
        #expect(SVGDocument.escape("a<b>&\"c\"'d'") == "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;")
        #expect(SVGDocument.escape("bell\u{7}tab\t") == "bell tab\t")
    }

    @Test func lineChartIsWellFormedAndLeavesNonFiniteValuesOut() throws {
        let chart = LineChart(
            title: "Training of <evil> & \"name\"", xTitle: "epoch", xs: [1, 2, 3],
            panels: [LineChart.Panel(title: "losses", series: [
                LineChart.Series(name: "a", colour: "#111111", values: [1, .nan, 0.5]),
                LineChart.Series(name: "b", colour: "#222222", values: [.infinity, .infinity, .infinity]),
            ], yMax: 1)],
            marker: 2)
        let svg = chart.svg()
        let document = try XMLDocument(data: Data(svg.utf8))
        // Series a: two finite points → one polyline and two circles; series b: nothing drawn.
        #expect(try document.nodes(forXPath: "//*[local-name()='polyline']").count == 1)
        #expect(try document.nodes(forXPath: "//*[local-name()='circle']").count == 2)
        #expect(svg.contains("Training of &lt;evil&gt; &amp; &quot;name&quot;"))
        #expect(!svg.contains("nan") && !svg.contains("inf"))
    }

    @Test func scatterPlotHasOneCirclePerPointWithItsTooltip() throws {
        let points = (0..<30).map { ScatterPlot.Point(x: Double($0), y: Double($0 % 7), category: "c\($0 % 3)",
                                                      tooltip: "track <\($0)>") }
        let plot = ScatterPlot(title: "map", xTitle: "PC1", yTitle: "PC2", legendTitle: "label", points: points)
        let document = try XMLDocument(data: Data(plot.svg().utf8))
        let circles = try document.nodes(forXPath: "//*[local-name()='circle']")
        #expect(circles.count == 30)
        #expect(circles.first?.stringValue?.contains("track <0>") == true)
    }
}
