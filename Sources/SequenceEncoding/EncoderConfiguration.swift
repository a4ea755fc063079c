public import RetrieveCore

/// How an encoder pools its LSTM outputs over time.
public enum Pooling: String, Codable, Sendable, Equatable, CaseIterable {
    /// The mean of the outputs over all time steps.
    case mean
    /// A learned softmax weighting: score_t = vᵀ tanh(W h_t + b), α = softmax_t(score), pooled = Σ α_t h_t.
    case attention
}

/// A convolutional front end between the normalised log-mel and the LSTM (CRNN-style), for local pitch
/// invariance and timbre detectors; absent (nil) in models before format version 3.
///
/// The order of operations, the one definition (mirrored by `scripts/fixtures/lstm_parity.py`):
/// 1. the per-band normalised log-mel of a segment, an image of `mels × frames` (one input channel);
/// 2. Conv2d(1 → `channels`, kernel `kernelBands × kernelFrames`, stride 1, 'same' zero padding — before
///    index 0 `(k − 1) / 2` zeros, after the end the rest, PyTorch's `padding="same"` — with bias);
/// 3. ReLU;
/// 4. max-pooling over the mel axis only (kernel and stride `pool`; `mels` is a multiple of `pool`);
/// 5. per frame, the `channels × mels / pool` values flattened channel-major (channel c, pooled band q at
///    c · mels / pool + q) become the LSTM's input.
///
/// The per-band normalisation stays on the mel bands, before the convolution (so `bandMean` and `bandStd` keep
/// `inputSize` values and are computed as without a front end): the convolution then sees inputs of unit scale
/// in every band, and the ReLU and pooling need no second normalisation of their own.
///
/// With a `second` stage (format version 4), step 5 instead hands the pooled image (`channels` channels of
/// `mels / pool` bands × frames) to `ConvolutionalStage`'s steps, whose output the LSTM reads.
public struct ConvolutionalFrontEnd: Codable, Sendable, Equatable {
    /// Output channels of the convolution (C).
    public var channels: Int
    /// Kernel height in mel bands (F).
    public var kernelBands: Int
    /// Kernel width in frames (T).
    public var kernelFrames: Int
    /// Max-pooling kernel and stride over the mel axis (P).
    public var pool: Int
    /// A second convolution over the first one's pooled output, or nil for none (models before format version 4).
    public var second: ConvolutionalStage?

    public init(channels: Int, kernelBands: Int, kernelFrames: Int, pool: Int, second: ConvolutionalStage? = nil) {
        self.channels = channels
        self.kernelBands = kernelBands
        self.kernelFrames = kernelFrames
        self.pool = pool
        self.second = second
    }

    /// Bands per frame after the first stage's pooling, for `mels` input bands: `mels / pool`.
    public func firstBands(mels: Int) -> Int { mels / pool }

    /// Features per frame after the first stage: `channels · mels / pool`.
    public func firstOutputSize(mels: Int) -> Int { channels * firstBands(mels: mels) }

    /// Features per frame after the front end for `mels` input bands: `channels · mels / pool`, or the second
    /// stage's `channels · (mels / pool) / pool`.
    public func outputSize(mels: Int) -> Int {
        second.map { $0.channels * (firstBands(mels: mels) / $0.pool) } ?? firstOutputSize(mels: mels)
    }

    /// Values per kernel, F · T (the convolution's fan-in).
    public var kernelSize: Int { kernelBands * kernelFrames }

    /// Bounds of model files (wider than `retrieve train` allows).
    public enum Bounds {
        public static let channels = 1...256
        public static let kernel = 1...64
    }

    /// The first field outside its bounds or inconsistent with `mels`, as a clause, or nil.
    public func problem(mels: Int) -> String? {
        Self.stageProblem(
            "frontEnd.", channels: channels, kernelBands: kernelBands, kernelFrames: kernelFrames, pool: pool,
            bands: mels, of: "the \(mels) mel bands")
            ?? second?.problem(bands: firstBands(mels: mels))
    }

    /// The first of a convolution stage's fields (named with `prefix`) outside `Bounds`, or a pool that does not
    /// divide the `bands` it reads (`of` names them), as a clause, or nil.
    static func stageProblem(
        _ prefix: String, channels: Int, kernelBands: Int, kernelFrames: Int, pool: Int, bands: Int, of: String
    ) -> String? {
        if !Bounds.channels.contains(channels) { return "\(prefix)channels is \(channels); allowed 1…256" }
        for (field, value) in [("kernelBands", kernelBands), ("kernelFrames", kernelFrames)]
        where !Bounds.kernel.contains(value) {
            return "\(prefix)\(field) is \(value); allowed 1…64"
        }
        if !(1...max(1, bands)).contains(pool) || bands % pool != 0 {
            return "\(prefix)pool is \(pool); allowed a divisor of \(of)"
        }
        return nil
    }
}

/// The front end's second convolution (`ConvolutionalFrontEnd.second`, format version 4), over the first stage's
/// pooled output seen as an image of `C₁` channels × `mels / P₁` bands × frames:
/// 1. Conv2d(C₁ → `channels`, kernel `kernelBands × kernelFrames`, stride 1, 'same' zero padding as the first
///    stage's, with bias);
/// 2. ReLU;
/// 3. max-pooling over the band axis only (kernel and stride `pool`, a divisor of `mels / P₁`);
/// 4. per frame, the `channels × mels / (P₁ · pool)` values flattened channel-major become the LSTM's input.
public struct ConvolutionalStage: Codable, Sendable, Equatable {
    /// Output channels (C₂).
    public var channels: Int
    /// Kernel height in (pooled) bands (F₂).
    public var kernelBands: Int
    /// Kernel width in frames (T₂).
    public var kernelFrames: Int
    /// Max-pooling kernel and stride over the band axis (P₂).
    public var pool: Int

    public init(channels: Int, kernelBands: Int, kernelFrames: Int, pool: Int) {
        self.channels = channels
        self.kernelBands = kernelBands
        self.kernelFrames = kernelFrames
        self.pool = pool
    }

    /// The first field outside its bounds or inconsistent with the `bands` it reads, as a clause, or nil.
    public func problem(bands: Int) -> String? {
        ConvolutionalFrontEnd.stageProblem(
            "frontEnd.second.", channels: channels, kernelBands: kernelBands, kernelFrames: kernelFrames, pool: pool,
            bands: bands, of: "the first stage's \(bands) pooled bands")
    }
}

/// The shape and input statistics of an LSTM encoder; stored in its model file.
///
/// The encoder maps per-band normalised log-mel frames, `(x − bandMean) / bandStd`, optionally through a
/// convolutional front end (`ConvolutionalFrontEnd`), then through a stacked (optionally bidirectional) LSTM, pools over time, projects to `embeddingSize` and L2-normalises.
/// A linear classifier over the unit-length embedding, scaled by the fixed `logitScale`, gives the
/// logits for the cross-entropy loss: since ‖e‖ = 1 the raw products are small, and a fixed temperature
/// (rather than a learned one) keeps the loss well conditioned without another parameter to tune.
public struct EncoderConfiguration: Codable, Sendable, Equatable {
    /// The newest format version this build writes. Version 2 added `levelRange`, version 3 `frontEnd`, version 4
    /// its `second` stage; a file is written with the lowest version that holds its configuration
    /// (`minimumFormatVersion`), so models without the newer parts still load in older builds.
    public static let currentFormatVersion = 4
    /// The format versions this build reads.
    public static let readableFormatVersions = 1...4

    /// Input features per frame (mel bands).
    public var inputSize: Int
    /// LSTM hidden units per direction.
    public var hiddenSize: Int
    /// Stacked LSTM layers.
    public var layers: Int
    /// Whether each layer also runs backwards in time; its output is then [forward ‖ backward].
    public var bidirectional: Bool
    /// How outputs are pooled over time.
    public var pooling: Pooling
    /// Embedding dimensions.
    public var embeddingSize: Int
    /// The classifier's classes, in logit order.
    public var classNames: [String]
    /// Fixed multiplier of the classifier's logits (a softmax temperature of 1 / logitScale).
    public var logitScale: Float
    /// Frames per segment (130 ≈ 3 s at 22 050 Hz with hop 512).
    public var segmentFrames: Int
    /// Hop between segment starts, in frames.
    public var segmentHopFrames: Int
    /// The log-mel front end the model was trained on; `topDecibels` must be nil so features can be streamed.
    public var features: FeatureConfiguration
    /// Per-band mean of the training features, `inputSize` values.
    public var bandMean: [Float]
    /// Per-band standard deviation of the training features, `inputSize` positive values.
    public var bandStd: [Float]
    /// Segment level normalisation, in dB, or nil for none (models before format version 2).
    ///
    /// With a range R, each segment's log-mel values x (dB) are first clamped from below at `max(x) − R` and
    /// then shifted by the mean of the clamped values: `x̂ = max(x, max(x) − R) − mean(max(x, max(x) − R))`,
    /// before the per-band normalisation. A gain change of g dB shifts every value of a segment by g, its maximum
    /// too, so x̂ — and the embedding — does not change, as long as the front end's own floor (`amin`, −100 dB)
    /// stays below `max(x) − R`: exactly invariant for any segment whose loudest bin is above R − 100 dB after
    /// the gain. The spectral shape and the loudness contour within a segment are kept; only the level goes.
    public var levelRange: Float?
    /// The convolutional front end before the LSTM, or nil for none (models before format version 3).
    public var frontEnd: ConvolutionalFrontEnd?
    /// The model file format version.
    public var formatVersion: Int

    public init(
        inputSize: Int = 128, hiddenSize: Int = 256, layers: Int = 1, bidirectional: Bool = false,
        pooling: Pooling = .mean, embeddingSize: Int = 128, classNames: [String] = [], logitScale: Float = 16,
        segmentFrames: Int = 130, segmentHopFrames: Int = 65,
        features: FeatureConfiguration = FeatureConfiguration(topDecibels: nil),
        bandMean: [Float]? = nil, bandStd: [Float]? = nil, levelRange: Float? = nil,
        frontEnd: ConvolutionalFrontEnd? = nil, formatVersion: Int? = nil
    ) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.embeddingSize = embeddingSize
        self.classNames = classNames
        self.logitScale = logitScale
        self.segmentFrames = segmentFrames
        self.segmentHopFrames = segmentHopFrames
        self.features = features
        self.bandMean = bandMean ?? [Float](repeating: 0, count: inputSize)
        self.bandStd = bandStd ?? [Float](repeating: 1, count: inputSize)
        self.levelRange = levelRange
        self.frontEnd = frontEnd
        self.formatVersion = 1  // every stored property set, so `minimumFormatVersion` can be read
        // The version a file of this configuration is written as (see `Encoder.serialized`).
        self.formatVersion = formatVersion ?? minimumFormatVersion
    }

    /// The lowest format version that holds this configuration: 4 with a two-stage front end, 3 with a front end,
    /// 2 with level normalisation, else 1.
    public var minimumFormatVersion: Int {
        frontEnd?.second != nil ? 4 : frontEnd != nil ? 3 : (levelRange != nil ? 2 : 1)
    }

    /// Inputs per time step of the first LSTM layer: `inputSize`, or the front end's output size.
    public var lstmInputSize: Int { frontEnd.map { $0.outputSize(mels: inputSize) } ?? inputSize }

    /// Outputs per time step of each LSTM layer: `hiddenSize`, doubled when bidirectional.
    public var outputSize: Int { hiddenSize * (bidirectional ? 2 : 1) }
    /// Number of classes of the classification head.
    public var classCount: Int { classNames.count }
    /// Size of the attention pooling's hidden layer (equal to `outputSize`).
    public var attentionSize: Int { outputSize }

    /// The bounds every model file's configuration must keep (`problem`). They hold every model `retrieve train`
    /// can make (its options stop at hidden 4096, 8 layers, embedding 4096, 512 mel bands) with room to spare,
    /// and keep a damaged or hostile file from overflowing the layout arithmetic, building a huge layout, or
    /// making the analyser buffer an unbounded segment.
    public enum Bounds {
        public static let inputSize = FeatureConfiguration.Bounds.melBands
        public static let hiddenSize = 1...8_192
        public static let layers = 1...16
        public static let embeddingSize = 1...8_192
        public static let classCount = 1...100_000
        public static let logitScale: ClosedRange<Float> = 0.001...1_000
        /// Frames per segment and per hop between segments (130 and 65 by default).
        public static let segmentFrames = 1...100_000
        public static let levelRange: ClosedRange<Float> = 1...200
        /// Per-band statistics of log-mel dB values: far beyond any real mean or spread.
        public static let bandMagnitude: Float = 1e6
    }

    /// The first field outside `Bounds` or inconsistent with another, as a clause naming the field, its value and
    /// what is allowed (e.g. "hiddenSize is 0; allowed 1…8192"), or nil when the configuration is usable.
    public var problem: String? {
        func bad(_ field: String, _ value: Any, _ allowed: String) -> String {
            "\(field) is \(value); allowed \(allowed)"
        }
        func range<T>(_ r: ClosedRange<T>) -> String { "\(r.lowerBound)…\(r.upperBound)" }
        let sizes: [(String, Int, ClosedRange<Int>)] = [
            ("inputSize", inputSize, Bounds.inputSize), ("hiddenSize", hiddenSize, Bounds.hiddenSize),
            ("layers", layers, Bounds.layers), ("embeddingSize", embeddingSize, Bounds.embeddingSize),
            ("segmentFrames", segmentFrames, Bounds.segmentFrames),
            ("segmentHopFrames", segmentHopFrames, Bounds.segmentFrames),
        ]
        for (field, value, allowed) in sizes where !allowed.contains(value) { return bad(field, value, range(allowed)) }
        if !Bounds.classCount.contains(classNames.count) {
            return bad("classNames' count", classNames.count, range(Bounds.classCount) + " class names")
        }
        if !(logitScale.isFinite && Bounds.logitScale.contains(logitScale)) {
            return bad("logitScale", logitScale, range(Bounds.logitScale))
        }
        if let r = levelRange, !(r.isFinite && Bounds.levelRange.contains(r)) {
            return bad("levelRange", r, range(Bounds.levelRange) + " dB, or null for none")
        }
        if let problem = frontEnd?.problem(mels: inputSize) { return problem }
        if let problem = features.problem(prefix: "features.") { return problem }
        if features.topDecibels != nil {
            return bad("features.topDecibels", features.topDecibels!, "only null, so that features can be streamed")
        }
        if features.melBands != inputSize {
            return bad("features.melBands", features.melBands, "inputSize (\(inputSize))")
        }
        for (field, values) in [("bandMean", bandMean), ("bandStd", bandStd)] {
            if values.count != inputSize { return bad("\(field)'s length", values.count, "inputSize (\(inputSize))") }
        }
        let limit = Bounds.bandMagnitude
        if let m = bandMean.enumerated().first(where: { !($0.element.isFinite && abs($0.element) <= limit) }) {
            return bad("bandMean[\(m.offset)]", m.element, "a finite value of magnitude at most \(limit)")
        }
        if let s = bandStd.enumerated().first(where: { !($0.element.isFinite && $0.element > 0 && $0.element <= limit) }
        ) {
            return bad("bandStd[\(s.offset)]", s.element, "a positive finite value at most \(limit)")
        }
        return nil
    }
}

/// One named parameter tensor of an encoder and where it sits in the flat parameter vector.
public struct ParameterSpec: Sendable, Equatable {
    /// The PyTorch state-dict name, e.g. `lstm.weight_ih_l0_reverse`.
    public let name: String
    /// PyTorch shape (row-major).
    public let shape: [Int]
    /// Offset of the first element in the flat vector.
    public let offset: Int
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Whether decoupled weight decay applies (matrices and convolution kernels yes, biases and vectors no).
    public var isDecayed: Bool { shape.count >= 2 && !name.hasPrefix("attention.vector") }
}

/// The ordered parameter tensors of an encoder configuration, PyTorch names and shapes.
public struct ParameterLayout: Sendable, Equatable {
    /// All tensors in storage order.
    public let specs: [ParameterSpec]
    /// Total number of floats.
    public let count: Int
    private let index: [String: Int]

    public init(_ c: EncoderConfiguration) {
        var specs: [ParameterSpec] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) {
            specs.append(ParameterSpec(name: name, shape: shape, offset: offset))
            offset += shape.reduce(1, *)
        }
        if let f = c.frontEnd {
            add("frontend.conv.weight", [f.channels, 1, f.kernelBands, f.kernelFrames])
            add("frontend.conv.bias", [f.channels])
            if let s = f.second {
                add("frontend.conv2.weight", [s.channels, f.channels, s.kernelBands, s.kernelFrames])
                add("frontend.conv2.bias", [s.channels])
            }
        }
        for layer in 0..<c.layers {
            let input = layer == 0 ? c.lstmInputSize : c.outputSize
            for suffix in c.bidirectional ? ["", "_reverse"] : [""] {
                add("lstm.weight_ih_l\(layer)\(suffix)", [4 * c.hiddenSize, input])
                add("lstm.weight_hh_l\(layer)\(suffix)", [4 * c.hiddenSize, c.hiddenSize])
                add("lstm.bias_ih_l\(layer)\(suffix)", [4 * c.hiddenSize])
                add("lstm.bias_hh_l\(layer)\(suffix)", [4 * c.hiddenSize])
            }
        }
        if c.pooling == .attention {
            add("attention.weight", [c.attentionSize, c.outputSize])
            add("attention.bias", [c.attentionSize])
            add("attention.vector", [c.attentionSize])
        }
        add("projection.weight", [c.embeddingSize, c.outputSize])
        add("projection.bias", [c.embeddingSize])
        add("classifier.weight", [c.classCount, c.embeddingSize])
        add("classifier.bias", [c.classCount])
        self.specs = specs
        self.count = offset
        self.index = Dictionary(uniqueKeysWithValues: specs.enumerated().map { ($1.name, $0) })
    }

    /// The spec named `name`, if the layout has one.
    public subscript(name: String) -> ParameterSpec? { index[name].map { specs[$0] } }

    /// The offset of `name`, which must exist.
    public func offset(_ name: String) -> Int {
        guard let i = index[name] else { preconditionFailure("No parameter named \(name)") }
        return specs[i].offset
    }
}

extension EncoderConfiguration {
    /// Per-band mean and standard deviation over every frame (row) of `features`, for `bandMean` and
    /// `bandStd`. Accumulates in Double; a band with (near) zero spread gets std 1e-3 so that
    /// normalisation stays finite.
    ///
    /// With `levelRange`, the statistics are those of the input the model sees: each matrix is cut into
    /// non-overlapping `windowFrames`-long windows (the last, shorter one included) and each window is
    /// level-normalised (`LevelNormalisation`) before it is counted; nothing is copied.
    public static func bandStatistics(
        of features: [Matrix], levelRange: Float? = nil, windowFrames: Int = 130
    )
        -> (mean: [Float], std: [Float])
    {
        precondition(windowFrames >= 1, "windowFrames must be positive")
        let bands = features.first?.columns ?? 0
        var sum = [Double](repeating: 0, count: bands), sumSquares = [Double](repeating: 0, count: bands)
        var frames = 0
        for m in features {
            precondition(m.columns == bands, "Feature matrices have \(bands) and \(m.columns) bands")
            let window = levelRange == nil ? max(m.rows, 1) : windowFrames
            m.storage.withUnsafeBufferPointer { all in
                for start in stride(from: 0, to: m.rows, by: window) {
                    let rows = min(window, m.rows - start)
                    let values = UnsafeBufferPointer(rebasing: all[(start * bands)..<((start + rows) * bands)])
                    let (floor, shift) =
                        levelRange.map { LevelNormalisation.floorAndMean(values, range: $0) }
                        ?? (-.infinity, 0)
                    for r in 0..<rows {
                        for k in 0..<bands {
                            let v = Double(max(values[r * bands + k], floor) - shift)
                            sum[k] += v
                            sumSquares[k] += v * v
                        }
                    }
                }
            }
            frames += m.rows
        }
        let n = Double(max(frames, 1))
        let mean = sum.map { $0 / n }
        let std = (0..<bands).map { k in max((max(sumSquares[k] / n - mean[k] * mean[k], 0)).squareRoot(), 1e-3) }
        return (mean.map(Float.init), std.map(Float.init))
    }
}
