import Foundation
import Plots
#if canImport(FoundationXML)
import FoundationXML
#endif
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import Testing
import TestSupport
import VectorIndex

@Suite struct MapTests {
    @Test func pcaRecoversAKnownDominantDirection() {
        var rng = SeededGenerator(seed: 5)
        let d = 128, n = 300
        let u = Embedding(normalising: (0..<d).map { _ in rng.nextGaussian() }).values
        let w = Embedding(normalising: (0..<d).map { _ in rng.nextGaussian() }).values
        var x = Matrix(rows: 0, columns: d)
        for _ in 0..<n {
            let a = 10 * rng.nextGaussian(), b = 3 * rng.nextGaussian()
            x.appendRow((0..<d).map { 2 + a * u[$0] + b * w[$0] + 0.02 * rng.nextGaussian() })
        }
        let pca = PrincipalComponents(fitting: x, count: 2)
        let c1 = pca.components.row(0), c2 = pca.components.row(1)
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(abs(dot(c1, u)) > 0.999)
        // The second direction is w made orthogonal to u (random w and u are nearly, not exactly, orthogonal).
        let uw = dot(u, w)
        let wPerp = Embedding(normalising: (0..<d).map { w[$0] - uw * u[$0] }).values
        #expect(abs(dot(c2, wPerp)) > 0.995)
        #expect(abs(dot(c1, c2)) < 1e-4 && abs(dot(c1, c1) - 1) < 1e-4)
        // Variance along c1 is about 100 (+ the isotropic 0.01); the projection has it too.
        #expect(abs(pca.variances[0] / 100 - 1) < 0.2)
        let xy = pca.project(x)
        let v = (0..<n).map { Double(xy[$0, 0]) }
        let mean = v.reduce(0, +) / Double(n)
        let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)
        #expect(abs(variance / Double(pca.variances[0]) - 1) < 1e-3)
        #expect(abs(mean) < 1e-3)
    }

    /// Counts elements while parsing; fails the parse on malformed XML.
    final class Counter: NSObject, XMLParserDelegate {
        var counts: [String: Int] = [:]
        var titles: [String] = []
        private var inTitle = false
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            counts[name, default: 0] += 1
            if name == "title" { inTitle = true; titles.append("") }
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "title" { inTitle = false }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if inTitle { titles[titles.count - 1] += string }
        }
    }

    @Test func svgParsesAndHasOneTooltippedCirclePerTrack() throws {
        var tracks: [TrackRecord] = []
        var rng = SeededGenerator(seed: 2)
        var vectors = Matrix(rows: 0, columns: 16)
        for i in 0..<25 {
            var t = TrackRecord(path: "/music/\(["jazz", "rock", "pop"][i % 3])/t<&>\(i).flac", size: 1,
                                modificationTime: 0, contentHash: "", duration: 1, sampleRate: 1, channels: 1, format: "")
            if i % 5 == 0 { t.label = "labelled \"\(i % 2)\"" }
            tracks.append(t)
            vectors.appendRow(Embedding(normalising: (0..<16).map { _ in rng.nextGaussian() }).values)
        }
        let plot = EmbeddingMap.plot(tracks: tracks, vectors: vectors, colouring: .label, modelName: "m & n")
        let svg = plot.svg()
        let parser = XMLParser(data: Data(svg.utf8))
        let counter = Counter()
        parser.delegate = counter
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        let legend = plot.legend()
        #expect(counter.counts["circle"] == 25)
        #expect(counter.counts["rect"] == 2 + legend.count)  // background, frame, legend keys
        #expect(counter.counts["title"] == 25)
        #expect(counter.titles.contains("t<&>0.flac (labelled \"0\")"))
        #expect(Set(legend.map(\.category)) == ["jazz", "rock", "pop", "labelled \"0\"", "labelled \"1\""])
        #expect(legend.map(\.count).reduce(0, +) == 25)
        #expect(svg.contains("PC 1 (") && svg.contains("PC 2 ("))
    }

    @Test func categoriesFallBackToTheFolder() {
        var t = TrackRecord(path: "/m/Blues/x.wav", size: 1, modificationTime: 0, contentHash: "", duration: 1,
                            sampleRate: 1, channels: 1, format: "")
        #expect(EmbeddingMap.category(of: t, by: .label) == "Blues")
        #expect(EmbeddingMap.category(of: t, by: .artist) == "Blues")
        t.genre = "Jazz"
        #expect(EmbeddingMap.category(of: t, by: .label) == "Jazz")
        t.label = "blues"
        #expect(EmbeddingMap.category(of: t, by: .label) == "blues")
        #expect(EmbeddingMap.category(of: t, by: .genre) == "Jazz")
        #expect(EmbeddingMap.category(of: t, by: .folder) == "Blues")
    }

    @Test func manyCategoriesShareAnOtherColour() {
        let points = (0..<30).map { ScatterPlot.Point(x: Double($0), y: 0, category: "c\($0)", tooltip: "") }
        let legend = ScatterPlot(title: "", xTitle: "", yTitle: "", legendTitle: "", points: points).legend()
        #expect(legend.count == 21 && legend.last?.category == "other" && legend.last?.count == 10)
    }
}
