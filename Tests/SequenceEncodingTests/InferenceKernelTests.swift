import Foundation
import RetrieveCore
import Testing
import TestSupport
@testable import SequenceEncoding

/// The inference recurrence on every path (the fused AVX-512 and AVX2 kernels, forced even where `best`
/// would pick another, and BLAS) against a naive double-precision LSTM, on shapes that hit every tail: hidden
/// sizes not a multiple of 16 or 8, batches of 1 and not a multiple of the row block, two bidirectional layers.
@Suite struct InferenceKernelTests {
    static func configuration(input: Int, hidden: Int, layers: Int, bidirectional: Bool) -> EncoderConfiguration {
        EncoderConfiguration(
            inputSize: input, hiddenSize: hidden, layers: layers, bidirectional: bidirectional, pooling: .mean,
            embeddingSize: 5, classNames: ["a", "b"], segmentFrames: 9, segmentHopFrames: 4,
            features: FeatureConfiguration(melBands: input, topDecibels: nil))
    }

    /// A randomly initialised encoder with mean pooling and 5-d embeddings.
    static func encoder(input: Int, hidden: Int, layers: Int = 1, bidirectional: Bool = false, seed: UInt64)
        -> Encoder
    {
        let c = configuration(input: input, hidden: hidden, layers: layers, bidirectional: bidirectional)
        return Encoder(configuration: c, seed: seed)
    }

    /// Every layer's outputs `[T][B][dirs · H]` of PyTorch's nn.LSTM equations in Double, on the input as the
    /// encoder normalises it.
    static func reference(_ encoder: Encoder, _ segments: [Matrix]) -> [Double] {
        let c = encoder.configuration
        let t = segments[0].rows, b = segments.count, h = c.hiddenSize, dirs = c.bidirectional ? 2 : 1
        var layerInput = [Double](repeating: 0, count: t * b * c.inputSize)
        for (bi, s) in segments.enumerated() {
            for ti in 0..<t {
                for k in 0..<c.inputSize {
                    let x = Float(s[ti, k] - c.bandMean[k]) * (1 / c.bandStd[k])
                    layerInput[(ti * b + bi) * c.inputSize + k] = Double(x)
                }
            }
        }
        var inSize = c.inputSize
        for l in 0..<c.layers {
            var out = [Double](repeating: 0, count: t * b * dirs * h)
            for dir in 0..<dirs {
                let suffix = dir == 0 ? "" : "_reverse"
                let wih = encoder.parameter("lstm.weight_ih_l\(l)\(suffix)").map(Double.init)
                let whh = encoder.parameter("lstm.weight_hh_l\(l)\(suffix)").map(Double.init)
                let bih = encoder.parameter("lstm.bias_ih_l\(l)\(suffix)").map(Double.init)
                let bhh = encoder.parameter("lstm.bias_hh_l\(l)\(suffix)").map(Double.init)
                for bi in 0..<b {
                    var hPrev = [Double](repeating: 0, count: h), cell = [Double](repeating: 0, count: h)
                    for s in 0..<t {
                        let ti = dir == 0 ? s : t - 1 - s
                        var hNew = [Double](repeating: 0, count: h)
                        for u in 0..<h {
                            var g = [Double](repeating: 0, count: 4)
                            for q in 0..<4 {
                                let row = q * h + u
                                var a = bih[row] + bhh[row]
                                let x = (ti * b + bi) * inSize
                                for k in 0..<inSize { a += wih[row * inSize + k] * layerInput[x + k] }
                                for k in 0..<h { a += whh[row * h + k] * hPrev[k] }
                                g[q] = a
                            }
                            let sig = { (x: Double) in 1 / (1 + Foundation.exp(-x)) }
                            cell[u] = sig(g[1]) * cell[u] + sig(g[0]) * Foundation.tanh(g[2])
                            hNew[u] = sig(g[3]) * Foundation.tanh(cell[u])
                        }
                        hPrev = hNew
                        for u in 0..<h { out[(ti * b + bi) * dirs * h + dir * h + u] = hNew[u] }
                    }
                }
            }
            layerInput = out
            inSize = dirs * h
        }
        return layerInput
    }

    /// (input, hidden, layers, bidirectional, batch, steps)
    static let shapes = [
        (7, 19, 2, true, 7, 5), (5, 16, 1, false, 1, 4), (3, 33, 2, true, 13, 3), (4, 8, 1, true, 6, 6),
    ]

    @Test(arguments: LSTMKernelPath.allCases)
    func matchesDoubleReference(path: LSTMKernelPath) throws {
        guard path.isSupported else {
            print("LSTM kernel \(path): not supported on this CPU, skipped")
            return
        }
        for (input, hidden, layers, bidirectional, batch, steps) in Self.shapes {
            let encoder = Self.encoder(
                input: input, hidden: hidden, layers: layers, bidirectional: bidirectional, seed: UInt64(hidden))
            encoder.lstmKernel = path
            var rng = SeededGenerator(seed: UInt64(batch))
            let segs = (0..<batch).map { _ in rng.matrix(rows: steps, columns: input, in: -3...3) }
            let cache = ForwardCache()
            encoder.forward(ArraySlice(segs), cache: cache, withLogits: false, training: false)
            let count = steps * batch * encoder.configuration.outputSize
            let ours = cache.outputs[layers - 1].array(count)
            let expected = Self.reference(encoder, segs).map(Float.init)
            let diff = Approx.maxAbsDifference(ours, expected)
            #expect(diff < 2e-6, "\(path) input \(input) hidden \(hidden) batch \(batch): max |Δ| \(diff)")
        }
    }

    /// Every path's training forward pass (which also keeps the activated gates, cells and tanh(cells) for the
    /// backward pass) and inference embeddings agree with the BLAS training forward.
    @Test(arguments: LSTMKernelPath.allCases)
    func trainingForwardMatchesBLAS(path: LSTMKernelPath) {
        guard path.isSupported else { return }
        let encoder = Self.encoder(input: 6, hidden: 21, layers: 2, bidirectional: true, seed: 3)
        var rng = SeededGenerator(seed: 4)
        let segs = (0..<9).map { _ in rng.matrix(rows: 8, columns: 6, in: -2...2) }
        encoder.lstmKernel = .blas
        let reference = ForwardCache()
        encoder.forward(ArraySlice(segs), cache: reference, withLogits: false, training: true)
        encoder.lstmKernel = path
        let cache = ForwardCache()
        encoder.forward(ArraySlice(segs), cache: cache, withLogits: false, training: true)
        let (t, b, h) = (8, 9, 21)
        for slot in 0..<4 {
            for (ours, theirs, count) in [(cache.gates, reference.gates, 4 * h), (cache.cells, reference.cells, h),
                                          (cache.tanhCells, reference.tanhCells, h)] {
                let n = t * b * count
                #expect(Approx.maxAbsDifference(ours[slot].array(n), theirs[slot].array(n)) < 2e-6)
            }
        }
        let expected = reference.embeddings.array(segs.count * 5)
        #expect(Approx.maxAbsDifference(cache.embeddings.array(segs.count * 5), expected) < 2e-6)
        #expect(Approx.maxAbsDifference(encoder.embed(segments: segs).flatMap(\.values), expected) < 2e-6)
    }

    /// A segment's embedding must not depend on the batch it is embedded in, its place in that batch or the
    /// number of threads (indexing batches segments differently between runs, and a resumed index is compared
    /// with an uninterrupted one). The fused kernels promise bit-identical LSTM outputs per row; the
    /// embeddings, after OpenBLAS's projection (whose rounding can depend on the number of rows), and the BLAS
    /// recurrence get 1e-6.
    @Test(arguments: LSTMKernelPath.allCases)
    func rowsDoNotDependOnTheirBatch(path: LSTMKernelPath) {
        guard path.isSupported else { return }
        let encoder = Self.encoder(input: 8, hidden: 37, layers: 2, bidirectional: true, seed: 8)
        encoder.lstmKernel = path
        var rng = SeededGenerator(seed: 9)
        let segs = (0..<17).map { _ in rng.matrix(rows: 6, columns: 8, in: -2...2) }
        let (t, d) = (6, encoder.configuration.outputSize)
        /// Each segment's last-layer outputs `[T][d]` when `order` is run as one batch.
        func lstmRows(_ order: [Int]) -> [[Float]] {
            let cache = ForwardCache()
            encoder.forward(ArraySlice(order.map { segs[$0] }), cache: cache, withLogits: false, training: false)
            let all = cache.outputs[1].array(t * order.count * d)
            var rows = [[Float]](repeating: [], count: segs.count)
            let b = order.count
            for (bi, index) in order.enumerated() {
                for ti in 0..<t {
                    let start = (ti * b + bi) * d
                    rows[index] += all[start..<(start + d)]
                }
            }
            return rows
        }
        let whole = lstmRows(Array(segs.indices))
        let reversed = lstmRows(segs.indices.reversed())
        let singles = segs.indices.map { lstmRows([$0])[$0] }
        let embedded = encoder.embed(segments: segs)
        encoder.inferenceBatchSize = 5
        let rebatched = Array(encoder.embed(segments: segs.reversed()).reversed())
        for i in segs.indices {
            if path == .blas {
                #expect(Approx.maxAbsDifference(whole[i], reversed[i]) < 1e-6)
                #expect(Approx.maxAbsDifference(whole[i], singles[i]) < 1e-6)
            } else {
                #expect(whole[i] == reversed[i], "\(path): segment \(i)'s LSTM outputs differ between batches")
                #expect(whole[i] == singles[i], "\(path): segment \(i)'s LSTM outputs differ alone")
            }
            #expect(Approx.maxAbsDifference(embedded[i].values, rebatched[i].values) < 1e-6)
        }
    }

    /// Splitting the rows over threads gives bit-identical outputs.
    @Test(arguments: LSTMKernelPath.allCases)
    func threadsGiveIdenticalRows(path: LSTMKernelPath) throws {
        guard path.isSupported, path != .blas else { return }
        // 29 rows: 5 parts of about 6, so 2 or 3 workers take several parts each from the counter.
        let (input, hidden, batch, steps) = (5, 23, 29, 7)
        let encoder = Self.encoder(input: input, hidden: hidden, seed: 5)
        encoder.lstmKernel = path
        let packed = try #require(encoder.packedWeights())
        var rng = SeededGenerator(seed: 6)
        let x = (0..<(steps * batch * input)).map { _ in Float.random(in: -2...2, using: &rng) }
        var outputs: [[Float]] = []
        for threads in [1, 2, 3, 8] {
            let cell = FloatBuffer(count: packed.cellCount(hidden: hidden, batch: batch))
            let out = FloatBuffer(count: steps * batch * hidden)
            x.withUnsafeBufferPointer { px in
                packed.runDirection(
                    slot: 0, input: px.baseAddress!, inputSize: input, steps: steps, batch: batch, hidden: hidden,
                    reverse: false, cell: cell.pointer, output: out.pointer, outputStride: hidden, threads: threads)
            }
            outputs.append(out.array(steps * batch * hidden))
        }
        #expect(outputs.allSatisfy { $0 == outputs[0] })
    }

    /// Packed weights follow parameter changes.
    @Test func packedWeightsFollowParameterChanges() throws {
        let path = LSTMKernelPath.best
        guard path != .blas else { return }
        let encoder = Self.encoder(input: 4, hidden: 9, seed: 1)
        var rng = SeededGenerator(seed: 2)
        let segs = [rng.matrix(rows: 5, columns: 4, in: -2...2)]
        let before = encoder.embed(segments: segs)
        let first = try #require(encoder.packedWeights())
        #expect(encoder.packedWeights() === first)
        encoder.setParameter("lstm.weight_hh_l0", encoder.parameter("lstm.weight_hh_l0").map { $0 * 2 })
        #expect(encoder.packedWeights() !== first)
        let after = encoder.embed(segments: segs)
        #expect(before != after)
        encoder.lstmKernel = .blas
        #expect(Approx.maxAbsDifference(encoder.embed(segments: segs)[0].values, after[0].values) < 2e-6)
    }

    @Test func reportsTheKernelInUse() {
        print("LSTM inference kernel: \(LSTMKernelPath.best) (supported: "
              + LSTMKernelPath.allCases.filter(\.isSupported).map(\.rawValue).joined(separator: ", ") + ")")
        #expect(LSTMKernelPath.best.isSupported)
    }
}
