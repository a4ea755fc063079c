internal import CFFTW
import Foundation
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
        // ESTIMATE's choice depends only on the size and the wisdom below, so every run computes the same
        // features bit for bit.
        Self.importFixedWisdom()
        plan = fftwf_plan_dft_r2c_1d(Int32(size), input, output, FFTW_ESTIMATE)!
    }

    /// FFTW_PATIENT's plan for 2048-point frames (the standard configuration), recorded once by `scripts/fft-wisdom`
    /// on an idle AVX2 machine and fixed here.
    ///
    /// With this wisdom loaded, ESTIMATE planning returns the recorded algorithm instead of its heuristic guess:
    /// for 2048 points that is about 1.6× faster (1.6 µs instead of 2.6 µs per frame on an AVX2 machine),
    /// and, unlike planning with MEASURE or PATIENT in each process, it is the same choice in every process.
    /// FFTW only uses a wisdom entry whose problem hash, FFTW version (3.3.10) and codelets match; on a machine
    /// without AVX, or another FFTW version, the entry is ignored and ESTIMATE plans as before, still
    /// deterministically on that machine.
    static let wisdom = """
        (fftw-3.3.10 fftwf_wisdom #x9e7d4dee #xdb14fed1 #x34bf76a4 #xeb6e8fdf
        (fftwf_codelet_r2cfII_8 2 #x11048 #x11048 #x0 #x9b71d905 #x7d7faf81 #x09c45860 #x2a522386)
        (fftwf_codelet_hc2cfdftv_8_sse2 0 #x11048 #x11048 #x0 #xc447d79d #x3bb36c12 #x2e7c8386 #xc241521c)
        (fftwf_codelet_t2fv_4_avx 0 #x11048 #x11048 #x0 #xb0bde699 #x3baa1ac0 #xdbbed5b2 #x3b1456c3)
        (fftwf_codelet_r2cf_8 2 #x11048 #x11048 #x0 #xa8e723ad #x5577b756 #x19ace181 #xf0b6f4b2)
        (fftwf_dft_vrank_geq1_register 0 #x11048 #x11048 #x0 #x1d5f8951 #x83ff8a7f #x97795bcc #x27178c7e)
        (fftwf_codelet_n2fv_64_avx 0 #x11048 #x11048 #x0 #xdae94766 #xa548e347 #x8a9a261b #xff2066cd)
        )
        """

    nonisolated(unsafe) private static var wisdomImported = false

    /// Loads `wisdom` into FFTW once; called only inside `FFTPlanCache`'s lock, like every planner call.
    private static func importFixedWisdom() {
        guard !wisdomImported else { return }
        wisdomImported = true
        _ = fftwf_import_wisdom_from_string(wisdom)
    }

    /// FFTW's description of the chosen algorithm (`fftwf_sprint_plan`), for tests and diagnostics.
    var algorithm: String {
        guard let text = fftwf_sprint_plan(plan) else { return "" }
        defer { free(text) }
        return String(cString: text)
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
