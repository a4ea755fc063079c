public import Foundation

/// The record of one training epoch, as printed and as stored in the training report.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var steps: Int
    public var learningRate: Float
    public var trainCrossEntropy: Float
    public var trainTriplet: Float
    public var trainAccuracy: Float
    public var validationCrossEntropy: Float
    public var validationTriplet: Float
    public var validationAccuracy: Float
    /// Track-level precision at 10 among the validation tracks (same label counts as relevant).
    public var validationPrecisionAt10: Float
    public var seconds: Double
    /// Mean train losses of the label-free and distillation terms, before their weights; nil when the term was
    /// off (and in reports written before they were recorded).
    public var trainContrastive: Float?
    public var trainRelational: Float?
    public var trainRegression: Float?

    public init(epoch: Int, steps: Int, learningRate: Float, trainCrossEntropy: Float, trainTriplet: Float,
                trainAccuracy: Float, validationCrossEntropy: Float, validationTriplet: Float,
                validationAccuracy: Float, validationPrecisionAt10: Float, seconds: Double,
                trainContrastive: Float? = nil, trainRelational: Float? = nil, trainRegression: Float? = nil) {
        self.epoch = epoch
        self.steps = steps
        self.learningRate = learningRate
        self.trainCrossEntropy = trainCrossEntropy
        self.trainTriplet = trainTriplet
        self.trainAccuracy = trainAccuracy
        self.validationCrossEntropy = validationCrossEntropy
        self.validationTriplet = validationTriplet
        self.validationAccuracy = validationAccuracy
        self.validationPrecisionAt10 = validationPrecisionAt10
        self.seconds = seconds
        self.trainContrastive = trainContrastive
        self.trainRelational = trainRelational
        self.trainRegression = trainRegression
    }
}

/// A training run's report: what was trained on, how, and the curves. Written as JSON and drawn as SVG.
public struct TrainingReport: Codable, Sendable {
    public var modelName: String
    public var classNames: [String]
    public var trainTracks: Int
    public var validationTracks: Int
    public var recipe: [String: String]
    public var epochs: [EpochRecord]
    public var bestEpoch: Int?
    public var stoppedEarly: Bool

    public init(modelName: String, classNames: [String], trainTracks: Int, validationTracks: Int,
                recipe: [String: String], epochs: [EpochRecord] = [], bestEpoch: Int? = nil, stoppedEarly: Bool = false) {
        self.modelName = modelName
        self.classNames = classNames
        self.trainTracks = trainTracks
        self.validationTracks = validationTracks
        self.recipe = recipe
        self.epochs = epochs
        self.bestEpoch = bestEpoch
        self.stoppedEarly = stoppedEarly
    }

    /// The report as JSON. A score that is undefined (NaN: P@10 with a single validation track, a split with no
    /// tracks) is written as the string "nan", which `decode` reads back.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = Self.nonFinite
        return try encoder.encode(self)
    }

    /// Reads what `json()` wrote.
    public static func decode(_ data: Data) throws -> TrainingReport {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(TrainingReport.self, from: data)
    }

    private static let nonFinite = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// Two panels: losses (train CE, train triplet, validation CE) and scores (train/validation accuracy,
    /// validation P@10), both against the epoch, with the best epoch marked.
    public func svg() -> String {
        let width = 900.0, height = 380.0, panelWidth = 400.0, panelHeight = 270.0, top = 50.0
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">Training of \(Self.escape(modelName)) \
            (\(trainTracks) train / \(validationTracks) validation tracks, \(classNames.count) classes)</text>

            """
        let xs = epochs.map { Double($0.epoch) }
        var lossSeries: [(String, String, [Double])] = [
            ("train cross-entropy", "#1f77b4", epochs.map { Double($0.trainCrossEntropy) }),
            ("train triplet", "#ff7f0e", epochs.map { Double($0.trainTriplet) }),
            ("validation cross-entropy", "#2ca02c", epochs.map { Double($0.validationCrossEntropy) }),
        ]
        let optional: [(String, String, KeyPath<EpochRecord, Float?>)] = [
            ("train contrastive", "#9467bd", \.trainContrastive), ("train relational ×10", "#8c564b", \.trainRelational),
            ("train regression", "#e377c2", \.trainRegression),
        ]
        for (name, colour, path) in optional where epochs.contains(where: { $0[keyPath: path] != nil }) {
            // The relational loss (a mean squared cosine difference) is small: drawn ×10 to be seen.
            let scale = path == \EpochRecord.trainRelational ? 10.0 : 1.0
            lossSeries.append((name, colour, epochs.map { $0[keyPath: path].map { scale * Double($0) } ?? .nan }))
        }
        let scoreSeries: [(String, String, [Double])] = [
            ("train accuracy", "#1f77b4", epochs.map { Double($0.trainAccuracy) }),
            ("validation accuracy", "#2ca02c", epochs.map { Double($0.validationAccuracy) }),
            ("validation P@10", "#d62728", epochs.map { Double($0.validationPrecisionAt10) }),
        ]
        let lossMax = max(1e-6, lossSeries.flatMap(\.2).filter(\.isFinite).max() ?? 1)
        out += panel(x: 60, y: top, w: panelWidth, h: panelHeight, title: "losses", xs: xs, series: lossSeries,
                     yMax: lossMax * 1.05)
        out += panel(x: 500, y: top, w: panelWidth - 40, h: panelHeight, title: "accuracy and P@10", xs: xs,
                     series: scoreSeries, yMax: 1)
        out += "</svg>\n"
        return out
    }

    private func panel(x: Double, y: Double, w: Double, h: Double, title: String, xs: [Double],
                       series: [(String, String, [Double])], yMax: Double) -> String {
        let xMax = max(1, xs.max() ?? 1), xMin = min(xs.min() ?? 0, xMax - 1)
        func px(_ v: Double) -> Double { x + (v - xMin) / (xMax - xMin) * w }
        func py(_ v: Double) -> Double { y + h - min(max(v, 0), yMax) / yMax * h }
        var s = "<g>\n<text x=\"\(x + w / 2)\" y=\"\(y - 8)\" text-anchor=\"middle\">\(title)</text>\n"
        s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#888\"/>\n"
        for i in 0...4 {
            let v = yMax * Double(i) / 4
            s += "<line x1=\"\(x)\" x2=\"\(x + w)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(x - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.2f", v))</text>\n"
        }
        let ticks = Swift.min(10, Int(xMax - xMin))
        for i in 0...max(1, ticks) {
            let v = xMin + (xMax - xMin) * Double(i) / Double(max(1, ticks))
            s += "<text x=\"\(px(v))\" y=\"\(y + h + 16)\" text-anchor=\"middle\">\(Int(v.rounded()))</text>\n"
        }
        s += "<text x=\"\(x + w / 2)\" y=\"\(y + h + 34)\" text-anchor=\"middle\">epoch</text>\n"
        if let best = bestEpoch {
            s += "<line x1=\"\(px(Double(best)))\" x2=\"\(px(Double(best)))\" y1=\"\(y)\" y2=\"\(y + h)\" "
                + "stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        }
        for (i, (name, colour, values)) in series.enumerated() {
            let points = zip(xs, values).filter { $0.1.isFinite }.map { "\(px($0.0)),\(py($0.1))" }
            if points.count > 1 {
                s += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            for p in points { s += "<circle cx=\"\(p.split(separator: ",")[0])\" cy=\"\(p.split(separator: ",")[1])\" r=\"2.5\" fill=\"\(colour)\"/>" }
            let ly = y + 14 + Double(i) * 16
            s += "\n<line x1=\"\(x + 8)\" x2=\"\(x + 26)\" y1=\"\(ly - 4)\" y2=\"\(ly - 4)\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(x + 30)\" y=\"\(ly)\">\(name)</text>\n"
        }
        return s + "</g>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
