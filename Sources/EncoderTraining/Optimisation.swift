import Foundation
import RetrieveCore

/// The learning rate at each step: linear warm-up from base/warmup to base, then cosine decay to `minimum`.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var base: Float
    public var minimum: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(base: Float, minimum: Float = 0, warmupSteps: Int, totalSteps: Int) {
        self.base = base
        self.minimum = minimum
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate for the step with 0-based index `step`; constant at `minimum` after `totalSteps`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let progress = min(1, Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps)))
        return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}

/// AdamW (Loshchilov & Hutter): Adam moments with bias correction, weight decay applied to the
/// parameters directly (p ← p − lr·λ·p) rather than added to the gradient; PyTorch's `torch.optim.AdamW`.
public struct AdamW: Sendable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// First and second moment estimates, one per parameter.
    public var m: [Float]
    public var v: [Float]
    /// Number of updates applied so far (for bias correction).
    public var updates: Int

    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: parameterCount)
        v = [Float](repeating: 0, count: parameterCount)
        updates = 0
    }

    /// One update of `parameters` with `gradients`; `decay[i]` says whether parameter i is weight-decayed.
    public mutating func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                                decayed: [Range<Int>], learningRate lr: Float) {
        updates += 1
        let c1 = 1 - Foundation.pow(beta1, Float(updates))
        let c2 = 1 - Foundation.pow(beta2, Float(updates))
        let stepSize = lr / c1
        let c2Root = c2.squareRoot()
        let shrink = 1 - lr * weightDecay
        for range in decayed { for i in range { parameters[i] *= shrink } }
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        m.withUnsafeMutableBufferPointer { mp in
            v.withUnsafeMutableBufferPointer { vp in
                for i in 0..<mp.count {
                    let g = gradients[i]
                    mp[i] = b1 * mp[i] + (1 - b1) * g
                    vp[i] = b2 * vp[i] + (1 - b2) * g * g
                    parameters[i] -= stepSize * mp[i] / (vp[i].squareRoot() / c2Root + eps)
                }
            }
        }
    }
}

/// Draws P×K batches: P distinct classes, K items of each, so every anchor has positives and negatives.
///
/// Classes with fewer than K items are sampled with replacement within the class. Seeded, so a run is reproducible.
public struct PKBatchSampler: Sendable {
    public let classes: Int
    public let itemsPerClass: Int
    private let byClass: [[Int]]
    private var rng: SplitMix64

    /// `labels[i]` is the class of item i; P = `classes`, K = `itemsPerClass`.
    public init(labels: [Int], classes p: Int, itemsPerClass k: Int, seed: UInt64) {
        let count = (labels.max() ?? -1) + 1
        var byClass = [[Int]](repeating: [], count: count)
        for (i, l) in labels.enumerated() { byClass[l].append(i) }
        self.byClass = byClass.filter { !$0.isEmpty }
        precondition(self.byClass.count >= 2, "P×K sampling needs at least two classes with items")
        self.classes = min(p, self.byClass.count)
        self.itemsPerClass = k
        self.rng = SplitMix64(seed: seed)
    }

    /// The state of the sampler's generator, to save with a checkpoint and restore on resuming; the rest of the
    /// sampler is fixed by its labels.
    public var randomState: UInt64 {
        get { rng.state }
        set { rng = SplitMix64(seed: newValue) }
    }

    /// The item indices of the next batch, grouped by class (P·K indices).
    public mutating func next() -> [Int] {
        var chosen = Array(byClass.indices)
        chosen.shuffle(using: &rng)
        var batch: [Int] = []
        for c in chosen.prefix(classes) {
            var items = byClass[c]
            if items.count >= itemsPerClass {
                items.shuffle(using: &rng)
                batch += items.prefix(itemsPerClass)
            } else {
                for _ in 0..<itemsPerClass { batch.append(items.randomElement(using: &rng)!) }
            }
        }
        return batch
    }
}

