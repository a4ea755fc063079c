import Foundation

/// librosa's Slaney mel scale and filterbank (`librosa.filters.mel(htk=False, norm='slaney')`), stored sparsely.
///
/// Each triangular filter is non-zero only over a short run of FFT bins, so a band is held as its first bin and
/// its run of weights: applying the bank costs about 2 multiply-adds per FFT bin instead of `melBands` of them.
/// Weights are computed in `Double`, exactly as librosa does, and rounded to `Float` at the end (librosa's
/// default `dtype=float32`).
struct MelFilterbank: Sendable {
    let bands: Int
    let bins: Int
    /// First non-zero bin of each band.
    let starts: [Int]
    /// Offset of each band's run in `weights`; band m's run is `weights[offsets[m]..<offsets[m + 1]]`.
    let offsets: [Int]
    let weights: [Float]

    init(sampleRate: Int, fftSize: Int, bands: Int, minFrequency: Double, maxFrequency: Double) {
        self.bands = bands
        bins = fftSize / 2 + 1
        let fftFrequencies = (0..<bins).map { Double($0) * Double(sampleRate) / Double(fftSize) }
        let minMel = Self.hzToMel(minFrequency), maxMel = Self.hzToMel(maxFrequency)
        // np.linspace(min_mel, max_mel, n_mels + 2)
        let edges = (0..<(bands + 2)).map { i -> Double in
            let step = (maxMel - minMel) / Double(bands + 1)
            return Self.melToHz(i == bands + 1 ? maxMel : minMel + Double(i) * step)
        }
        var starts: [Int] = [], offsets: [Int] = [0], weights: [Float] = []
        for m in 0..<bands {
            let lowerWidth = edges[m + 1] - edges[m], upperWidth = edges[m + 2] - edges[m + 1]
            let norm = 2.0 / (edges[m + 2] - edges[m])
            var first = -1
            var run: [Float] = []
            for k in 0..<bins {
                let lower = (fftFrequencies[k] - edges[m]) / lowerWidth
                let upper = (edges[m + 2] - fftFrequencies[k]) / upperWidth
                let w = max(0, min(lower, upper)) * norm
                if w > 0 {
                    if first < 0 { first = k }
                    // Zeros inside a run (impossible for a triangle, but cheap to keep exact) stay in the run.
                    while first + run.count < k { run.append(0) }
                    run.append(Float(w))
                }
            }
            starts.append(max(first, 0))
            weights.append(contentsOf: run)
            offsets.append(weights.count)
        }
        self.starts = starts
        self.offsets = offsets
        self.weights = weights
    }

    /// Slaney's mel scale: linear below 1 kHz (one mel per 200/3 Hz, so 15 mel at 1 kHz), logarithmic above
    /// (27 mel per factor 6.4).
    static func hzToMel(_ hz: Double) -> Double {
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27
        return hz >= minLogHz ? minLogMel + log(hz / minLogHz) / logStep : hz / fSp
    }

    static func melToHz(_ mel: Double) -> Double {
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27
        return mel >= minLogMel ? minLogHz * exp(logStep * (mel - minLogMel)) : fSp * mel
    }

    /// The dense `bands × bins` matrix, for tests and inspection.
    var dense: [[Float]] {
        (0..<bands).map { m in
            var row = [Float](repeating: 0, count: bins)
            for j in offsets[m]..<offsets[m + 1] { row[starts[m] + j - offsets[m]] = weights[j] }
            return row
        }
    }

    /// `output[m] = Σ_k weights[m, k] · power[k]` for every band.
    ///
    /// Eight SIMD lanes on long runs, four partial sums on short ones: a single running sum would be one long
    /// floating-point dependency chain.
    @inline(__always)
    func apply(_ power: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        weights.withUnsafeBufferPointer { wb in
            let w = wb.baseAddress!
            for m in 0..<bands {
                let lo = offsets[m], count = offsets[m + 1] - lo
                let p = power + starts[m], wm = w + lo
                var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                var j = 0
                // The upper bands span dozens of bins: eight lanes at a time there.
                if count >= 16 {
                    var acc = SIMD8<Float>()
                    let wr = UnsafeRawPointer(wm), pr = UnsafeRawPointer(p)
                    while j + 8 <= count {
                        acc += wr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                            * pr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                        j += 8
                    }
                    a0 = acc.sum()
                }
                while j + 4 <= count {
                    a0 += wm[j] * p[j]
                    a1 += wm[j + 1] * p[j + 1]
                    a2 += wm[j + 2] * p[j + 2]
                    a3 += wm[j + 3] * p[j + 3]
                    j += 4
                }
                while j < count {
                    a0 += wm[j] * p[j]
                    j += 1
                }
                output[m] = (a0 + a1) + (a2 + a3)
            }
        }
    }
}
