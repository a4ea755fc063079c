public import Foundation
public import RetrieveCore
public import SequenceEncoding

/// What happened in one epoch of `EncoderTrainer.train`.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var steps: Int
    /// Means over the epoch's steps.
    public var crossEntropy: Float
    public var triplet: Float
    public var total: Float
    public var accuracy: Float
    public var gradientNorm: Float
    /// Learning rate of the epoch's last step.
    public var learningRate: Float
    /// Held-out metrics after the epoch, when validation data was given.
    public var validation: Evaluation?
    public var seconds: Double
}

/// The history of a training run, written as JSON and as an SVG chart.
public struct TrainingReport: Codable, Sendable, Equatable {
    public var configuration: EncoderConfiguration
    public var options: TrainingOptions
    public var epochs: [EpochRecord]
    /// The epoch whose parameters the encoder holds at the end (best validation cross-entropy, or the last).
    public var bestEpoch: Int
    /// Whether training stopped before the requested number of epochs for lack of improvement.
    public var stoppedEarly: Bool

    /// Pretty-printed JSON with sorted keys.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// A self-contained SVG with two panels: losses (train total, train CE, validation CE) and accuracies
    /// (train, validation) per epoch; the best epoch is marked.
    public func svg(width: Int = 720, height: Int = 300) -> String {
        let panelWidth = Double(width) / 2
        func panel(x0: Double, title: String, series: [(String, String, [Float?])], fixedMax: Float?) -> String {
            let values = series.flatMap { $0.2.compactMap { $0 } }.filter(\.isFinite)
            let top = Double(fixedMax ?? max(values.max() ?? 1, 1e-6))
            let (left, right, upper, lower) = (x0 + 45, x0 + panelWidth - 10, 30.0, Double(height) - 35)
            let count = max(epochs.count - 1, 1)
            func px(_ i: Int) -> Double { left + (right - left) * Double(i) / Double(count) }
            func py(_ v: Float) -> Double { lower - (lower - upper) * min(Double(v) / top, 1) }
            var out = "<text x=\"\(left)\" y=\"18\" font-size=\"13\">\(title)</text>"
            out += "<line x1=\"\(left)\" y1=\"\(lower)\" x2=\"\(right)\" y2=\"\(lower)\" stroke=\"#444\"/>"
            out += "<line x1=\"\(left)\" y1=\"\(upper)\" x2=\"\(left)\" y2=\"\(lower)\" stroke=\"#444\"/>"
            out += "<text x=\"\(x0 + 5)\" y=\"\(upper + 4)\" font-size=\"10\">\(String(format: "%.3g", top))</text>"
            out += "<text x=\"\(x0 + 30)\" y=\"\(lower + 4)\" font-size=\"10\">0</text>"
            out += "<text x=\"\(right - 40)\" y=\"\(lower + 20)\" font-size=\"10\">epoch \(epochs.count)</text>"
            if let best = epochs.firstIndex(where: { $0.epoch == bestEpoch }) {
                out += "<line x1=\"\(px(best))\" y1=\"\(upper)\" x2=\"\(px(best))\" y2=\"\(lower)\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>"
            }
            for (k, (name, colour, ys)) in series.enumerated() {
                let points = ys.enumerated().compactMap { i, v in v.map { String(format: "%.1f,%.1f", px(i), py($0)) } }
                out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
                out += "<text x=\"\(left + 10 + Double(k) * 95)\" y=\"\(upper + 14)\" font-size=\"11\" fill=\"\(colour)\">\(name)</text>"
            }
            return out
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        svg += panel(x0: 0, title: "loss", series: [
            ("train total", "#1f77b4", epochs.map { $0.total }), ("train CE", "#9ecae1", epochs.map { $0.crossEntropy }),
            ("valid CE", "#d62728", epochs.map { $0.validation?.crossEntropy }),
        ], fixedMax: nil)
        svg += panel(x0: panelWidth, title: "accuracy", series: [
            ("train", "#1f77b4", epochs.map { $0.accuracy }), ("valid", "#d62728", epochs.map { $0.validation?.accuracy }),
        ], fixedMax: 1)
        return svg + "</svg>\n"
    }
}

extension EncoderTrainer {
    /// Trains on whole tracks held in memory: each track's log-mel (`frames × inputSize`) is cut into the
    /// model's segments, which inherit the track's label; each epoch draws P×K batches of segments.
    ///
    /// After each epoch the validation segments are evaluated; the parameters with the best validation
    /// cross-entropy are kept, and training stops after `patience` epochs without improvement. Without
    /// validation data every epoch runs and the last parameters stay.
    /// - Parameters:
    ///   - stepsPerEpoch: batches per epoch; nil means segments / (P·K), at least 1.
    ///   - progress: called after every epoch (for a progress display).
    public func train(
        tracks: [Matrix], labels: [Int], validationTracks: [Matrix] = [], validationLabels: [Int] = [],
        epochs: Int, stepsPerEpoch: Int? = nil, classesPerBatch: Int = 8, itemsPerClass: Int = 4, patience: Int = 5,
        seed: UInt64 = 1, progress: ((EpochRecord) -> Void)? = nil
    ) -> TrainingReport {
        precondition(tracks.count == labels.count && validationTracks.count == validationLabels.count,
                     "One label per track")
        func cut(_ tracks: [Matrix], _ labels: [Int]) -> ([Matrix], [Int]) {
            var segments: [Matrix] = [], segmentLabels: [Int] = []
            for (track, label) in zip(tracks, labels) {
                let s = encoder.segments(of: track)
                segments += s
                segmentLabels += Array(repeating: label, count: s.count)
            }
            return (segments, segmentLabels)
        }
        let (train, trainLabels) = cut(tracks, labels)
        let (valid, validLabels) = cut(validationTracks, validationLabels)
        var sampler = PKBatchSampler(labels: trainLabels, classes: classesPerBatch, itemsPerClass: itemsPerClass, seed: seed)
        let steps = stepsPerEpoch ?? max(1, train.count / (sampler.classes * itemsPerClass))
        var report = TrainingReport(configuration: encoder.configuration, options: options, epochs: [], bestEpoch: 0,
                                    stoppedEarly: false)
        var best: (ce: Float, parameters: [Float])? = nil
        var sinceBest = 0
        for epoch in 1...max(epochs, 1) {
            let start = Date()
            var sums = (ce: 0.0, triplet: 0.0, total: 0.0, accuracy: 0.0, norm: 0.0)
            var lr: Float = 0
            for _ in 0..<steps {
                let batch = sampler.next()
                let r = step(segments: batch.map { train[$0] }, labels: batch.map { trainLabels[$0] })
                sums.ce += Double(r.crossEntropy); sums.triplet += Double(r.triplet); sums.total += Double(r.total)
                sums.accuracy += Double(r.accuracy); sums.norm += Double(r.gradientNorm)
                lr = r.learningRate
            }
            let n = Double(steps)
            let validation = valid.isEmpty ? nil : evaluate(segments: valid, labels: validLabels)
            let record = EpochRecord(
                epoch: epoch, steps: steps, crossEntropy: Float(sums.ce / n), triplet: Float(sums.triplet / n),
                total: Float(sums.total / n), accuracy: Float(sums.accuracy / n), gradientNorm: Float(sums.norm / n),
                learningRate: lr, validation: validation, seconds: Date().timeIntervalSince(start))
            report.epochs.append(record)
            progress?(record)
            guard let validation else { report.bestEpoch = epoch; continue }
            if best == nil || validation.crossEntropy < best!.ce {
                best = (validation.crossEntropy, encoder.flatParameters)
                report.bestEpoch = epoch
                sinceBest = 0
            } else {
                sinceBest += 1
                if sinceBest >= patience { report.stoppedEarly = epoch < epochs; break }
            }
        }
        if let best, report.bestEpoch != report.epochs.last?.epoch {
            best.parameters.withUnsafeBufferPointer { encoder.parameters.pointer.update(from: $0.baseAddress!, count: $0.count) }
            encoder.parametersChanged()
        }
        return report
    }
}
