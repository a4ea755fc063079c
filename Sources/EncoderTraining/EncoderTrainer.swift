public import Foundation
public import RetrieveCore
public import SequenceEncoding
import LinearAlgebra

/// The hyper-parameters of encoder training.
public struct TrainingOptions: Codable, Sendable, Equatable {
    /// Peak learning rate, reached after warm-up.
    public var learningRate: Float = 1e-3
    /// Learning rate at the end of the cosine decay.
    public var minimumLearningRate: Float = 1e-5
    public var warmupSteps: Int = 100
    /// Steps over which the cosine decay runs (the planned length of training).
    public var totalSteps: Int = 10_000
    /// Decoupled weight decay of the weight matrices (biases and the attention vector are not decayed).
    public var weightDecay: Float = 1e-4
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// Gradients whose global L2 norm exceeds this are scaled down to it; nil disables clipping.
    public var gradientClipNorm: Float? = 5
    /// κ in total = κ · CE + λ · triplet + …: the weight of the classification loss (1 as before; less lets
    /// the label-free losses lead).
    public var classificationWeight: Float = 1
    /// λ in total = CE + λ · triplet; 0 trains on cross-entropy alone.
    public var tripletWeight: Float = 1
    public var tripletMargin: Float = 0.2
    public var mining: TripletMining = .batchHard
    /// μ in total = CE + λ · triplet + μ · contrastive, where the contrastive loss (`Losses.contrastive`) takes
    /// crops of one track as positives; 0 leaves it out (and the step's `groups` are then not needed).
    public var contrastiveWeight: Float = 0
    /// The contrastive loss's temperature τ.
    public var contrastiveTemperature: Float = 0.1
    /// ν in total = … + ν · relational, the distillation loss towards a teacher's pairwise cosines
    /// (`Losses.relational`); 0 leaves it out (and the step's `targets` are then not needed).
    public var relationalWeight: Float = 0
    /// ρ in total = … + ρ · regression, the distillation loss from a training-only linear head on the
    /// embedding to the teacher's features (`Losses.regression`, `RegressionHead`); 0 leaves it out.
    public var regressionWeight: Float = 0
    /// ν_t in total = … + ν_t · track-relational, the distillation loss of the pooled crops of each track towards
    /// the teacher's pairwise cosines of whole tracks (`Losses.pooledRelational`); 0 leaves it out (and the
    /// step's `trackTargets` are then not needed).
    public var trackRelationalWeight: Float = 0
    /// γ in total = … + γ · consistency, the mean cosine distance of aligned (original, degraded copy) pairs
    /// (`Losses.consistency`); 0 leaves it out (and the step's `alignedPairs` are then not needed).
    public var consistencyWeight: Float = 0

    public init() {}

    // Options stored in older checkpoints lack the later fields: they decode at their defaults.
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func take<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try take(.learningRate, &learningRate); try take(.minimumLearningRate, &minimumLearningRate)
        try take(.warmupSteps, &warmupSteps); try take(.totalSteps, &totalSteps)
        try take(.weightDecay, &weightDecay); try take(.beta1, &beta1); try take(.beta2, &beta2)
        try take(.epsilon, &epsilon)
        gradientClipNorm = try c.decodeIfPresent(Float.self, forKey: .gradientClipNorm)
        try take(.classificationWeight, &classificationWeight); try take(.tripletWeight, &tripletWeight)
        try take(.tripletMargin, &tripletMargin); try take(.mining, &mining)
        try take(.contrastiveWeight, &contrastiveWeight); try take(.contrastiveTemperature, &contrastiveTemperature)
        try take(.relationalWeight, &relationalWeight); try take(.regressionWeight, &regressionWeight)
        try take(.trackRelationalWeight, &trackRelationalWeight); try take(.consistencyWeight, &consistencyWeight)
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(base: learningRate, minimum: minimumLearningRate, warmupSteps: warmupSteps, totalSteps: totalSteps)
    }
}

/// The losses and statistics of one training step (or of a gradient evaluation).
public struct StepResult: Sendable, Equatable {
    /// Mean cross-entropy.
    public var crossEntropy: Float
    /// Triplet loss (before weighting by λ).
    public var triplet: Float
    /// Contrastive loss over track groups (before weighting by μ; 0 when μ = 0).
    public var contrastive: Float = 0
    /// Relational distillation loss (before weighting by ν; 0 when ν = 0).
    public var relational: Float = 0
    /// Feature-regression distillation loss (before weighting by ρ; 0 when ρ = 0).
    public var regression: Float = 0
    /// Track-level relational distillation loss (before weighting by ν_t; 0 when ν_t = 0).
    public var trackRelational: Float = 0
    /// Consistency loss of aligned pairs (before weighting by γ; 0 when γ = 0).
    public var consistency: Float = 0
    /// κ · CE + λ · triplet + μ · contrastive + ν · relational + ρ · regression + ν_t · track-relational
    /// + γ · consistency.
    public var total: Float
    /// Fraction of the batch whose argmax logit is its label.
    public var accuracy: Float
    /// Global gradient L2 norm before clipping.
    public var gradientNorm: Float
    /// Learning rate used for the update (0 when no update was made).
    public var learningRate: Float
    /// Steps taken so far, including this one.
    public var step: Int
}

/// Classification and metric quality on held-out segments.
public struct Evaluation: Codable, Sendable, Equatable {
    public var crossEntropy: Float
    public var triplet: Float
    public var accuracy: Float
    public var count: Int
}

/// Trains an `Encoder` in place: forward, hand-written backward, AdamW with warm-up and cosine decay.
///
/// One step takes one batch (ideally P×K from `PKBatchSampler`). Segments of different lengths are
/// grouped for the LSTM but share one loss, so batch-hard mining still sees the whole batch. The trainer
/// owns its buffers; do not run inference on the same encoder while a step is running.
public final class EncoderTrainer {
    public let encoder: Encoder
    public var options: TrainingOptions
    /// Steps taken so far (restored from checkpoints).
    public private(set) var stepCount: Int
    public private(set) var optimizer: AdamW
    private var caches: [ForwardCache] = []
    private let workspace = BackwardWorkspace()
    private let gradientBuffer: FloatBuffer
    private let decayed: [Range<Int>]
    /// The training-only head of the regression loss (ρ ≠ 0): set it, or the first step with targets makes one
    /// (seed 1). It is saved in checkpoints, never in the model file.
    public var regressionHead: RegressionHead?
    private var regressionGradient: [Float] = []

    public init(encoder: Encoder, options: TrainingOptions) {
        self.encoder = encoder
        self.options = options
        self.stepCount = 0
        self.optimizer = AdamW(parameterCount: encoder.layout.count, beta1: options.beta1, beta2: options.beta2,
                               epsilon: options.epsilon, weightDecay: options.weightDecay)
        self.gradientBuffer = FloatBuffer(count: encoder.layout.count)
        self.decayed = encoder.layout.specs.filter(\.isDecayed).map { $0.offset..<($0.offset + $0.count) }
    }

    /// One optimisation step on a batch; `labels[i]` indexes `encoder.configuration.classNames`, and
    /// `groups[i]` names the track segment i is cut from (for the contrastive loss; nil: every segment its own).
    /// `targets` holds a teacher's unit vector per segment (a zero row: none) for the relational loss, and for
    /// the regression loss unless `regressionTargets` gives that one other rows. `trackTargets` holds, in each
    /// segment's row, the teacher's unit vector of its whole track (group), for the track-relational loss;
    /// `alignedPairs` the segment pairs that are one moment of a track and its degraded copy (consistency loss).
    public func step(segments: [Matrix], labels: [Int], groups: [Int]? = nil, targets: Matrix? = nil,
                     regressionTargets: Matrix? = nil, trackTargets: Matrix? = nil,
                     alignedPairs: [(Int, Int)] = []) -> StepResult {
        var result = computeGradients(segments: segments, labels: labels, groups: groups, targets: targets,
                                      regressionTargets: regressionTargets, trackTargets: trackTargets,
                                      alignedPairs: alignedPairs)
        let n = encoder.layout.count
        let g = gradientBuffer.pointer
        if let clip = options.gradientClipNorm, result.gradientNorm > clip {
            let scale = clip / (result.gradientNorm + 1e-6)
            for i in 0..<n { g[i] *= scale }
            for i in regressionGradient.indices { regressionGradient[i] *= scale }
        }
        let lr = options.schedule.rate(at: stepCount)
        optimizer.beta1 = options.beta1; optimizer.beta2 = options.beta2
        optimizer.epsilon = options.epsilon; optimizer.weightDecay = options.weightDecay
        optimizer.update(parameters: encoder.parameters.pointer, gradients: g, decayed: decayed, learningRate: lr)
        encoder.parametersChanged()
        if let head = regressionHead, !regressionGradient.isEmpty {
            head.update(gradient: regressionGradient, learningRate: lr, options: options)
        }
        stepCount += 1
        result.learningRate = lr
        result.step = stepCount
        return result
    }

    /// The loss of a batch and its gradient with respect to every parameter (layout order), without updating.
    /// The regression head's gradient is then `regressionHeadGradient`.
    public func lossAndGradient(segments: [Matrix], labels: [Int], groups: [Int]? = nil, targets: Matrix? = nil,
                                regressionTargets: Matrix? = nil, trackTargets: Matrix? = nil,
                                alignedPairs: [(Int, Int)] = [])
        -> (result: StepResult, gradient: [Float])
    {
        let r = computeGradients(segments: segments, labels: labels, groups: groups, targets: targets,
                                 regressionTargets: regressionTargets, trackTargets: trackTargets,
                                 alignedPairs: alignedPairs)
        return (r, gradientBuffer.array(encoder.layout.count))
    }

    /// The regression head's gradient (W's values then b's) from the last `lossAndGradient` or `step` (after
    /// clipping, for a step); empty when that step had no regression loss.
    public var regressionHeadGradient: [Float] { regressionGradient }

    private func computeGradients(segments: [Matrix], labels: [Int], groups trackGroups: [Int]?, targets: Matrix?,
                                  regressionTargets: Matrix?, trackTargets: Matrix?, alignedPairs: [(Int, Int)])
        -> StepResult
    {
        precondition(segments.count == labels.count && !segments.isEmpty, "A step needs one label per segment")
        precondition(trackGroups == nil || trackGroups!.count == segments.count, "A step needs one group per segment")
        let c = encoder.configuration
        let e = c.embeddingSize, k = c.classCount
        // Forward every length group, gathering embeddings and logits in the batch's order.
        let groups = Dictionary(grouping: segments.indices, by: { segments[$0].rows }).sorted { $0.key < $1.key }.map(\.value)
        while caches.count < groups.count { caches.append(ForwardCache()) }
        var embeddings = Matrix(rows: segments.count, columns: e)
        var logits = Matrix(rows: segments.count, columns: k)
        for (gi, indices) in groups.enumerated() {
            encoder.forward(ArraySlice(indices.map { segments[$0] }), cache: caches[gi], withLogits: true)
            for (bi, index) in indices.enumerated() {
                for j in 0..<e { embeddings[index, j] = caches[gi].embeddings.pointer[bi * e + j] }
                for j in 0..<k { logits[index, j] = caches[gi].logits.pointer[bi * k + j] }
            }
        }
        let ce = Losses.softmaxCrossEntropy(logits: logits, labels: labels)
        let lambda = options.tripletWeight
        let tri = lambda != 0
            ? Losses.triplet(embeddings: embeddings, labels: labels, margin: options.tripletMargin, mining: options.mining)
            : (loss: Float(0), gradient: Matrix(rows: segments.count, columns: e))
        // Classifier: logits = s (E Wᵀ + b).
        let grads = gradientBuffer.pointer
        gradientBuffer.zero(encoder.layout.count)
        let layout = encoder.layout
        let s = c.logitScale
        var dLogits = ce.gradient
        let kappa = options.classificationWeight
        for i in 0..<dLogits.storage.count { dLogits.storage[i] *= s * kappa }
        var dEmbeddings = tri.gradient
        for i in 0..<dEmbeddings.storage.count { dEmbeddings.storage[i] *= lambda }
        let (contrastive, relational, regression, trackRelational, consistency) = auxiliaryLosses(
            embeddings: embeddings, groups: trackGroups, targets: targets, regressionTargets: regressionTargets,
            trackTargets: trackTargets, alignedPairs: alignedPairs, into: &dEmbeddings)
        let mu = options.contrastiveWeight, nu = options.relationalWeight, rho = options.regressionWeight
        let nuTrack = options.trackRelationalWeight, gamma = options.consistencyWeight
        dLogits.storage.withUnsafeBufferPointer { dl in
            embeddings.storage.withUnsafeBufferPointer { ep in
                BLAS.gemm(.transposed, .none, m: k, n: e, k: segments.count, a: dl.baseAddress!, lda: k, b: ep.baseAddress!,
                          ldb: e, beta: 1, c: grads + layout.offset("classifier.weight"), ldc: e)
                dEmbeddings.storage.withUnsafeMutableBufferPointer { de in
                    BLAS.gemm(.none, .none, m: segments.count, n: e, k: k, a: dl.baseAddress!, lda: k,
                              b: encoder.parameters.pointer + layout.offset("classifier.weight"), ldb: e, beta: 1,
                              c: de.baseAddress!, ldc: e)
                }
            }
        }
        let db = grads + layout.offset("classifier.bias")
        for r in 0..<segments.count { for j in 0..<k { db[j] += dLogits[r, j] } }
        // Everything below the embeddings, group by group.
        for (gi, indices) in groups.enumerated() {
            var dGroup = [Float](repeating: 0, count: indices.count * e)
            for (bi, index) in indices.enumerated() { for j in 0..<e { dGroup[bi * e + j] = dEmbeddings[index, j] } }
            dGroup.withUnsafeBufferPointer { encoder.backward(cache: caches[gi], dEmbeddings: $0.baseAddress!, grads: grads, workspace: workspace) }
        }
        var sumSquares: Double = 0
        for i in 0..<layout.count { sumSquares += Double(grads[i]) * Double(grads[i]) }
        for g in regressionGradient { sumSquares += Double(g) * Double(g) }
        return StepResult(
            crossEntropy: ce.loss, triplet: tri.loss, contrastive: contrastive, relational: relational,
            regression: regression, trackRelational: trackRelational, consistency: consistency,
            total: kappa * ce.loss + lambda * tri.loss + mu * contrastive + nu * relational + rho * regression
                + nuTrack * trackRelational + gamma * consistency,
            accuracy: Float(ce.correct) / Float(segments.count), gradientNorm: Float(sumSquares.squareRoot()),
            learningRate: 0, step: stepCount)
    }

    /// The losses beside classification and triplet — contrastive over two crops of a track (μ), relational (ν),
    /// feature-regression (ρ) and track-relational (ν_t) distillation, consistency of aligned pairs (γ) — each
    /// added to `dEmbeddings` with its weight where it is on; sets the regression head's gradient
    /// (`regressionGradient`).
    private func auxiliaryLosses(embeddings: Matrix, groups trackGroups: [Int]?, targets: Matrix?,
                                 regressionTargets: Matrix?, trackTargets: Matrix?, alignedPairs: [(Int, Int)],
                                 into dEmbeddings: inout Matrix)
        -> (contrastive: Float, relational: Float, regression: Float, trackRelational: Float, consistency: Float)
    {
        let e = encoder.configuration.embeddingSize
        let count = embeddings.rows
        let mu = options.contrastiveWeight
        var contrastive: Float = 0
        if mu != 0, let trackGroups {
            let c = Losses.contrastive(embeddings: embeddings, groups: trackGroups, temperature: options.contrastiveTemperature)
            contrastive = c.loss
            for i in 0..<dEmbeddings.storage.count { dEmbeddings.storage[i] += mu * c.gradient.storage[i] }
        }
        let nu = options.relationalWeight
        var relational: Float = 0
        if nu != 0, let targets {
            precondition(targets.rows == count, "A step needs one target row per segment")
            let r = Losses.relational(embeddings: embeddings, targets: targets)
            relational = r.loss
            for i in 0..<dEmbeddings.storage.count { dEmbeddings.storage[i] += nu * r.gradient.storage[i] }
        }
        let rho = options.regressionWeight
        var regression: Float = 0
        regressionGradient = []
        if rho != 0, let targets = regressionTargets ?? targets {
            precondition(targets.rows == count, "A step needs one target row per segment")
            if regressionHead == nil {
                regressionHead = RegressionHead(inputSize: e, outputSize: targets.columns, seed: 1, options: options)
            }
            let head = regressionHead!
            let r = Losses.regression(embeddings: embeddings, targets: targets, weight: head.weight, bias: head.bias)
            regression = r.loss
            for i in 0..<dEmbeddings.storage.count { dEmbeddings.storage[i] += rho * r.embeddings.storage[i] }
            regressionGradient = (r.weight.storage + r.bias).map { rho * $0 }
        }
        let nuTrack = options.trackRelationalWeight
        var trackRelational: Float = 0
        if nuTrack != 0, let trackTargets, let trackGroups {
            precondition(trackTargets.rows == count, "A step needs one track target row per segment")
            let r = Losses.pooledRelational(embeddings: embeddings, groups: trackGroups, targets: trackTargets)
            trackRelational = r.loss
            for i in 0..<dEmbeddings.storage.count { dEmbeddings.storage[i] += nuTrack * r.gradient.storage[i] }
        }
        let gamma = options.consistencyWeight
        var consistency: Float = 0
        if gamma != 0, !alignedPairs.isEmpty {
            let r = Losses.consistency(embeddings: embeddings, pairs: alignedPairs)
            consistency = r.loss
            for i in 0..<dEmbeddings.storage.count { dEmbeddings.storage[i] += gamma * r.gradient.storage[i] }
        }
        return (contrastive, relational, regression, trackRelational, consistency)
    }

    /// Cross-entropy and accuracy over `segments`, and the triplet loss over all their embeddings together.
    public func evaluate(segments: [Matrix], labels: [Int]) -> Evaluation {
        precondition(segments.count == labels.count, "One label per segment")
        if segments.isEmpty { return Evaluation(crossEntropy: 0, triplet: 0, accuracy: 0, count: 0) }
        let embeddings = encoder.embed(segments: segments)
        let logits = encoder.logits(for: embeddings)
        let ce = Losses.softmaxCrossEntropy(logits: logits, labels: labels)
        let tri = Losses.triplet(embeddings: Matrix(rowArrays: embeddings.map(\.values)), labels: labels,
                                 margin: options.tripletMargin, mining: .batchHard)
        return Evaluation(crossEntropy: ce.loss, triplet: tri.loss, accuracy: Float(ce.correct) / Float(segments.count),
                          count: segments.count)
    }

    // MARK: Checkpoints

    /// Writes the model plus optimiser moments and step count (`optimizer.m`, `optimizer.v` tensors and
    /// `trainer.*` metadata) as one safetensors file; the file also loads as a plain model.
    public func saveCheckpoint(to url: URL, name: String) throws {
        let n = encoder.layout.count
        let json = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        var tensors = [("optimizer.m", [n], optimizer.m), ("optimizer.v", [n], optimizer.v)]
        var metadata = ["trainer.step": String(stepCount), "trainer.updates": String(optimizer.updates),
                        "trainer.options": json]
        if let head = regressionHead {
            let shape = [head.parameterCount]
            tensors += [("trainer.regression.parameters", shape, head.flatParameters), ("trainer.regression.m", shape, head.optimizer.m),
                        ("trainer.regression.v", shape, head.optimizer.v)]
            metadata["trainer.regression.shape"] = "\(head.outputSize)x\(head.inputSize)"
            metadata["trainer.regression.updates"] = String(head.optimizer.updates)
        }
        let bytes = encoder.serialized(name: name, extraTensors: tensors, extraMetadata: metadata)
        try OutputFile.write(Data(bytes), to: url.path)
    }

    /// Restores a trainer from `saveCheckpoint`; `options` overrides the stored ones when given.
    public static func resume(from url: URL, options: TrainingOptions? = nil) throws(ModelFileError) -> EncoderTrainer {
        let path = url.path
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch { throw .unreadable(path: path, reason: readFailureReason(error, path: path)) }
        let (encoder, file) = try Encoder.decode(bytes: bytes, path: path)
        let n = encoder.layout.count
        guard let m = file.tensors["optimizer.m"], let v = file.tensors["optimizer.v"] else {
            throw .missingTensor(path: path, name: "optimizer.m/optimizer.v (this is a model, not a checkpoint)")
        }
        guard m.values.count == n, v.values.count == n else {
            throw .wrongShape(path: path, name: "optimizer.m", expected: [n], found: m.shape)
        }
        guard let step = file.metadata["trainer.step"].flatMap(Int.init),
            let updates = file.metadata["trainer.updates"].flatMap(Int.init)
        else { throw .badMetadata(path: path, reason: "trainer.step/trainer.updates missing") }
        var resolved = options
        if resolved == nil, let json = file.metadata["trainer.options"] {
            resolved = try? JSONDecoder().decode(TrainingOptions.self, from: Data(json.utf8))
        }
        let trainer = EncoderTrainer(encoder: encoder, options: resolved ?? TrainingOptions())
        trainer.stepCount = step
        trainer.optimizer.m = m.values
        trainer.optimizer.v = v.values
        trainer.optimizer.updates = updates
        if let shape = file.metadata["trainer.regression.shape"] {
            let sizes = shape.split(separator: "x").compactMap { Int($0) }
            guard sizes.count == 2, let p = file.tensors["trainer.regression.parameters"], let hm = file.tensors["trainer.regression.m"],
                  let hv = file.tensors["trainer.regression.v"], let headUpdates = file.metadata["trainer.regression.updates"].flatMap(Int.init),
                  p.values.count == sizes[0] * sizes[1] + sizes[0], hm.values.count == p.values.count,
                  hv.values.count == p.values.count
            else { throw .badMetadata(path: path, reason: "the regression head's tensors are missing or of the wrong size") }
            var headOptimizer = AdamW(parameterCount: p.values.count)
            headOptimizer.m = hm.values
            headOptimizer.v = hv.values
            headOptimizer.updates = headUpdates
            trainer.regressionHead = RegressionHead(inputSize: sizes[1], outputSize: sizes[0], parameters: p.values,
                                                    optimizer: headOptimizer)
        }
        return trainer
    }
}
