import Foundation
import LinearAlgebra
import RetrieveCore
import SequenceEncoding

/// Reusable buffers of the backward pass, sized like the forward cache they follow.
final class BackwardWorkspace {
    let dPooled = FloatBuffer()
    let dProjected = FloatBuffer()
    /// Gradient with respect to the current layer's output `[T][B][D]`.
    var dOutput = FloatBuffer()
    /// Gradient with respect to the current layer's input, which becomes the next lower layer's dOutput.
    var dInput = FloatBuffer()
    /// Pre-activation gate gradients of one direction `[T][B][4H]`.
    let dGates = FloatBuffer()
    let dHidden = FloatBuffer()
    let dCell = FloatBuffer()
    let dAttention = FloatBuffer()
    let dScores = FloatBuffer()
    /// With a two-stage front end: the gradient with respect to the first stage's output `[T][B][C₁ · Q₁]`.
    let dFrontEndHidden = FloatBuffer()
    /// With a two-stage front end: the gradient of one step's second-stage im2col `[C₁·F₂·T₂][B·Q₁]`.
    let dSecondColumns = FloatBuffer()
}

extension Encoder {
    /// Accumulates into `grads` (layout order) the gradient of a loss whose gradient with respect to the
    /// unit embeddings of the batch in `cache` is `dEmbeddings` (`B × E`): back through the L2
    /// normalisation, projection, pooling, every LSTM layer and direction (BPTT) and the convolutional front end
    /// when the model has one.
    ///
    /// The classifier is not included: its gradient is computed over the whole batch by the trainer.
    func backward(cache: ForwardCache, dEmbeddings: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                  workspace w: BackwardWorkspace) {
        let dPooled = backProjection(cache: cache, dEmbeddings: dEmbeddings, grads: grads, workspace: w)
        let dY = backPooling(cache: cache, dPooled: dPooled, grads: grads, workspace: w)
        backLayers(cache: cache, dTop: dY, grads: grads, workspace: w)
        if let f = configuration.frontEnd {
            // backLayers left the gradient with respect to the first layer's input, the front end's output.
            let m = configuration.inputSize, t = cache.steps, b = cache.batch
            var firstOutput = UnsafePointer(cache.input.pointer), dFirst = UnsafePointer(w.dInput.pointer)
            if let s = f.second {
                // Back through the second stage to the first stage's output.
                let q1 = f.firstBands(mels: m), p = parameters.pointer
                let dHidden = w.dFrontEndHidden.reserve(t * b * f.firstOutputSize(mels: m))
                FrontEndKernels.secondBackward(
                    cache.frontEndHidden.pointer, steps: t, batch: b, mels: m, f, s,
                    weight: p + layout.offset("frontend.conv2.weight"), output: cache.input.pointer,
                    choice: cache.secondChoice.pointer, dOutput: w.dInput.pointer,
                    columns: cache.frontEndColumns.reserve(FrontEndKernels.secondKernelSize(f, s) * b * q1),
                    dColumns: w.dSecondColumns.reserve(FrontEndKernels.secondKernelSize(f, s) * b * q1),
                    dPreActivation: cache.frontEndPreActivation.reserve(s.channels * b * q1),
                    dWeight: grads + layout.offset("frontend.conv2.weight"),
                    dBias: grads + layout.offset("frontend.conv2.bias"), dInput: dHidden)
                firstOutput = UnsafePointer(cache.frontEndHidden.pointer)
                dFirst = UnsafePointer(dHidden)
            }
            FrontEndKernels.backward(
                cache.frontEndInput.pointer, steps: t, batch: b, mels: m, f,
                output: firstOutput, choice: cache.frontEndChoice.pointer, dOutput: dFirst,
                columns: cache.frontEndColumns.reserve(
                    FrontEndKernels.columnsCount(f, mels: configuration.inputSize, batch: cache.batch)),
                dPreActivation: cache.frontEndPreActivation.reserve(f.channels * cache.batch * configuration.inputSize),
                dWeight: grads + layout.offset("frontend.conv.weight"),
                dBias: grads + layout.offset("frontend.conv.bias"))
        }
    }

    /// Back through the L2 normalisation and the projection: accumulates the projection's gradients and returns
    /// the gradient with respect to the pooled outputs (`B × D`).
    private func backProjection(cache: ForwardCache, dEmbeddings: UnsafePointer<Float>,
                                grads: UnsafeMutablePointer<Float>, workspace w: BackwardWorkspace)
        -> UnsafeMutablePointer<Float>
    {
        let c = configuration
        let b = cache.batch, d = c.outputSize, e = c.embeddingSize
        let p = parameters.pointer
        // L2 normalisation: dz = (de − e (e·de)) / ‖z‖.
        let dz = w.dProjected.reserve(b * e)
        let emb = cache.embeddings.pointer
        for bi in 0..<b {
            var dot: Float = 0
            for k in 0..<e { dot += emb[bi * e + k] * dEmbeddings[bi * e + k] }
            let inv = 1 / cache.norms.pointer[bi]
            for k in 0..<e { dz[bi * e + k] = (dEmbeddings[bi * e + k] - emb[bi * e + k] * dot) * inv }
        }
        // Projection.
        let pooled = cache.pooled.pointer
        BLAS.gemm(.transposed, .none, m: e, n: d, k: b, a: dz, lda: e, b: pooled, ldb: d, beta: 1,
                  c: grads + layout.offset("projection.weight"), ldc: d)
        let dpb = grads + layout.offset("projection.bias")
        for bi in 0..<b { for k in 0..<e { dpb[k] += dz[bi * e + k] } }
        let dPooled = w.dPooled.reserve(b * d)
        BLAS.gemm(.none, .none, m: b, n: d, k: e, a: dz, lda: e, b: p + layout.offset("projection.weight"), ldb: d,
                  beta: 0, c: dPooled, ldc: d)
        return dPooled
    }

    /// Back through pooling over time: returns the gradient with respect to the top layer's outputs
    /// (`T × B × D`, time-major), accumulating the attention parameters' gradients when pooling attends.
    private func backPooling(cache: ForwardCache, dPooled: UnsafeMutablePointer<Float>,
                             grads: UnsafeMutablePointer<Float>, workspace w: BackwardWorkspace)
        -> UnsafeMutablePointer<Float>
    {
        let c = configuration
        let t = cache.steps, b = cache.batch, d = c.outputSize
        let dY = w.dOutput.reserve(t * b * d)
        switch c.pooling {
        case .mean:
            let scale = 1 / Float(t)
            for ti in 0..<t { for i in 0..<(b * d) { dY[ti * b * d + i] = dPooled[i] * scale } }
        case .attention:
            backAttention(cache: cache, dPooled: dPooled, dY: dY, grads: grads, workspace: w)
        }
        return dY
    }

    /// Attention pooling's backward: softmax, vᵀ tanh(W y + b), and the weighted sum, into `dY` and `grads`.
    private func backAttention(cache: ForwardCache, dPooled: UnsafeMutablePointer<Float>,
                               dY: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>,
                               workspace w: BackwardWorkspace) {
        let c = configuration
        let t = cache.steps, b = cache.batch, d = c.outputSize
        let p = parameters.pointer
        let y = cache.outputs[c.layers - 1].pointer
        let a = c.attentionSize
        let u = cache.attentionHidden.pointer
        let alpha = cache.attentionWeights.pointer
        let ds = w.dScores.reserve(t * b)
        for bi in 0..<b {
            var sum: Float = 0
            for ti in 0..<t {
                var dAlpha: Float = 0
                let row = y + (ti * b + bi) * d
                for k in 0..<d { dAlpha += dPooled[bi * d + k] * row[k] }
                ds[ti * b + bi] = dAlpha
                sum += alpha[ti * b + bi] * dAlpha
            }
            for ti in 0..<t { ds[ti * b + bi] = alpha[ti * b + bi] * (ds[ti * b + bi] - sum) }
        }
        // dv = Uᵀ ds; dA = ds vᵀ ⊙ (1 − U²).
        BLAS.gemv(.transposed, rows: t * b, columns: a, a: u, lda: a, x: ds, beta: 1,
                  y: grads + layout.offset("attention.vector"))
        let v = p + layout.offset("attention.vector")
        let dA = w.dAttention.reserve(t * b * a)
        let dab = grads + layout.offset("attention.bias")
        for r in 0..<(t * b) {
            for k in 0..<a {
                let uk = u[r * a + k]
                let g = ds[r] * v[k] * (1 - uk * uk)
                dA[r * a + k] = g
                dab[k] += g
            }
        }
        BLAS.gemm(.transposed, .none, m: a, n: d, k: t * b, a: dA, lda: a, b: y, ldb: d, beta: 1,
                  c: grads + layout.offset("attention.weight"), ldc: d)
        for ti in 0..<t {
            for bi in 0..<b {
                let wgt = alpha[ti * b + bi]
                for k in 0..<d { dY[(ti * b + bi) * d + k] = wgt * dPooled[bi * d + k] }
            }
        }
        BLAS.gemm(.none, .none, m: t * b, n: d, k: a, a: dA, lda: a, b: p + layout.offset("attention.weight"),
                  ldb: d, beta: 1, c: dY, ldc: d)
    }

    /// Back through every LSTM layer and direction, top to bottom (BPTT), from the top layer's output gradient.
    private func backLayers(cache: ForwardCache, dTop: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>,
                            workspace w: BackwardWorkspace) {
        let c = configuration
        let t = cache.steps, b = cache.batch
        let h = c.hiddenSize, d = c.outputSize, dirs = c.bidirectional ? 2 : 1
        let p = parameters.pointer
        let top = c.layers - 1
        var dY = dTop
        let dG = w.dGates.reserve(t * b * 4 * h)
        let dh = w.dHidden.reserve(b * h)
        let dc = w.dCell.reserve(b * h)
        for l in stride(from: top, through: 0, by: -1) {
            let inSize = l == 0 ? c.lstmInputSize : d
            let x = l == 0 ? cache.input.pointer : cache.outputs[l - 1].pointer
            let out = cache.outputs[l].pointer
            // The first layer's input gradient is needed only to go on into a front end.
            let dX = l > 0 || c.frontEnd != nil ? w.dInput.reserve(t * b * inSize) : nil
            for dir in 0..<dirs {
                let suffix = dir == 0 ? "" : "_reverse"
                let slot = l * dirs + dir
                LSTMBackward.direction(
                    dOutput: dY + dir * h, outputStride: d, steps: t, batch: b, hidden: h, reverse: dir == 1,
                    gates: cache.gates[slot].pointer, cells: cache.cells[slot].pointer,
                    tanhCells: cache.tanhCells[slot].pointer, weightHH: p + layout.offset("lstm.weight_hh_l\(l)\(suffix)"),
                    dGates: dG, dHidden: dh, dCell: dc)
                let g4 = 4 * h
                BLAS.gemm(.transposed, .none, m: g4, n: inSize, k: t * b, a: dG, lda: g4, b: x, ldb: inSize, beta: 1,
                          c: grads + layout.offset("lstm.weight_ih_l\(l)\(suffix)"), ldc: inSize)
                if t > 1 {
                    // h_prev of step t is h_{t−1} forwards and h_{t+1} backwards.
                    let dGStart = dir == 0 ? dG + b * g4 : dG
                    let hStart = (dir == 0 ? out : out + b * d) + dir * h
                    BLAS.gemm(.transposed, .none, m: g4, n: h, k: (t - 1) * b, a: dGStart, lda: g4, b: hStart, ldb: d,
                              beta: 1, c: grads + layout.offset("lstm.weight_hh_l\(l)\(suffix)"), ldc: h)
                }
                let dbi = grads + layout.offset("lstm.bias_ih_l\(l)\(suffix)")
                let dbh = grads + layout.offset("lstm.bias_hh_l\(l)\(suffix)")
                for r in 0..<(t * b) {
                    let row = dG + r * g4
                    for k in 0..<g4 { dbi[k] += row[k] }
                }
                // bias_hh enters the pre-activations exactly like bias_ih, so it receives the same gradient.
                for r in 0..<(t * b) {
                    let row = dG + r * g4
                    for k in 0..<g4 { dbh[k] += row[k] }
                }
                if let dX {
                    BLAS.gemm(.none, .none, m: t * b, n: inSize, k: g4, a: dG, lda: g4,
                              b: p + layout.offset("lstm.weight_ih_l\(l)\(suffix)"), ldb: inSize,
                              beta: dir == 0 ? 0 : 1, c: dX, ldc: inSize)
                }
            }
            if l > 0 { swap(&w.dOutput, &w.dInput); dY = w.dOutput.pointer }
        }
    }
}

/// Backpropagation through time for one direction of one LSTM layer.
enum LSTMBackward {
    /// Fills `dGates` (`[T][B][4H]`, gradients of the gate pre-activations) from the gradient with
    /// respect to this direction's outputs h_t (`dOutput`, row stride `outputStride`), walking the
    /// direction's steps backwards and carrying dh and dc between them (one `B × 4H · 4H × H` GEMM per step).
    static func direction(
        dOutput: UnsafePointer<Float>, outputStride d: Int, steps t: Int, batch b: Int, hidden h: Int, reverse: Bool,
        gates: UnsafePointer<Float>, cells: UnsafePointer<Float>, tanhCells: UnsafePointer<Float>,
        weightHH: UnsafePointer<Float>, dGates: UnsafeMutablePointer<Float>, dHidden: UnsafeMutablePointer<Float>,
        dCell: UnsafeMutablePointer<Float>
    ) {
        let g4 = 4 * h
        dHidden.update(repeating: 0, count: b * h)
        dCell.update(repeating: 0, count: b * h)
        for s in stride(from: t - 1, through: 0, by: -1) {
            let ti = reverse ? t - 1 - s : s
            let prev = reverse ? ti + 1 : ti - 1
            for bi in 0..<b {
                let r = ti * b + bi
                let gate = gates + r * g4
                let tc = tanhCells + r * h
                let dOut = dOutput + r * d
                let dhr = dHidden + bi * h
                let dcr = dCell + bi * h
                let dg = dGates + r * g4
                let cp: UnsafePointer<Float>? = s > 0 ? cells + (prev * b + bi) * h : nil
                for j in 0..<h {
                    let i = gate[j], f = gate[h + j], g = gate[2 * h + j], o = gate[3 * h + j]
                    let dhj = dOut[j] + dhr[j]
                    let tcj = tc[j]
                    let dcj = dcr[j] + dhj * o * (1 - tcj * tcj)
                    let cpj = cp?[j] ?? 0
                    dg[j] = dcj * g * i * (1 - i)
                    dg[h + j] = dcj * cpj * f * (1 - f)
                    dg[2 * h + j] = dcj * i * (1 - g * g)
                    dg[3 * h + j] = dhj * tcj * o * (1 - o)
                    dcr[j] = dcj * f
                }
            }
            if s > 0 {
                BLAS.gemm(.none, .none, m: b, n: h, k: g4, a: dGates + ti * b * g4, lda: g4, b: weightHH, ldb: h,
                          beta: 0, c: dHidden, ldc: h)
            }
        }
    }
}
