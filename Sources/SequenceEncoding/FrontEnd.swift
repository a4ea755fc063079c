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
/// the same) and the ReLU is applied to the pooled value (`max(relu(a)) = relu(max(a))`).
package enum FrontEndKernels {
    /// Floats of the `columns` scratch for a batch of `b`.
    package static func columnsCount(_ f: ConvolutionalFrontEnd, mels: Int, batch b: Int) -> Int {
        f.kernelSize * b * mels
    }

    /// Fills `columns` (`[F·T][B·M]`) for step `ti`: row f · T + k, entry bi · M + m holds
    /// x[ti + k − (T − 1)/2][bi][m + f − (F − 1)/2], zero outside the segment (the 'same' zero padding).
    /// `x` is time-major `[steps][B][M]`.
    package static func im2col(
        _ x: UnsafePointer<Float>, steps t: Int, batch b: Int, mels m: Int, step ti: Int,
        _ f: ConvolutionalFrontEnd, columns: UnsafeMutablePointer<Float>
    ) {
        let bm = b * m
        let padBands = (f.kernelBands - 1) / 2, padFrames = (f.kernelFrames - 1) / 2
        for fi in 0..<f.kernelBands {
            let shift = fi - padBands
            // Destination bands [lo, hi) read source bands [lo + shift, hi + shift) inside 0..<m.
            let lo = max(0, -shift), hi = min(m, m - shift)
            for k in 0..<f.kernelFrames {
                let row = columns + (fi * f.kernelFrames + k) * bm
                let source = ti + k - padFrames
                guard source >= 0 && source < t && lo < hi else {
                    row.update(repeating: 0, count: bm)
                    continue
                }
                let src = x + source * bm
                for bi in 0..<b {
                    let d = row + bi * m, s = src + bi * m
                    if lo > 0 { d.update(repeating: 0, count: lo) }
                    (d + lo).update(from: s + lo + shift, count: hi - lo)
                    if hi < m { (d + hi).update(repeating: 0, count: m - hi) }
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
        let bm = b * m, c = f.channels, p = f.pool, q = m / p, width = c * q
        for ti in 0..<t {
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
            guard any else { continue }
            im2col(x, steps: t, batch: b, mels: m, step: ti, f, columns: columns)
            BLAS.gemm(
                .none, .transposed, m: c, n: f.kernelSize, k: bm, a: dPre, lda: bm, b: columns, ldb: bm,
                beta: 1, c: dWeight, ldc: f.kernelSize)
        }
    }
}
