public import EncoderTraining
public import Plots

extension TrainingReport {
    /// The curves as a two-panel chart: losses (train cross-entropy, train triplet, validation cross-entropy)
    /// and scores (train/validation accuracy, validation P@10, the fidelity to a teacher where measured), against
    /// the epoch, the model's epoch marked.
    public func curves() -> LineChart {
        func series(_ name: String, _ colour: String, _ value: (EpochRecord) -> Float) -> LineChart.Series {
            LineChart.Series(name: name, colour: colour, values: epochs.map { Double(value($0)) })
        }
        var losses = [
            series("train cross-entropy", "#1f77b4", \.trainCrossEntropy),
            series("train triplet", "#ff7f0e", \.trainTriplet),
            series("validation cross-entropy", "#2ca02c", \.validationCrossEntropy),
        ]
        // The losses a recipe may leave off, drawn when some epoch has them; the relational loss (a mean squared
        // cosine difference) is small, so it is drawn ×10 to be seen.
        let optional: [(String, String, KeyPath<EpochRecord, Float?>, Double)] = [
            ("train contrastive", "#9467bd", \.trainContrastive, 1), ("train relational ×10", "#8c564b", \.trainRelational, 10),
            ("train regression", "#e377c2", \.trainRegression, 1),
            ("train track relational ×10", "#7f7f7f", \.trainTrackRelational, 10),
            ("train consistency ×10", "#bcbd22", \.trainConsistency, 10),
        ]
        for (name, colour, path, scale) in optional where epochs.contains(where: { $0[keyPath: path] != nil }) {
            losses.append(LineChart.Series(name: name, colour: colour,
                                           values: epochs.map { $0[keyPath: path].map { scale * Double($0) } ?? .nan }))
        }
        var scores = [
            series("train accuracy", "#1f77b4", \.trainAccuracy),
            series("validation accuracy", "#2ca02c", \.validationAccuracy),
            series("validation P@10", "#d62728", \.validationPrecisionAt10),
        ]
        // Fidelity to the teacher where measured (`TeacherFidelity`; the unseen labels' only every few epochs).
        let fidelity: [(String, String, (EpochRecord) -> Float?)] = [
            ("validation teacher cosine", "#17becf", { $0.validationFidelity?.headCosine }),
            ("validation teacher r", "#9467bd", { $0.validationFidelity?.pairCorrelation }),
            ("unseen labels teacher cosine", "#bcbd22", { $0.unseenFidelity?.headCosine }),
            ("unseen labels teacher r", "#8c564b", { $0.unseenFidelity?.pairCorrelation }),
        ]
        for (name, colour, value) in fidelity where epochs.contains(where: { value($0) != nil }) {
            scores.append(LineChart.Series(name: name, colour: colour, values: epochs.map { value($0).map(Double.init) ?? .nan }))
        }
        let lossMax = max(1e-6, losses.flatMap(\.values).filter(\.isFinite).max() ?? 1)
        return LineChart(
            title: "Training of \(modelName) (\(trainTracks) train / \(validationTracks) validation tracks, "
                + "\(classNames.count) classes)",
            xTitle: "epoch", xs: epochs.map { Double($0.epoch) },
            panels: [LineChart.Panel(title: "losses", series: losses, yMax: lossMax * 1.05),
                     LineChart.Panel(title: scores.count > 3 ? "accuracy, P@10 and teacher fidelity" : "accuracy and P@10",
                                     series: scores, yMax: 1)],
            marker: modelEpoch.map(Double.init))
    }
}
