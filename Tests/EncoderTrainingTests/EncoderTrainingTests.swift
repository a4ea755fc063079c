import Foundation
import RetrieveCore
import Testing
import TestSupport
@testable import EncoderTraining
@testable import SequenceEncoding

/// The PyTorch fixtures live with SequenceEncoding's tests; read them from the source tree.
private func fixture(_ name: String) throws -> SafeTensorsFile {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SequenceEncodingTests/Fixtures/\(name)")
    return try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: url)), path: url.path)
}

private func segments(_ t: SafeTensorsFile.Tensor) -> [Matrix] {
    let (b, rows, cols) = (t.shape[0], t.shape[1], t.shape[2])
    return (0..<b).map { Matrix(rows: rows, columns: cols, storage: Array(t.values[($0 * rows * cols)..<(($0 + 1) * rows * cols)])) }
}

/// The fixture's contrastive weight and temperature, set into `options`, and its track groups (nil without).
private func contrastiveSettings(_ data: SafeTensorsFile, into options: inout TrainingOptions) -> [Int]? {
    options.contrastiveWeight = Float(data.metadata["mu"] ?? "0") ?? 0
    options.contrastiveTemperature = Float(data.metadata["temperature"] ?? "0.1") ?? 0.1
    let groups = (data.metadata["groups"] ?? "").split(separator: ",").compactMap { Int($0) }
    return groups.isEmpty ? nil : groups
}

@Suite struct GradientParityTests {
    /// Loss parts and every parameter gradient of scripts/fixtures/lstm_parity.py (2-layer bidirectional,
    /// CE + 0.5 · triplet; batch-hard with mean pooling, semi-hard with attention pooling, batch-hard with mean
    /// pooling and a convolutional front end for `conv`).
    /// Run on every forward kernel this CPU supports (the fused ones keep the gates in their epilogue).
    @Test(arguments: [("mean", TripletMining.batchHard), ("attention", .semiHard), ("conv", .batchHard), ("conv2", .batchHard)])
    func gradientsMatchPyTorch(pooling: String, mining: TripletMining) throws {
        for path in LSTMKernelPath.allCases where path.isSupported {
            try gradientsMatchPyTorch(pooling: pooling, mining: mining, path: path)
        }
    }

    func gradientsMatchPyTorch(pooling: String, mining: TripletMining, path: LSTMKernelPath) throws {
        let modelFile = try fixture("parity_\(pooling)_model.safetensors")
        let (encoder, _) = try Encoder.decode(bytes: modelFile.serialized(), path: "fixture")
        encoder.lstmKernel = path
        let data = try fixture("parity_\(pooling)_data.safetensors")
        #expect(data.metadata["mining"] == mining.rawValue)
        var options = TrainingOptions()
        options.tripletWeight = Float(data.metadata["lambda"]!)!
        options.tripletMargin = Float(data.metadata["margin"]!)!
        options.mining = mining
        let groups = contrastiveSettings(data, into: &options)
        let trainer = EncoderTrainer(encoder: encoder, options: options)
        let labels = data.tensors["labels"]!.values.map { Int($0) }
        let (result, gradient) = trainer.lossAndGradient(segments: segments(data.tensors["input"]!), labels: labels,
                                                         groups: groups)
        #expect(abs(result.crossEntropy - data.tensors["ce"]!.values[0]) < 1e-5)
        #expect(abs(result.triplet - data.tensors["triplet"]!.values[0]) < 1e-5)
        #expect(abs(result.contrastive - data.tensors["contrastive"]!.values[0]) < 1e-5)
        #expect(abs(result.total - data.tensors["total"]!.values[0]) < 1e-5)
        var worst: Float = 0
        for spec in encoder.layout.specs {
            let mine = Array(gradient[spec.offset..<(spec.offset + spec.count)])
            let reference = data.tensors["grad." + spec.name]!.values
            let err = Approx.relativeError(mine, reference)
            worst = max(worst, err)
            #expect(err < 1e-4, "\(path) \(spec.name): relative error \(err)")
        }
        print("gradient parity (\(pooling), \(path)): worst per-tensor relative error \(worst)")
    }

    /// Two AdamW steps on the fixture batch (lr 1e-2, decay 1e-2 on matrices, no clipping) land on
    /// PyTorch's parameters.
    @Test(arguments: [("mean", TripletMining.batchHard), ("attention", .semiHard), ("conv", .batchHard), ("conv2", .batchHard)])
    func adamWStepsMatchPyTorch(pooling: String, mining: TripletMining) throws {
        let modelFile = try fixture("parity_\(pooling)_model.safetensors")
        let (encoder, _) = try Encoder.decode(bytes: modelFile.serialized(), path: "fixture")
        let data = try fixture("parity_\(pooling)_data.safetensors")
        var options = TrainingOptions()
        options.tripletWeight = Float(data.metadata["lambda"]!)!
        options.tripletMargin = Float(data.metadata["margin"]!)!
        options.mining = mining
        options.learningRate = 1e-2
        options.minimumLearningRate = 1e-2
        options.warmupSteps = 0
        options.weightDecay = 1e-2
        options.gradientClipNorm = nil
        let groups = contrastiveSettings(data, into: &options)
        let trainer = EncoderTrainer(encoder: encoder, options: options)
        let segs = segments(data.tensors["input"]!)
        let labels = data.tensors["labels"]!.values.map { Int($0) }
        for _ in 0..<2 { _ = trainer.step(segments: segs, labels: labels, groups: groups) }
        var worst: Float = 0
        for spec in encoder.layout.specs {
            let diff = Approx.maxAbsDifference(encoder.parameter(spec.name), data.tensors["after." + spec.name]!.values)
            worst = max(worst, diff)
            // Steps are about lr = 1e-2; Adam's m/√v amplifies float32 differences of near-zero gradients, most
            // with the contrastive term and the level clamp (attention fixture): 5e-5 is half a per cent of a step.
            #expect(diff < 5e-5, "\(spec.name): max difference \(diff)")
        }
        print("AdamW parity (\(pooling)): max parameter difference after 2 steps \(worst)")
    }
}

@Suite struct FiniteDifferenceTests {
    static func configuration(pooling: Pooling, frontEnd: ConvolutionalFrontEnd? = nil) -> EncoderConfiguration {
        EncoderConfiguration(
            inputSize: 4, hiddenSize: 3, layers: 2, bidirectional: true, pooling: pooling, embeddingSize: 4,
            classNames: ["a", "b", "c"], logitScale: 3, segmentFrames: 5, segmentHopFrames: 5,
            features: FeatureConfiguration(melBands: 4, topDecibels: nil), frontEnd: frontEnd)
    }

    /// Central differences of the total loss for every parameter of a small 2-layer bidirectional model
    /// (covering both LSTM directions and layers, pooling, projection + L2 norm, classifier + CE), against
    /// the analytic gradient; per-tensor relative error. CE alone is smooth; the triplet term is checked
    /// with its own test below, where kinks can be avoided.
    @Test(arguments: [Pooling.mean, .attention], LSTMKernelPath.allCases)
    func parameterGradients(pooling: Pooling, path: LSTMKernelPath) {
        guard path.isSupported else { return }
        let encoder = Encoder(configuration: Self.configuration(pooling: pooling), seed: 11)
        encoder.lstmKernel = path
        checkGradients(encoder, label: "\(pooling), \(path)")
    }

    /// The same with a convolutional front end (2 channels, kernel 3 × 2, so the 'same' padding is uneven in
    /// time, pooling 2 of the 4 bands): its weight and bias gradients through the max-pooling's routing and the
    /// ReLU's mask, and every later parameter's through the front end's output. ReLU and max are kinked, so
    /// the step is small (a kink crossed inside ±eps would spoil the difference quotient); with this seed
    /// none is.
    @Test(arguments: LSTMKernelPath.allCases)
    func frontEndGradients(path: LSTMKernelPath) {
        guard path.isSupported else { return }
        let frontEnd = ConvolutionalFrontEnd(channels: 2, kernelBands: 3, kernelFrames: 2, pool: 2)
        let encoder = Encoder(configuration: Self.configuration(pooling: .mean, frontEnd: frontEnd), seed: 11)
        encoder.lstmKernel = path
        checkGradients(encoder, label: "front end, \(path)", eps: 3e-3)
    }

    /// The front end's second stage alone, against central differences: for L = Σ g ⊙ secondForward(h; W₂, b₂)
    /// with random g, `secondBackward`'s gradients with respect to W₂, b₂ and the input h (the col2im that
    /// carries the gradient on to the first stage). Alone, the stage's gradients are large next to Float's
    /// rounding, which a whole model's loss would drown them in; the whole chain is checked against PyTorch
    /// (`gradientsMatchPyTorch`, fixture conv2). Kernel 3 × 2 (uneven 'same' padding in time), 2 → 3 channels
    /// over 4 bands pooled by 2, 5 frames, 2 segments.
    @Test func secondStageGradients() {
        let f = ConvolutionalFrontEnd(
            channels: 2, kernelBands: 3, kernelFrames: 2, pool: 2,
            second: ConvolutionalStage(channels: 3, kernelBands: 3, kernelFrames: 2, pool: 2))
        let s = f.second!
        let mels = 8, t = 5, b = 2, q1 = f.firstBands(mels: mels), kk = FrontEndKernels.secondKernelSize(f, s)
        let outCount = t * b * f.outputSize(mels: mels), inCount = t * b * f.firstOutputSize(mels: mels)
        var rng = SeededGenerator(seed: 31)
        let h = (0..<inCount).map { _ in Float.random(in: -1...1, using: &rng) }
        let weight = (0..<(s.channels * kk)).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
        let bias = (0..<s.channels).map { _ in Float.random(in: 0...0.3, using: &rng) }
        let g = (0..<outCount).map { _ in Float.random(in: -1...1, using: &rng) }
        var columns = [Float](repeating: 0, count: kk * b * q1), pre = [Float](repeating: 0, count: s.channels * b * q1)
        var scratch = [Float](repeating: 0, count: FrontEndKernels.secondScratchCount(f, s, mels: mels, steps: t))
        var output = [Float](repeating: 0, count: outCount), choice = output
        func forward(_ h: [Float], _ weight: [Float], _ bias: [Float]) {
            FrontEndKernels.secondForward(
                h, steps: t, batch: b, mels: mels, f, s, weight: weight, bias: bias, scratch: &scratch,
                output: &output, choice: &choice)
        }
        func loss(_ h: [Float], _ weight: [Float], _ bias: [Float]) -> Double {
            forward(h, weight, bias)
            return zip(g, output).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        forward(h, weight, bias)
        var dWeight = [Float](repeating: 0, count: weight.count), dBias = [Float](repeating: 0, count: bias.count)
        var dInput = [Float](repeating: 7, count: inCount), dColumns = columns
        FrontEndKernels.secondBackward(
            h, steps: t, batch: b, mels: mels, f, s, weight: weight, output: output, choice: choice, dOutput: g,
            columns: &columns, dColumns: &dColumns, dPreActivation: &pre, dWeight: &dWeight, dBias: &dBias,
            dInput: &dInput)
        #expect(output.contains { $0 > 0 } && output.contains { $0 == 0 }, "both ReLU sides exercised")
        let eps: Float = 1e-3
        /// The central difference of the loss in one value of `values` (which `place` puts back into the loss).
        func numeric(_ values: [Float], _ place: ([Float]) -> Double) -> [Float] {
            values.indices.map { i in
                var up = values, down = values
                up[i] += eps
                down[i] -= eps
                return Float((place(up) - place(down)) / Double(2 * eps))
            }
        }
        let nWeight = numeric(weight) { loss(h, $0, bias) }
        let nBias = numeric(bias) { loss(h, weight, $0) }
        let nInput = numeric(h) { loss($0, weight, bias) }
        for (name, analytic, num) in [("W₂", dWeight, nWeight), ("b₂", dBias, nBias), ("h", dInput, nInput)] {
            let diff = Approx.maxAbsDifference(analytic, num), scale = num.map(abs).max()!
            #expect(diff < 2e-3 * max(scale, 1), "\(name): error \(diff) for gradients up to \(scale)")
        }
    }

    func checkGradients(_ encoder: Encoder, label: String, eps: Float = 1e-2) {
        var options = TrainingOptions()
        options.tripletWeight = 0
        let trainer = EncoderTrainer(encoder: encoder, options: options)
        var rng = SeededGenerator(seed: 12)
        let segs = (0..<6).map { _ in rng.matrix(rows: 5, columns: 4, in: -2...2) }
        let labels = [0, 0, 1, 1, 2, 2]
        let (_, analytic) = trainer.lossAndGradient(segments: segs, labels: labels)
        let p = encoder.parameters.pointer
        var worst: Float = 0
        for spec in encoder.layout.specs {
            let picks = 0..<spec.count
            var numeric: [Float] = []
            var mine: [Float] = []
            for i in picks {
                let j = spec.offset + i
                let saved = p[j]
                p[j] = saved + eps
                let plus = trainer.lossAndGradient(segments: segs, labels: labels).result.total
                p[j] = saved - eps
                let minus = trainer.lossAndGradient(segments: segs, labels: labels).result.total
                p[j] = saved
                numeric.append((plus - minus) / (2 * eps))
                mine.append(analytic[j])
            }
            // Float losses leave ~1e-5 of noise in a central difference: errors are relative to the
            // gradient's size, with that noise as a floor.
            let diff = Approx.maxAbsDifference(mine, numeric)
            let scale = max(numeric.map(abs).max()!, 1e-3)
            let err = diff / scale
            worst = max(worst, err)
            #expect(err < 2e-2, "\(spec.name): error \(diff) for gradients up to \(scale)")
        }
        print("finite differences (\(label)): worst per-tensor relative error \(worst)")
    }

    @Test func crossEntropyGradient() {
        var rng = SeededGenerator(seed: 3)
        let logits = rng.matrix(rows: 5, columns: 4, in: -3...3)
        let labels = [0, 3, 1, 2, 2]
        let analytic = Losses.softmaxCrossEntropy(logits: logits, labels: labels).gradient
        var numeric = [Float](repeating: 0, count: 20)
        for i in 0..<20 {
            var a = logits, b = logits
            a.storage[i] += 1e-2; b.storage[i] -= 1e-2
            numeric[i] = (Losses.softmaxCrossEntropy(logits: a, labels: labels).loss
                - Losses.softmaxCrossEntropy(logits: b, labels: labels).loss) / 2e-2
        }
        #expect(Approx.relativeError(analytic.storage, numeric) < 1e-3)
        // Reference value: −log softmax computed directly.
        let r0 = logits.row(0).map { Foundation.exp(Double($0)) }
        let ce0 = -Foundation.log(r0[0] / r0.reduce(0, +))
        let single = Losses.softmaxCrossEntropy(logits: logits.rows(0..<1), labels: [0]).loss
        #expect(abs(Double(single) - ce0) < 1e-5)
    }

    @Test(arguments: [TripletMining.batchHard, .semiHard])
    func tripletGradient(mining: TripletMining) {
        var rng = SeededGenerator(seed: 21)
        var worst: Float = 0
        for trial in 0..<5 {
            let raw = rng.matrix(rows: 9, columns: 4, in: -1...1)
            let embeddings = Matrix(rowArrays: (0..<9).map { Embedding(normalising: raw.row($0)).values })
            let labels = [0, 0, 0, 1, 1, 1, 2, 2, 2]
            let (loss, analytic) = Losses.triplet(embeddings: embeddings, labels: labels, margin: 0.5, mining: mining)
            #expect(loss > 0, "trial \(trial): margin 0.5 on random embeddings should leave active triplets")
            var numeric = [Float](repeating: 0, count: 36)
            let eps: Float = 1e-3
            for i in 0..<36 {
                var a = embeddings, b = embeddings
                a.storage[i] += eps; b.storage[i] -= eps
                numeric[i] = (Losses.triplet(embeddings: a, labels: labels, margin: 0.5, mining: mining).loss
                    - Losses.triplet(embeddings: b, labels: labels, margin: 0.5, mining: mining).loss) / (2 * eps)
            }
            worst = max(worst, Approx.relativeError(analytic.storage, numeric))
        }
        #expect(worst < 2e-2)
        print("triplet \(mining) finite differences: worst relative error \(worst)")
    }

    @Test func contrastiveGradient() {
        var rng = SeededGenerator(seed: 33)
        var worst: Float = 0
        for _ in 0..<5 {
            let raw = rng.matrix(rows: 8, columns: 5, in: -1...1)
            let embeddings = Matrix(rowArrays: (0..<8).map { Embedding(normalising: raw.row($0)).values })
            let groups = [0, 0, 1, 1, 2, 2, 2, 3]  // group 3 has no positive: an anchor that contributes nothing
            let (loss, analytic) = Losses.contrastive(embeddings: embeddings, groups: groups, temperature: 0.2)
            #expect(loss > 0)
            var numeric = [Float](repeating: 0, count: 40)
            let eps: Float = 1e-3
            for i in 0..<40 {
                var a = embeddings, b = embeddings
                a.storage[i] += eps; b.storage[i] -= eps
                numeric[i] = (Losses.contrastive(embeddings: a, groups: groups, temperature: 0.2).loss
                    - Losses.contrastive(embeddings: b, groups: groups, temperature: 0.2).loss) / (2 * eps)
            }
            worst = max(worst, Approx.relativeError(analytic.storage, numeric))
        }
        #expect(worst < 2e-2)
        print("contrastive finite differences: worst relative error \(worst)")
    }

    @Test func relationalGradientAndDefinition() {
        var rng = SeededGenerator(seed: 41)
        var worst: Float = 0
        for _ in 0..<5 {
            let raw = rng.matrix(rows: 6, columns: 4, in: -1...1)
            let embeddings = Matrix(rowArrays: (0..<6).map { Embedding(normalising: raw.row($0)).values })
            let teacherRaw = rng.matrix(rows: 6, columns: 7, in: -1...1)
            // Row 4 has no target: it takes part in no pair.
            let targets = Matrix(rowArrays: (0..<6).map { $0 == 4 ? [Float](repeating: 0, count: 7)
                : Embedding(normalising: teacherRaw.row($0)).values })
            let (loss, analytic) = Losses.relational(embeddings: embeddings, targets: targets)
            var expected = 0.0
            for i in 0..<6 where i != 4 {
                for j in 0..<6 where j != i && j != 4 {
                    let s = (0..<4).reduce(Float(0)) { $0 + embeddings[i, $1] * embeddings[j, $1] }
                    let t = (0..<7).reduce(Float(0)) { $0 + targets[i, $1] * targets[j, $1] }
                    expected += Double((s - t) * (s - t))
                }
            }
            #expect(abs(Double(loss) - expected / 20) < 1e-5)
            #expect(analytic.row(4).allSatisfy { $0 == 0 })
            let numeric = Self.centralDifferences(embeddings) { Losses.relational(embeddings: $0, targets: targets).loss }
            worst = max(worst, Approx.relativeError(analytic.storage, numeric))
        }
        #expect(worst < 1e-2)
        print("relational finite differences: worst relative error \(worst)")
    }

    /// Track-level relational distillation by its definition — each group's crops pooled as mean then L2 norm,
    /// the relational loss over the pooled vectors of groups with a target — and its gradient against central
    /// differences (through the pooling and normalisation, back to every crop).
    @Test func pooledRelationalGradientAndDefinition() {
        var rng = SeededGenerator(seed: 47)
        var worst: Float = 0
        // Groups in batch order, not sorted; group 2 has no target (zero rows) and takes part in no pair.
        let groups = [5, 5, 1, 1, 1, 2, 3, 3]
        for _ in 0..<5 {
            let raw = rng.matrix(rows: 8, columns: 4, in: -1...1)
            let embeddings = Matrix(rowArrays: (0..<8).map { Embedding(normalising: raw.row($0)).values })
            let teacherRaw = rng.matrix(rows: 4, columns: 7, in: -1...1)
            let groupTarget = [5: 0, 1: 1, 3: 3].mapValues { Embedding(normalising: teacherRaw.row($0)).values }
            let targets = Matrix(rowArrays: groups.map { groupTarget[$0] ?? [Float](repeating: 0, count: 7) })
            let (loss, analytic) = Losses.pooledRelational(embeddings: embeddings, groups: groups, targets: targets)
            func pooled(_ g: Int) -> [Float] {
                let rows = groups.indices.filter { groups[$0] == g }
                return Embedding(normalising: (0..<4).map { j in rows.reduce(Float(0)) { $0 + embeddings[$1, j] } }).values
            }
            var expected = 0.0
            for g in [5, 1, 3] {
                for h in [5, 1, 3] where h != g {
                    let s = zip(pooled(g), pooled(h)).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                    let t = zip(groupTarget[g]!, groupTarget[h]!).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                    expected += Double((s - t) * (s - t))
                }
            }
            #expect(abs(Double(loss) - expected / 6) < 1e-5)
            #expect(loss > 0)
            #expect(analytic.row(5).allSatisfy { $0 == 0 })
            let numeric = Self.centralDifferences(embeddings) {
                Losses.pooledRelational(embeddings: $0, groups: groups, targets: targets).loss
            }
            worst = max(worst, Approx.relativeError(analytic.storage, numeric))
            // One crop per group is the crop-level relational loss; its gradient is that loss's, less the part
            // along the (unit) crop that the pooled vector's normalisation removes: (I − e eᵀ) g.
            let single = Losses.pooledRelational(embeddings: embeddings, groups: Array(0..<8), targets: targets)
            let plain = Losses.relational(embeddings: embeddings, targets: targets)
            #expect(abs(single.loss - plain.loss) < 1e-6)
            var tangent = plain.gradient
            for r in 0..<8 {
                let along = (0..<4).reduce(Float(0)) { $0 + plain.gradient[r, $1] * embeddings[r, $1] }
                for j in 0..<4 { tangent[r, j] -= along * embeddings[r, j] }
            }
            #expect(Approx.maxAbsDifference(single.gradient.storage, tangent.storage) < 1e-5)
        }
        #expect(worst < 1e-2)
        print("pooled relational finite differences: worst relative error \(worst)")
        // Fewer than two groups with a target: no loss, no gradient.
        let one = Losses.pooledRelational(embeddings: Matrix(rowArrays: [[1, 0], [0, 1]]), groups: [0, 0],
                                          targets: Matrix(rowArrays: [[1, 0], [1, 0]]))
        #expect(one.loss == 0 && one.gradient.storage.allSatisfy { $0 == 0 })
    }

    /// The consistency loss by its definition (mean 1 − cosine over the aligned pairs; items in no pair get no
    /// gradient) and its gradient against central differences.
    @Test func consistencyGradientAndDefinition() {
        var rng = SeededGenerator(seed: 53)
        let pairs = [(0, 1), (3, 2), (4, 5)]
        var worst: Float = 0
        for _ in 0..<5 {
            let raw = rng.matrix(rows: 7, columns: 4, in: -1...1)
            let embeddings = Matrix(rowArrays: (0..<7).map { Embedding(normalising: raw.row($0)).values })
            let (loss, analytic) = Losses.consistency(embeddings: embeddings, pairs: pairs)
            let expected = pairs.map { i, j in 1 - (0..<4).reduce(Float(0)) { $0 + embeddings[i, $1] * embeddings[j, $1] } }
                .reduce(0, +) / 3
            #expect(abs(loss - expected) < 1e-6)
            #expect(analytic.row(6).allSatisfy { $0 == 0 })
            let numeric = Self.centralDifferences(embeddings) { Losses.consistency(embeddings: $0, pairs: pairs).loss }
            worst = max(worst, Approx.relativeError(analytic.storage, numeric))
        }
        #expect(worst < 1e-2)
        #expect(Losses.consistency(embeddings: Matrix(rowArrays: [[1, 0], [1, 0]]), pairs: [(0, 1)]).loss == 0)
        #expect(Losses.consistency(embeddings: Matrix(rowArrays: [[1, 0], [0, 1]]), pairs: []).loss == 0)
    }

    /// Central differences of `loss` with respect to every entry of `embeddings`.
    static func centralDifferences(_ embeddings: Matrix, eps: Float = 1e-3, _ loss: (Matrix) -> Float) -> [Float] {
        embeddings.storage.indices.map { i in
            var a = embeddings, b = embeddings
            a.storage[i] += eps; b.storage[i] -= eps
            return (loss(a) - loss(b)) / (2 * eps)
        }
    }

    /// Random unit targets (7-d) for six segments, row 4 without one (all zeros).
    static func regressionTargets(_ rng: inout SeededGenerator) -> Matrix {
        let raw = rng.matrix(rows: 6, columns: 7, in: -1...1)
        return Matrix(rowArrays: (0..<6).map { $0 == 4 ? [Float](repeating: 0, count: 7)
            : Embedding(normalising: raw.row($0)).values })
    }

    /// The regression loss by its definition (mean 1 − cosine of W e + b with the target over rows that have a
    /// target), and its gradients with respect to the embeddings, W and b against central differences.
    @Test func regressionGradientAndDefinition() {
        var rng = SeededGenerator(seed: 43)
        var worst: Float = 0
        for _ in 0..<5 {
            let raw = rng.matrix(rows: 6, columns: 4, in: -1...1)
            let embeddings = Matrix(rowArrays: (0..<6).map { Embedding(normalising: raw.row($0)).values })
            let targets = Self.regressionTargets(&rng)
            let weight = rng.matrix(rows: 7, columns: 4, in: -1...1)
            let bias = rng.matrix(rows: 1, columns: 7, in: -0.3...0.3).storage
            let r = Losses.regression(embeddings: embeddings, targets: targets, weight: weight, bias: bias)
            var expected = 0.0
            for i in 0..<6 where i != 4 {
                let y = (0..<7).map { j in Double(bias[j]) + (0..<4).reduce(0.0) { $0 + Double(weight[j, $1] * embeddings[i, $1]) } }
                let t = targets.row(i).map(Double.init)
                let dot = zip(y, t).reduce(0) { $0 + $1.0 * $1.1 }
                let ny = y.reduce(0) { $0 + $1 * $1 }.squareRoot(), nt = t.reduce(0) { $0 + $1 * $1 }.squareRoot()
                expected += 1 - dot / (ny * nt)
            }
            #expect(abs(Double(r.loss) - expected / 5) < 1e-5)
            #expect(r.embeddings.row(4).allSatisfy { $0 == 0 })
            let eps: Float = 1e-3
            func loss(_ e: Matrix, _ w: Matrix, _ b: [Float]) -> Float {
                Losses.regression(embeddings: e, targets: targets, weight: w, bias: b).loss
            }
            var numeric = [Float](repeating: 0, count: 24)
            for i in 0..<24 {
                var a = embeddings, b = embeddings
                a.storage[i] += eps; b.storage[i] -= eps
                numeric[i] = (loss(a, weight, bias) - loss(b, weight, bias)) / (2 * eps)
            }
            worst = max(worst, Approx.relativeError(r.embeddings.storage, numeric))
            var numericW = [Float](repeating: 0, count: 28)
            for i in 0..<28 {
                var a = weight, b = weight
                a.storage[i] += eps; b.storage[i] -= eps
                numericW[i] = (loss(embeddings, a, bias) - loss(embeddings, b, bias)) / (2 * eps)
            }
            worst = max(worst, Approx.relativeError(r.weight.storage, numericW))
            var numericB = [Float](repeating: 0, count: 7)
            for i in 0..<7 {
                var a = bias, b = bias
                a[i] += eps; b[i] -= eps
                numericB[i] = (loss(embeddings, weight, a) - loss(embeddings, weight, b)) / (2 * eps)
            }
            worst = max(worst, Approx.relativeError(r.bias, numericB))
        }
        #expect(worst < 1e-2)
        print("regression finite differences: worst relative error \(worst)")
    }

    /// The whole step with classification, relational, regression, track-relational and consistency on: central
    /// differences of the total loss for every encoder parameter (through the L2 norm, projection, pooling and
    /// LSTM) and every parameter of the training-only head, against the analytic gradients.
    @Test func gradientsWithRegressionHead() {
        let encoder = Encoder(configuration: Self.configuration(pooling: .mean), seed: 13)
        var options = TrainingOptions()
        options.tripletWeight = 0
        options.relationalWeight = 3
        options.regressionWeight = 0.7
        options.trackRelationalWeight = 2
        options.consistencyWeight = 1.5
        let trainer = EncoderTrainer(encoder: encoder, options: options)
        trainer.regressionHead = RegressionHead(inputSize: 4, outputSize: 7, seed: 2, options: options)
        trainer.regressionHead!.bias = [0.1, -0.2, 0.05, 0, 0.3, -0.1, 0.2]
        var rng = SeededGenerator(seed: 14)
        let segs = (0..<6).map { _ in rng.matrix(rows: 5, columns: 4, in: -2...2) }
        let labels = [0, 0, 1, 1, 2, 2]
        let targets = Self.regressionTargets(&rng)
        // Tracks: segments 0–1, 2–3, 4–5; the track targets are the first crop's teacher rows.
        let groups = [0, 0, 1, 1, 2, 2]
        let trackTargets = Matrix(rowArrays: groups.map { targets.row(2 * $0) })
        func run() -> (result: StepResult, gradient: [Float]) {
            trainer.lossAndGradient(segments: segs, labels: labels, groups: groups, targets: targets,
                                    trackTargets: trackTargets, alignedPairs: [(0, 1), (5, 4)])
        }
        func total() -> Float { run().result.total }
        let (result, analytic) = run()
        let analyticHead = trainer.regressionHeadGradient
        #expect(result.regression > 0 && result.relational > 0 && result.trackRelational > 0 && result.consistency > 0)
        #expect(analyticHead.count == 4 * 7 + 7)
        // Per tensor, directional derivatives along the analytic gradient and along a random unit direction
        // (the LSTM's per-element chain is checked by `parameterGradients`; here single elements of the
        // recurrent weights have gradients near the Float noise of a central difference).
        var eps: Float = 1e-2
        var worst: Float = 0
        let p = encoder.parameters.pointer
        for spec in encoder.layout.specs {
            let g = Array(analytic[spec.offset..<(spec.offset + spec.count)])
            let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 1e-4 else { continue }
            let random = (0..<spec.count).map { _ in rng.nextGaussian() }
            let randomNorm = random.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for direction in [g.map { $0 / norm }, random.map { $0 / randomNorm }] {
                let saved = Array(UnsafeBufferPointer(start: p + spec.offset, count: spec.count))
                for i in 0..<spec.count { p[spec.offset + i] = saved[i] + eps * direction[i] }
                let plus = total()
                for i in 0..<spec.count { p[spec.offset + i] = saved[i] - eps * direction[i] }
                let minus = total()
                for i in 0..<spec.count { p[spec.offset + i] = saved[i] }
                let numeric = (plus - minus) / (2 * eps)
                let mine = zip(g, direction).reduce(0) { $0 + $1.0 * $1.1 }
                let err = abs(numeric - mine) / norm
                worst = max(worst, err)
                #expect(err < 2e-2, "\(spec.name): directional derivative \(numeric), analytic \(mine), |g| \(norm)")
            }
        }
        eps = 3e-3
        let head = trainer.regressionHead!
        var numeric: [Float] = []
        for i in 0..<(4 * 7 + 7) {
            func set(_ v: Float) { if i < 28 { head.weight.storage[i] = v } else { head.bias[i - 28] = v } }
            let saved = i < 28 ? head.weight.storage[i] : head.bias[i - 28]
            set(saved + eps); let plus = total()
            set(saved - eps); let minus = total()
            set(saved)
            numeric.append((plus - minus) / (2 * eps))
        }
        let headErr = Approx.maxAbsDifference(analyticHead, numeric) / max(numeric.map(abs).max()!, 1e-3)
        #expect(headErr < 2e-2, "regression head: relative error \(headErr)")
        print("finite differences with the regression head: worst encoder tensor \(worst), head \(headErr)")
    }

    @Test func contrastiveByTheDefinition() {
        // Three items, groups [0, 0, 1]: anchor 0's positive is 1, anchor 1's is 0, item 2 has none.
        let e = Matrix(rowArrays: [[1, 0], [0.6, 0.8], [0, 1]])
        let t: Double = 0.5
        func term(_ a: Int, _ p: Int, _ others: [Int]) -> Double {
            func s(_ i: Int, _ j: Int) -> Double { Double(e[i, 0] * e[j, 0] + e[i, 1] * e[j, 1]) / t }
            return -(s(a, p) - Foundation.log(others.map { Foundation.exp(s(a, $0)) }.reduce(0, +)))
        }
        let expected = (term(0, 1, [1, 2]) + term(1, 0, [0, 2])) / 2
        let loss = Losses.contrastive(embeddings: e, groups: [0, 0, 1], temperature: 0.5).loss
        #expect(abs(Double(loss) - expected) < 1e-5)
        #expect(Losses.contrastive(embeddings: e, groups: [0, 1, 2]).loss == 0)
    }

    @Test func tripletBruteForce() {
        // Two well separated clusters: batch-hard loss is zero; swapped labels make it positive.
        let e = Matrix(rowArrays: [[1, 0], [0.995, 0.0998], [0, 1], [0.0998, 0.995]])
        #expect(Losses.triplet(embeddings: e, labels: [0, 0, 1, 1]).loss == 0)
        let swapped = Losses.triplet(embeddings: e, labels: [0, 1, 0, 1], margin: 0.2).loss
        // Anchor 0: d_ap = d(0,2) = 1, d_an = d(0,1) ≈ 0.005 → 1.195; all anchors symmetric-ish.
        #expect(swapped > 1)
    }
}

@Suite struct OptimisationTests {
    @Test func adamWMatchesTheFormula() {
        var opt = AdamW(parameterCount: 2, weightDecay: 0.1)
        var params: [Float] = [1, -2]
        let grads: [Float] = [0.5, -0.25]
        params.withUnsafeMutableBufferPointer { p in
            grads.withUnsafeBufferPointer { opt.update(parameters: p.baseAddress!, gradients: $0.baseAddress!, decayed: [0..<1], learningRate: 0.01) }
        }
        // Step 1: m̂ = g, v̂ = g², update = lr · g / (|g| + ε) = ±lr; decay only on parameter 0.
        #expect(abs(params[0] - (1 * (1 - 0.001) - 0.01)) < 1e-6)
        #expect(abs(params[1] - (-2 + 0.01)) < 1e-6)
    }

    @Test func scheduleWarmsUpThenDecays() {
        let s = LearningRateSchedule(base: 1, minimum: 0.1, warmupSteps: 10, totalSteps: 110)
        #expect(abs(s.rate(at: 0) - 0.1) < 1e-6)
        #expect(abs(s.rate(at: 9) - 1) < 1e-6)
        #expect(abs(s.rate(at: 60) - 0.55) < 1e-5)
        #expect(abs(s.rate(at: 110) - 0.1) < 1e-6)
        #expect(abs(s.rate(at: 500) - 0.1) < 1e-6)
    }

    @Test func pkSamplerDrawsPClassesOfK() {
        let labels = (0..<50).map { $0 % 5 } + [5]
        var sampler = PKBatchSampler(labels: labels, classes: 3, itemsPerClass: 4, seed: 1)
        var seenClasses = Set<Int>()
        for _ in 0..<20 {
            let batch = sampler.next()
            #expect(batch.count == 12)
            let classes = batch.map { labels[$0] }
            for g in 0..<3 { #expect(Set(classes[(g * 4)..<(g * 4 + 4)]).count == 1) }
            #expect(Set(classes).count == 3)
            seenClasses.formUnion(classes)
        }
        #expect(seenClasses.count == 6)
        var again = PKBatchSampler(labels: labels, classes: 3, itemsPerClass: 4, seed: 1)
        var first = PKBatchSampler(labels: labels, classes: 3, itemsPerClass: 4, seed: 1)
        #expect(again.next() == first.next())
    }
}

/// Synthetic "log-mel" sequences: class c lights up its own band range, plus noise.
func syntheticData(count: Int, frames: Int, bands: Int, seed: UInt64) -> ([Matrix], [Int]) {
    var rng = SeededGenerator(seed: seed)
    var segs: [Matrix] = []
    var labels: [Int] = []
    for i in 0..<count {
        let c = i % 3
        var m = Matrix(rows: frames, columns: bands)
        for t in 0..<frames {
            for k in 0..<bands {
                let active = k / (bands / 3) == c && (t + k) % 3 != 0
                m[t, k] = -60 + (active ? 12 : 0) + 8 * rng.nextGaussian()
            }
        }
        segs.append(m)
        labels.append(c)
    }
    return (segs, labels)
}

@Suite struct TrainingTests {
    @Test func tinyModelLearnsThreeClasses() {
        let config = EncoderConfiguration(
            inputSize: 12, hiddenSize: 16, layers: 1, bidirectional: false, pooling: .mean, embeddingSize: 8,
            classNames: ["low", "mid", "high"], logitScale: 8, segmentFrames: 16, segmentHopFrames: 16,
            features: FeatureConfiguration(melBands: 12, topDecibels: nil),
            bandMean: [Float](repeating: -58, count: 12), bandStd: [Float](repeating: 10, count: 12))
        let encoder = Encoder(configuration: config, seed: 5)
        var options = TrainingOptions()
        options.learningRate = 1e-2
        options.warmupSteps = 5
        options.totalSteps = 60
        options.tripletWeight = 0.5
        let trainer = EncoderTrainer(encoder: encoder, options: options)
        let (train, trainLabels) = syntheticData(count: 120, frames: 16, bands: 12, seed: 1)
        let (valid, validLabels) = syntheticData(count: 60, frames: 16, bands: 12, seed: 2)
        let before = trainer.evaluate(segments: valid, labels: validLabels)
        var sampler = PKBatchSampler(labels: trainLabels, classes: 3, itemsPerClass: 8, seed: 3)
        var last = StepResult(crossEntropy: 0, triplet: 0, total: 0, accuracy: 0, gradientNorm: 0, learningRate: 0, step: 0)
        for _ in 0..<60 {
            let batch = sampler.next()
            last = trainer.step(segments: batch.map { train[$0] }, labels: batch.map { trainLabels[$0] })
        }
        let after = trainer.evaluate(segments: valid, labels: validLabels)
        print("tiny training: validation accuracy \(before.accuracy) → \(after.accuracy), CE \(before.crossEntropy) → \(after.crossEntropy), last step \(last)")
        #expect(after.accuracy > 0.85)
        #expect(after.crossEntropy < before.crossEntropy)
        #expect(trainer.stepCount == 60)
    }

    @Test func checkpointResumesExactly() throws {
        let dir = try TemporaryDirectory()
        let config = FiniteDifferenceTests.configuration(pooling: .attention)
        var options = TrainingOptions()
        options.warmupSteps = 2
        options.totalSteps = 10
        let trainer = EncoderTrainer(encoder: Encoder(configuration: config, seed: 1), options: options)
        var rng = SeededGenerator(seed: 2)
        let segs = (0..<6).map { _ in rng.matrix(rows: 5, columns: 4, in: -2...2) }
        let labels = [0, 0, 1, 1, 2, 2]
        for _ in 0..<3 { _ = trainer.step(segments: segs, labels: labels) }
        let url = dir.path("ckpt.safetensors")
        try trainer.saveCheckpoint(to: url, name: "ckpt")
        let resumed = try EncoderTrainer.resume(from: url)
        #expect(resumed.stepCount == 3 && resumed.options == options)
        let a = trainer.step(segments: segs, labels: labels)
        let b = resumed.step(segments: segs, labels: labels)
        #expect(a == b)
        #expect(trainer.encoder.flatParameters == resumed.encoder.flatParameters)
        // A checkpoint is also a model file; a model file is not a checkpoint.
        _ = try Encoder.load(contentsOf: url)
        let modelURL = dir.path("model.safetensors")
        try trainer.encoder.save(to: modelURL, name: "m")
        #expect(throws: ModelFileError.self) { _ = try EncoderTrainer.resume(from: modelURL) }
    }

    /// The regression head trains, resumes from a checkpoint exactly, and never enters the model file.
    @Test func regressionHeadResumesAndStaysOutOfTheModel() throws {
        let dir = try TemporaryDirectory()
        var options = TrainingOptions()
        options.warmupSteps = 2
        options.totalSteps = 10
        options.regressionWeight = 1
        let trainer = EncoderTrainer(encoder: Encoder(configuration: FiniteDifferenceTests.configuration(pooling: .mean),
                                                      seed: 1), options: options)
        var rng = SeededGenerator(seed: 2)
        let segs = (0..<6).map { _ in rng.matrix(rows: 5, columns: 4, in: -2...2) }
        let labels = [0, 0, 1, 1, 2, 2]
        let targets = FiniteDifferenceTests.regressionTargets(&rng)
        var losses: [Float] = []
        for _ in 0..<3 { losses.append(trainer.step(segments: segs, labels: labels, targets: targets).regression) }
        #expect(trainer.regressionHead != nil && losses[2] < losses[0])
        let url = dir.path("ckpt.safetensors")
        try trainer.saveCheckpoint(to: url, name: "ckpt")
        let resumed = try EncoderTrainer.resume(from: url)
        #expect(resumed.options == options)
        #expect(resumed.regressionHead?.flatParameters == trainer.regressionHead?.flatParameters)
        let a = trainer.step(segments: segs, labels: labels, targets: targets)
        let b = resumed.step(segments: segs, labels: labels, targets: targets)
        #expect(a == b)
        #expect(trainer.regressionHead?.flatParameters == resumed.regressionHead?.flatParameters)
        let modelURL = dir.path("model.safetensors")
        try trainer.encoder.save(to: modelURL, name: "m")
        let file = try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: modelURL)), path: modelURL.path)
        #expect(!file.tensors.keys.contains { $0.contains("regression") })
        #expect(!file.metadata.keys.contains { $0.contains("regression") })
        #expect(Set(file.tensors.keys) == Set(trainer.encoder.layout.specs.map(\.name)))
    }

    /// Options written by a checkpoint before a field existed decode with that field at its default.
    @Test func olderOptionsDecode() throws {
        var options = TrainingOptions()
        options.relationalWeight = 30
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(options)) as! [String: Any]
        object["regressionWeight"] = nil
        let decoded = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(decoded == options)
    }
}

@Suite struct TeacherFidelityTests {
    /// A student that is its teacher (through an identity head) has head cosine 1 and pair correlation 1;
    /// segments without a target, and pairs within one track, are left out.
    @Test func aStudentEqualToItsTeacherIsFaithful() throws {
        let t: [[Float]] = [[1, 0, 0], [0.6, 0.8, 0], [0, 0.6, 0.8], [0, 0, 1], [0.8, 0, 0.6], [0, 0, 0]]
        let tracks = [0, 0, 1, 1, 2, 2]
        let head = RegressionHead(inputSize: 3, outputSize: 3, seed: 1, options: TrainingOptions())
        head.weight = Matrix(rowArrays: [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
        let f = try #require(TeacherFidelity.measure(embeddings: Matrix(rowArrays: t), targets: Matrix(rowArrays: t),
                                                     tracks: tracks, head: head))
        #expect(abs(f.headCosine! - 1) < 1e-5 && abs(f.pairCorrelation - 1) < 1e-5, "\(f)")
        // Five segments with targets; of their 10 pairs, the two within tracks 0 and 1 are not counted.
        #expect(f.segments == 5 && f.pairs == 8)
        #expect(TeacherFidelity.measure(embeddings: Matrix(rowArrays: t), targets: Matrix(rowArrays: t), tracks: tracks,
                                        head: nil)?.headCosine == nil)
    }

    /// Three tracks of one segment each: the teacher's cosines (t₁·t₂, t₁·t₃, t₂·t₃) = (0, ½√2, ½√2), the
    /// student's (1, 0, 0), so the teacher's are an affine function of the student's with a negative slope:
    /// r = −1 exactly.
    @Test func correlationByHand() throws {
        let s = Float(0.5).squareRoot()
        let teacher = Matrix(rowArrays: [[1, 0, 0], [0, 1, 0], [s, s, 0]])
        let student = Matrix(rowArrays: [[1, 0, 0], [1, 0, 0], [0, 1, 0]])
        let head = RegressionHead(inputSize: 3, outputSize: 3, seed: 1, options: TrainingOptions())
        head.weight = Matrix(rowArrays: [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
        let f = try #require(TeacherFidelity.measure(embeddings: student, targets: teacher, tracks: [0, 1, 2], head: head))
        #expect(abs(f.pairCorrelation + 1) < 1e-5 && f.pairs == 3, "\(f)")
        // Head cosines: e₁·t₁ = 1, e₁·t₂ = 0, e₂·t₃ = ½√2; their mean.
        #expect(abs(f.headCosine! - (1 + 0 + s) / 3) < 1e-5, "\(f)")
        #expect(f.summary == String(format: "cos %.3f r -1.000", (1 + s) / 3))
        // Fewer than two tracks with targets: nothing to measure.
        #expect(TeacherFidelity.measure(embeddings: student, targets: teacher, tracks: [0, 0, 0], head: nil) == nil)
        #expect(TeacherFidelity.measure(embeddings: student, targets: Matrix(rows: 3, columns: 3), tracks: [0, 1, 2],
                                        head: nil) == nil)
    }
}
