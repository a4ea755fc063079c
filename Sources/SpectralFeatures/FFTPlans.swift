internal import CFFTW
import Synchronization

/// A cached FFTW single-precision real-to-complex plan for one transform size.
///
/// FFTW's planner is not thread-safe, so plans are created only inside `FFTPlanCache.shared`'s lock, once
/// per size per process, and never destroyed. Executing a plan is thread-safe with FFTW's new-array execute
/// function, so one plan serves every thread as long as each caller brings its own buffers with the same
/// alignment as the planning buffers (both come from `fftwf_malloc`, which is SIMD-aligned).
final class RealFFTPlan: @unchecked Sendable {
    let size: Int
    private let plan: fftwf_plan

    fileprivate init(size: Int) {
        self.size = size
        let input = fftwf_alloc_real(size)!
        let output = fftwf_alloc_complex(size / 2 + 1)!
        defer {
            fftwf_free(input)
            fftwf_free(output)
        }
        // FFTW_ESTIMATE, not FFTW_MEASURE: MEASURE picks the algorithm by timing it, so two processes can pick
        // different ones, whose rounding differs; in near-silent bins that changes the dB values, and an index
        // built in several runs (after a kill, say) then held embeddings up to 1e-3 away from a one-run build.
        // ESTIMATE's choice depends only on the size, so every run computes the same features bit for bit.
        plan = fftwf_plan_dft_r2c_1d(Int32(size), input, output, FFTW_ESTIMATE)!
    }

    /// Transforms `size` reals at `input` into `size / 2 + 1` complex bins at `output` (interleaved re, im).
    /// Both buffers must come from `RealFFTBuffers`.
    func execute(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutableRawPointer) {
        fftwf_execute_dft_r2c(plan, input, output.assumingMemoryBound(to: fftwf_complex.self))
    }
}

/// The process-wide plan cache; the one place FFTW's planner is called.
final class FFTPlanCache: Sendable {
    static let shared = FFTPlanCache()
    private let plans = Mutex<[Int: RealFFTPlan]>([:])

    func plan(size: Int) -> RealFFTPlan {
        plans.withLock { plans in
            if let plan = plans[size] { return plan }
            let plan = RealFFTPlan(size: size)
            plans[size] = plan
            return plan
        }
    }
}

/// Per-caller FFTW-aligned work buffers: one input frame and one complex spectrum.
final class RealFFTBuffers {
    let input: UnsafeMutablePointer<Float>
    let output: UnsafeMutableRawPointer
    let bins: Int

    init(size: Int) {
        bins = size / 2 + 1
        input = fftwf_alloc_real(size)!
        output = UnsafeMutableRawPointer(fftwf_alloc_complex(bins)!)
    }

    /// The spectrum as interleaved (re, im) floats, `2 * bins` of them.
    var spectrum: UnsafeMutablePointer<Float> { output.assumingMemoryBound(to: Float.self) }

    deinit {
        fftwf_free(input)
        fftwf_free(output)
    }
}
