internal import CLSTMKernels
import Dispatch
import Foundation
import LinearAlgebra
import RetrieveCore

/// Which implementation runs the LSTM recurrence of the forward pass, at inference and in training.
///
/// `avx512` and `avx2` are the fused C kernels of `CLSTMKernels`: one register-blocked pass per step computes
/// the four gates of 16 (or 8) hidden units for up to 6 (or 3) batch rows from [x_t ‖ h_{t−1}] and the packed
/// weights, and updates the cell in registers (in training it also stores the activated gates, cells and
/// tanh(cells) the backward pass reads). `blas` is the portable path: one input GEMM per layer and
/// direction, then per step a recurrent GEMM and the gate loop (`LSTMKernels`). Measured with
/// `bench/run lstm` (input 128, hidden 256, 128 steps, batch 32, one core of the Zen 4 machine): the
/// AVX-512 kernel runs the recurrence at about 90 % of the core's FMA peak; relative to it the AVX2 kernel
/// runs at about 0.75× and BLAS at about 0.6×. All paths agree to ~1e-6 (they sum in different orders).
package enum LSTMKernelPath: String, Sendable, CaseIterable {
    case avx512
    case avx2
    case blas

    /// Whether this CPU can run the path (checked with cpuid once per process).
    package var isSupported: Bool {
        switch self {
        case .avx512: Self.hasAVX512
        case .avx2: Self.hasAVX2
        case .blas: true
        }
    }

    /// The fastest path this CPU supports: AVX-512F, else AVX2+FMA (faster than BLAS there too), else BLAS.
    package static let best: LSTMKernelPath = hasAVX512 ? .avx512 : (hasAVX2 ? .avx2 : .blas)

    private static let hasAVX512 = lstm_kernel_supported(LSTM_KERNEL_AVX512) != 0
    private static let hasAVX2 = lstm_kernel_supported(LSTM_KERNEL_AVX2) != 0

    fileprivate var cKernel: lstm_kernel? {
        switch self {
        case .avx512: LSTM_KERNEL_AVX512
        case .avx2: LSTM_KERNEL_AVX2
        case .blas: nil
        }
    }
}

/// The LSTM weights of every layer and direction repacked for one fused kernel, made once per parameter
/// version and shared, read-only, by concurrent inference calls.
package final class PackedLSTMWeights: @unchecked Sendable {
    package let path: LSTMKernelPath
    /// The encoder's parameter generation these were packed from.
    package let generation: Int
    /// Per layer and direction (index layer · dirs + dir), `lstm_packed_count` floats each.
    private let slots: [FloatBuffer]
    /// Hidden units per block of the kernel (16 or 8): the cell scratch is padded to a multiple of it.
    package let lanes: Int

    /// The LSTM shape packed: (input, hidden, layers, directions).
    private let shape: [Int]

    /// Packs `encoder`'s LSTM tensors for `path` (which must be a supported fused kernel).
    package init(_ encoder: Encoder, path: LSTMKernelPath, generation: Int) {
        let kernel = path.cKernel!
        let c = encoder.configuration
        let dirs = c.bidirectional ? 2 : 1
        self.path = path
        self.generation = generation
        self.lanes = lstm_kernel_lanes(kernel)
        self.shape = [c.lstmInputSize, c.hiddenSize, c.layers, dirs]
        self.slots = (0..<(c.layers * dirs)).map { slot in
            FloatBuffer(count: lstm_packed_count(slot < dirs ? c.lstmInputSize : c.outputSize, c.hiddenSize, kernel))
        }
        pack(encoder)
    }

    /// Whether these buffers fit `encoder`'s LSTM on `path` (so `pack` can refill them).
    package func fits(_ encoder: Encoder, path: LSTMKernelPath) -> Bool {
        let c = encoder.configuration
        return path == self.path && shape == [c.lstmInputSize, c.hiddenSize, c.layers, c.bidirectional ? 2 : 1]
    }

    /// (Re)packs the encoder's current LSTM tensors into these buffers (the training forward pass does this
    /// every call: the parameters change between calls without notice, e.g. in finite-difference tests).
    package func pack(_ encoder: Encoder) {
        let kernel = path.cKernel!
        let c = encoder.configuration
        let dirs = c.bidirectional ? 2 : 1
        let p = encoder.parameters.pointer
        for l in 0..<c.layers {
            let inSize = l == 0 ? c.lstmInputSize : c.outputSize
            for dir in 0..<dirs {
                let suffix = dir == 0 ? "" : "_reverse"
                lstm_pack(
                    p + encoder.layout.offset("lstm.weight_ih_l\(l)\(suffix)"),
                    p + encoder.layout.offset("lstm.weight_hh_l\(l)\(suffix)"),
                    p + encoder.layout.offset("lstm.bias_ih_l\(l)\(suffix)"),
                    p + encoder.layout.offset("lstm.bias_hh_l\(l)\(suffix)"),
                    inSize, c.hiddenSize, kernel, slots[l * dirs + dir].pointer)
            }
        }
    }

    /// Floats of cell scratch the kernel needs for `batch` rows.
    package func cellCount(hidden: Int, batch: Int) -> Int { batch * ((hidden + lanes - 1) / lanes) * lanes }

    /// Runs one direction of one layer (`slot` = layer · dirs + dir) over `[T][B][inputSize]`, writing h_t into
    /// `output` with row stride `outputStride`; for training also the activated gates `[T][B][4H]`, cells and
    /// tanh(cells) `[T][B][H]` (all three or none).
    ///
    /// Threading: with `threads` > 1 the batch's rows are cut into parts of about one row block (6 rows),
    /// each run through all T steps, and `threads` workers take parts from a shared counter until none are
    /// left. LSTM rows are independent, so the workers never synchronise within the recurrence (one join
    /// per layer and direction), and each core streams the packed weights from its own L2. That is why this
    /// path does its own threading instead of OpenBLAS's: splitting each step's small product (17 MFLOP for
    /// the benchmark shape) across threads would need a barrier every step, ~130 per batch, and measured no
    /// gain. Small parts taken on demand keep a worker whose core is shared with another process from
    /// holding up the rest (with one fixed half per thread, 2 threads ran no faster than 1 on the loaded
    /// machine). Parts cost nothing extra: each row block streams the weights once per step either way.
    /// A row's arithmetic is the same in every part and on every thread, so results do not depend on
    /// `threads`.
    package func runDirection(
        slot: Int, input: UnsafePointer<Float>, inputSize: Int, steps t: Int, batch b: Int, hidden h: Int,
        reverse: Bool, cell: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, outputStride d: Int,
        gates: UnsafeMutablePointer<Float>? = nil, cells: UnsafeMutablePointer<Float>? = nil,
        tanhCells: UnsafeMutablePointer<Float>? = nil, threads: Int
    ) {
        precondition((gates == nil) == (cells == nil) && (cells == nil) == (tanhCells == nil))
        let kernel = path.cKernel!
        let packed = UnsafePointer(slots[slot].pointer)
        let parts = threads > 1 ? min(b, max(threads, (b + 5) / 6)) : 1
        let workers = min(threads, parts)
        if workers <= 1 {
            lstm_forward_direction(
                input, inputSize, t, b, 0, b, h, packed, reverse ? 1 : 0, cell, output, d, gates,
                cells, tanhCells, kernel)
            return
        }
        // Pointers cross into the concurrent closure as bit patterns: the buffers outlive the call and each
        // part touches only its own rows of `cell`, `output` and the kept activations.
        let (inAddress, packedAddress) = (UInt(bitPattern: input), UInt(bitPattern: packed))
        let (cellAddress, outAddress) = (UInt(bitPattern: cell), UInt(bitPattern: output))
        let (gatesAddress, cellsAddress, tanhAddress) =
            (UInt(bitPattern: gates), UInt(bitPattern: cells), UInt(bitPattern: tanhCells))
        let counter = WorkDispenser(count: parts)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let part = counter.next() {
                let first = part * b / parts, end = (part + 1) * b / parts
                lstm_forward_direction(
                    UnsafePointer(bitPattern: inAddress), inputSize, t, b, first, end - first, h,
                    UnsafePointer(bitPattern: packedAddress), reverse ? 1 : 0,
                    UnsafeMutablePointer(bitPattern: cellAddress), UnsafeMutablePointer(bitPattern: outAddress), d,
                    UnsafeMutablePointer(bitPattern: gatesAddress), UnsafeMutablePointer(bitPattern: cellsAddress),
                    UnsafeMutablePointer(bitPattern: tanhAddress), kernel)
            }
        }
    }
}
