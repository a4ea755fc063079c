internal import CFrontEndKernels
import LinearAlgebra

/// The arithmetic of the convolutional front end (`ConvolutionalFrontEnd`, which defines the order of
/// operations): forward for inference and training, and the parameter gradients for training.
///
/// The forward pass is the fused C kernel `frontend_forward` (see its file for the layout). The backward pass:
/// each time step is one im2col and one GEMM: the `F · T` shifted copies of the batch's normalised mel rows
/// that a kernel tap reads are laid out as the rows of `columns` (`[F·T][B·M]`, so every copy is a contiguous
/// run of one input row), and `W (C × F·T) · columns` gives every channel's pre-activation at every band of
/// every segment of the step (`[C][B·M]`). Max-pooling runs over contiguous runs of `P` bands of one channel;
/// the bias is added after the maximum (it is constant per channel, so the maximum and its position are
/// the same) and the ReLU is applied to the pooled value (`max(relu(a)) = relu(max(a))`). The optional second
/// stage (`ConvolutionalStage`) runs the same way over the first stage's C₁ channels (`frontend_second_forward`,
/// then im2col, GEMMs and `col2im` for its input's gradient).
package enum FrontEndKernels {
    /// Floats of the `columns` scratch for a batch of `b`.
    package static func columnsCount(_ f: ConvolutionalFrontEnd, mels: Int, batch b: Int) -> Int {
        f.kernelSize * b * mels
    }

    /// Fills `columns` (`[C·F·T][B·M]`) for step `ti` of a convolution over `x`, time-major `[steps][B][C · M]`
    /// (C input channels of M bands, channel-major per frame): row (c · F + f) · T + k, entry bi · M + m holds
    /// x[ti + k − (T − 1)/2][bi][c · M + m + f − (F − 1)/2], zero outside the segment and the bands (the 'same'
    /// zero padding). The first stage reads the normalised mel rows (C = 1), the second the first's output.
    package static func im2col(
        _ x: UnsafePointer<Float>, steps t: Int, batch b: Int, channels: Int, bands m: Int, step ti: Int,
        kernelBands: Int, kernelFrames: Int, columns: UnsafeMutablePointer<Float>
    ) {
        let width = channels * m, bm = b * m
        let padBands = (kernelBands - 1) / 2, padFrames = (kernelFrames - 1) / 2
        for c in 0..<channels {
            for fi in 0..<kernelBands {
                let shift = fi - padBands
                // Destination bands [lo, hi) read source bands [lo + shift, hi + shift) inside 0..<m.
                let lo = max(0, -shift), hi = min(m, m - shift)
                for k in 0..<kernelFrames {
                    let row = columns + ((c * kernelBands + fi) * kernelFrames + k) * bm
                    let source = ti + k - padFrames
                    guard source >= 0 && source < t && lo < hi else {
                        row.update(repeating: 0, count: bm)
                        continue
                    }
                    let src = x + source * b * width + c * m
                    for bi in 0..<b {
                        let d = row + bi * m, from = src + bi * width
                        if lo > 0 { d.update(repeating: 0, count: lo) }
                        (d + lo).update(from: from + lo + shift, count: hi - lo)
                        if hi < m { (d + hi).update(repeating: 0, count: m - hi) }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds every entry of `dColumns` (`[C·F·T][B·M]`, step `ti`) to the gradient of the
    /// input value it was copied from, in `dX` (`[steps][B][C · M]`); the padding's zeros take nothing.
    package static func col2im(
        _ dColumns: UnsafePointer<Float>, steps t: Int, batch b: Int, channels: Int, bands m: Int, step ti: Int,
        kernelBands: Int, kernelFrames: Int, into dX: UnsafeMutablePointer<Float>
    ) {
        let width = channels * m, bm = b * m
        let padBands = (kernelBands - 1) / 2, padFrames = (kernelFrames - 1) / 2
        for c in 0..<channels {
            for fi in 0..<kernelBands {
                let shift = fi - padBands
                let lo = max(0, -shift), hi = min(m, m - shift)
                guard lo < hi else { continue }
                for k in 0..<kernelFrames {
                    let source = ti + k - padFrames
                    guard source >= 0 && source < t else { continue }
                    let row = dColumns + ((c * kernelBands + fi) * kernelFrames + k) * bm
                    let dst = dX + source * b * width + c * m
                    for bi in 0..<b {
                        let d = dst + bi * width + lo + shift, g = row + bi * m + lo
                        for j in 0..<(hi - lo) { d[j] += g[j] }
                    }
                }
            }
        }
    }

    /// Floats of the forward pass's scratch for segments of `steps` frames.
    package static func scratchCount(_ f: ConvolutionalFrontEnd, mels: Int, steps t: Int) -> Int {
        frontend_scratch_count(t, mels, f.kernelBands, f.pool)
    }

    /// Runs the front end over `x` (time-major `[steps][B][M]`, normalised mel) into `output`
    /// (`[steps][B][C · M/P]`, channel-major per frame). With `choice`, also records for each output the
    /// position (0..<P) of the maximum within its pooling window, for `backward`. The fused C kernel
    /// (`frontend_forward`) computes the same values as one GEMM of the im2col per step followed by the pooling
    /// (up to the order of the summation), without writing the copies or the pre-activations.
    ///
    /// - Complexity: O(steps · B · M · C · F · T).
    package static func forward(
        _ x: UnsafePointer<Float>, steps t: Int, batch b: Int, mels m: Int, _ f: ConvolutionalFrontEnd,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, choice: UnsafeMutablePointer<Float>?, kernel: Kernel = .automatic
    ) {
        frontend_forward(
            x, t, b, m, f.channels, f.kernelBands, f.kernelFrames, f.pool, weight, bias, scratch, output, choice,
            kernel.choice)
    }

    /// Which instruction set `forward` uses: `automatic` (the widest the CPU has) everywhere but in tests, which
    /// cover the others on any machine.
    package enum Kernel: CaseIterable, Sendable {
        case automatic, avx2, baseline

        var choice: frontend_kernel_choice {
            switch self {
            case .automatic: FRONTEND_KERNEL_AUTOMATIC
            case .avx2: FRONTEND_KERNEL_AVX2
            case .baseline: FRONTEND_KERNEL_BASELINE
            }
        }
    }

    /// Accumulates into `dWeight` (`C × F·T`) and `dBias` (`C`) the gradients of a loss whose gradient with
    /// respect to the front end's `output` is `dOutput` (both `[steps][B][C · M/P]`), given the forward's
    /// input `x`, `output` and `choice`. The gradient reaches one pre-activation per pooling window, the
    /// maximum (the first one on ties, like PyTorch's max-pooling), and only where the ReLU passed it
    /// (output > 0).
    package static func backward(
        _ x: UnsafePointer<Float>, steps t: Int, batch b: Int, mels m: Int, _ f: ConvolutionalFrontEnd,
        output: UnsafePointer<Float>, choice: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
        columns: UnsafeMutablePointer<Float>, dPreActivation dPre: UnsafeMutablePointer<Float>,
        dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>
    ) {
        let bm = b * m, c = f.channels
        for ti in 0..<t {
            let any = routePooledGradient(
                step: ti, batch: b, bands: m, channels: c, pool: f.pool, output: output, choice: choice,
                dOutput: dOutput, dPreActivation: dPre, dBias: dBias)
            guard any else { continue }
            im2col(
                x, steps: t, batch: b, channels: 1, bands: m, step: ti, kernelBands: f.kernelBands,
                kernelFrames: f.kernelFrames, columns: columns)
            BLAS.gemm(
                .none, .transposed, m: c, n: f.kernelSize, k: bm, a: dPre, lda: bm, b: columns, ldb: bm,
                beta: 1, c: dWeight, ldc: f.kernelSize)
        }
    }

    /// Back through one stage's ReLU, bias and max-pooling at step `ti`: overwrites `dPre` (`[C][B·bands]`, the
    /// gradient of the step's pre-activations) with each pooled output's gradient at the position of its
    /// maximum (`choice`) where the ReLU passed it (output > 0), zero elsewhere, and adds the same to `dBias`.
    /// `output`, `choice` and `dOutput` are `[steps][B][C · bands/pool]`. Returns whether any gradient passed.
    static func routePooledGradient(
        step ti: Int, batch b: Int, bands m: Int, channels c: Int, pool p: Int, output: UnsafePointer<Float>,
        choice: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, dPreActivation dPre: UnsafeMutablePointer<Float>,
        dBias: UnsafeMutablePointer<Float>
    ) -> Bool {
        let bm = b * m, q = m / p, width = c * q
        dPre.update(repeating: 0, count: c * bm)
        var any = false
        for bi in 0..<b {
            let r = (ti * b + bi) * width
            let out = output + r, chosen = choice + r, dOut = dOutput + r
            for ci in 0..<c {
                for qi in 0..<q where out[ci * q + qi] > 0 {
                    let g = dOut[ci * q + qi]
                    dPre[ci * bm + bi * m + qi * p + Int(chosen[ci * q + qi])] = g
                    dBias[ci] += g
                    any = true
                }
            }
        }
        return any
    }

    // MARK: The second stage (`ConvolutionalStage`)

    /// Rows of the second stage's im2col, C₁ · F₂ · T₂ (its fan-in).
    package static func secondKernelSize(_ f: ConvolutionalFrontEnd, _ s: ConvolutionalStage) -> Int {
        f.channels * s.kernelBands * s.kernelFrames
    }

    /// Floats of `secondForward`'s scratch for segments of `steps` frames.
    package static func secondScratchCount(
        _ f: ConvolutionalFrontEnd, _ s: ConvolutionalStage, mels: Int, steps t: Int
    )
        -> Int
    {
        frontend_second_scratch_count(t, f.firstBands(mels: mels), f.channels, s.channels, s.kernelBands)
    }

    /// Runs the second stage over `h` (the first stage's output, `[steps][B][C₁ · Q₁]`) into `output`
    /// (`[steps][B][C₂ · Q₁/P₂]`, channel-major per frame): the fused C kernel `frontend_second_forward`
    /// (the convolution with its 'same' padding, max-pooling over runs of P₂ bands, bias and ReLU, as in the first
    /// stage `max(relu(a + b)) = relu(max(a) + b)`). With `choice`, records the position (0..<P₂) of each
    /// maximum, the first on ties, for `secondBackward`. The same values as `W₂ · im2col` a step followed
    /// by the pooling, up to the order of the summation.
    ///
    /// - Complexity: O(steps · B · Q₁ · C₂ · C₁ · F₂ · T₂).
    package static func secondForward(
        _ h: UnsafePointer<Float>, steps t: Int, batch b: Int, mels m: Int, _ f: ConvolutionalFrontEnd,
        _ s: ConvolutionalStage, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
        choice: UnsafeMutablePointer<Float>?, kernel: Kernel = .automatic
    ) {
        frontend_second_forward(
            h, t, b, f.firstBands(mels: m), f.channels, s.channels, s.kernelBands, s.kernelFrames, s.pool, weight,
            bias, scratch, output, choice, kernel.choice)
    }

    /// Accumulates into `dWeight` (`C₂ × C₁·F₂·T₂`) and `dBias` (`C₂`) the second stage's parameter gradients and
    /// writes into `dInput` (`[steps][B][C₁ · Q₁]`, overwritten) the gradient with respect to its input `h`,
    /// given the gradient `dOutput` with respect to its `output` (both as `secondForward` left them with
    /// `choice`). The gradient reaches the chosen maximum of each window where the ReLU passed it; the input's
    /// gradient is `W₂ᵀ · dPre` put back through the im2col (col2im).
    package static func secondBackward(
        _ h: UnsafePointer<Float>, steps t: Int, batch b: Int, mels m: Int, _ f: ConvolutionalFrontEnd,
        _ s: ConvolutionalStage, weight: UnsafePointer<Float>, output: UnsafePointer<Float>,
        choice: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>,
        dColumns: UnsafeMutablePointer<Float>, dPreActivation dPre: UnsafeMutablePointer<Float>,
        dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>, dInput: UnsafeMutablePointer<Float>
    ) {
        let q1 = f.firstBands(mels: m), bq = b * q1, kk = secondKernelSize(f, s)
        let c2 = s.channels
        dInput.update(repeating: 0, count: t * b * f.channels * q1)
        for ti in 0..<t {
            let any = routePooledGradient(
                step: ti, batch: b, bands: q1, channels: c2, pool: s.pool, output: output, choice: choice,
                dOutput: dOutput, dPreActivation: dPre, dBias: dBias)
            guard any else { continue }
            im2col(
                h, steps: t, batch: b, channels: f.channels, bands: q1, step: ti, kernelBands: s.kernelBands,
                kernelFrames: s.kernelFrames, columns: columns)
            BLAS.gemm(
                .none, .transposed, m: c2, n: kk, k: bq, a: dPre, lda: bq, b: columns, ldb: bq, beta: 1,
                c: dWeight, ldc: kk)
            BLAS.gemm(
                .transposed, .none, m: kk, n: bq, k: c2, a: weight, lda: kk, b: dPre, ldb: bq, beta: 0,
                c: dColumns, ldc: bq)
            col2im(
                dColumns, steps: t, batch: b, channels: f.channels, bands: q1, step: ti, kernelBands: s.kernelBands,
                kernelFrames: s.kernelFrames, into: dInput)
        }
    }
}
