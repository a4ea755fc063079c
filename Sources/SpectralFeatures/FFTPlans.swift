internal import CFFTW
internal import CSpectralKernels
import Foundation
import Synchronization

/// A cached FFTW single-precision plan that turns one real frame of an even `size` into its power spectrum.
///
/// For size n = 2m the plan is FFTW's complex DFT of length m over the frame read as m complex numbers (even
/// samples real, odd imaginary), finished by `spk_power_from_half_spectrum`, which splits it into the DFTs of
/// the even and odd samples and combines them with one twiddle per pair of bins. That is the textbook real-FFT
/// identity FFTW's own `r2c` also uses, but FFTW finishes it with an SSE2 codelet: for 2048 points its `r2c`
/// costs about 1.9 µs here, the 1024-point complex DFT 0.65–0.95 µs and our AVX2/AVX-512 finish about 0.2 µs.
///
/// FFTW's planner is not thread-safe, so plans are created only inside `FFTPlanCache.shared`'s lock, once
/// per size per process, and never destroyed. Executing a plan is thread-safe with FFTW's new-array execute
/// functions, so one plan serves every thread as long as each caller brings its own buffers with the same
/// alignment as the planning buffers (both come from `fftwf_malloc`, which is SIMD-aligned).
final class RealFFTPlan: @unchecked Sendable {
    let size: Int
    private let plan: fftwf_plan
    /// (cos 2πk/size, sin 2πk/size) for k in 0...size/4, interleaved; computed in Double, rounded once.
    private let twiddles: [Float]

    fileprivate init(size: Int) {
        precondition(size >= 2 && size % 2 == 0, "FFT frame size \(size) is not even")
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
        let m = size / 2
        let complexInput = UnsafeMutableRawPointer(input).assumingMemoryBound(to: fftwf_complex.self)
        plan = fftwf_plan_dft_1d(Int32(m), complexInput, output, FFTW_FORWARD, FFTW_ESTIMATE)!
        twiddles = (0...(m / 2)).flatMap { k -> [Float] in
            let angle = 2 * Double.pi * Double(k) / Double(size)
            return [Float(cos(angle)), Float(sin(angle))]
        }
    }

    /// FFTW_PATIENT's plan for the 1024-point complex DFT that 2048-point frames (the standard configuration)
    /// use, recorded once by `scripts/fft-wisdom` on an idle machine and fixed here.
    ///
    /// With this wisdom loaded, ESTIMATE planning returns the recorded algorithm instead of its heuristic guess,
    /// and, unlike planning with MEASURE or PATIENT in each process, it is the same choice in every process.
    /// FFTW only uses a wisdom entry whose problem hash, FFTW version (3.3.10) and codelets match; on a machine
    /// without AVX, or another FFTW version, the entry is ignored and ESTIMATE plans as before, still
    /// deterministically on that machine.
    static let wisdom = """
        (fftw-3.3.10 fftwf_wisdom #x9e7d4dee #xdb14fed1 #x34bf76a4 #xeb6e8fdf
          (fftwf_codelet_t2fv_32_avx 0 #x11048 #x11048 #x0 #xc6ca45ce #xf08c5f4a #x61a53ade #xe5e374c8)
          (fftwf_codelet_n2fv_32_avx 0 #x11048 #x11048 #x0 #x407181dc #x8a77cb1e #xa88df8c5 #xa32373b5)
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

    /// |DFT(x)|² of the `size` reals in `buffers.input` into `power` (`size / 2 + 1` values). `buffers` must be
    /// of this size; its input is not modified.
    func powerSpectrum(_ buffers: RealFFTBuffers, _ power: UnsafeMutablePointer<Float>) {
        let complexInput = UnsafeMutableRawPointer(buffers.input).assumingMemoryBound(to: fftwf_complex.self)
        fftwf_execute_dft(plan, complexInput, buffers.output.assumingMemoryBound(to: fftwf_complex.self))
        twiddles.withUnsafeBufferPointer { t in
            spk_power_from_half_spectrum(buffers.spectrum, t.baseAddress!, size / 2, power)
        }
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
