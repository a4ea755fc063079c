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
    public var trainTrackRelational: Float?
    public var trainConsistency: Float?
    /// The share of the epoch's crops cut from teacher mixes (`--teacher-mixes`); nil when off.
    public var trainMixShare: Float?
    /// With teacher targets: the student's fidelity to the teacher on the validation tracks' segments (other
    /// tracks of the training labels), every epoch; and on tracks of labels the run never trains on (leave-labels-out's
    /// held-out labels), on the epochs it was measured (`TrainingSession.run(collection:unseen:)`). nil otherwise.
    public var validationFidelity: TeacherFidelity?
    public var unseenFidelity: TeacherFidelity?
    /// The states of the run's crop and batch generators at the end of the epoch (hexadecimal), so that a resumed
    /// run draws what an uninterrupted one would; nil in reports written before they were recorded.
    public var randomState: [String]?

    public init(epoch: Int, steps: Int, learningRate: Float, trainCrossEntropy: Float, trainTriplet: Float,
                trainAccuracy: Float, validationCrossEntropy: Float, validationTriplet: Float,
                validationAccuracy: Float, validationPrecisionAt10: Float, seconds: Double,
                trainContrastive: Float? = nil, trainRelational: Float? = nil, trainRegression: Float? = nil,
                trainTrackRelational: Float? = nil, trainConsistency: Float? = nil, trainMixShare: Float? = nil,
                validationFidelity: TeacherFidelity? = nil, unseenFidelity: TeacherFidelity? = nil,
                randomState: [String]? = nil) {
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
        self.trainTrackRelational = trainTrackRelational
        self.trainConsistency = trainConsistency
        self.trainMixShare = trainMixShare
        self.validationFidelity = validationFidelity
        self.unseenFidelity = unseenFidelity
        self.randomState = randomState
    }
}

/// A training run's report: what was trained on, how, and the curves. Written as JSON (and drawn by the Training module).
public struct TrainingReport: Codable, Sendable {
    public var modelName: String
    public var classNames: [String]
    public var trainTracks: Int
    public var validationTracks: Int
    public var recipe: [String: String]
    public var epochs: [EpochRecord]
    public var bestEpoch: Int?
    /// The epoch whose weights the model file holds (`bestEpoch` unless the recipe kept the last); nil in reports
    /// written before it was recorded, whose models are always the best epoch's.
    public var keptEpoch: Int?
    public var stoppedEarly: Bool
    /// The epoch the model file comes from.
    public var modelEpoch: Int? { keptEpoch ?? bestEpoch }

    /// Whether the run it reports ended as a recipe of `epochs` epochs ends: all of them trained, or stopped early
    /// by patience. A run interrupted by Ctrl-C or a kill leaves a report of fewer epochs beside a model file of one
    /// of them, which is not the recipe's model.
    public func finished(epochs planned: Int) -> Bool {
        stoppedEarly || (epochs.last?.epoch ?? 0) >= planned
    }

    /// The record of epoch `epoch` (nil for nil or an epoch the report does not hold): `record(of: bestEpoch)`,
    /// `record(of: modelEpoch)`.
    public func record(of epoch: Int?) -> EpochRecord? {
        epoch.flatMap { e in epochs.first { $0.epoch == e } }
    }

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
}
