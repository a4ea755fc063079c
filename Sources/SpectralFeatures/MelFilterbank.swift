import Foundation
internal import CSpectralKernels
public import RetrieveCore

/// librosa's Slaney mel scale and filterbank (`librosa.filters.mel(htk=False, norm='slaney')`), stored sparsely.
///
/// Each triangular filter is non-zero only over a short run of FFT bins, so a band is held as its first bin and
/// its run of weights: applying the bank costs about 2 multiply-adds per FFT bin instead of `melBands` of them.
/// Weights are computed in `Double`, exactly as librosa does, and rounded to `Float` at the end (librosa's
/// default `dtype=float32`).
///
/// Each run is stored zero-padded to a multiple of `MelFilterbank.lanes` weights, so `spk_mel` works on whole
/// 8-lane vectors; the padding reads up to `lanes − 1` values past the last bin, which is why `apply` wants a
/// power buffer of `paddedBins` finite values.
struct MelFilterbank: Sendable {
    static let lanes = 8
    let bands: Int
    let bins: Int
    /// First non-zero bin of each band.
    let starts: [Int32]
    /// Offset of each band's padded run in `weights`: `weights[offsets[m]..<offsets[m + 1]]`.
    let offsets: [Int32]
    /// Each band's number of real weights (the rest of its run is zero padding).
    let counts: [Int]
    let weights: [Float]
    /// How many power values `apply` may read: `bins` plus room for the last run's padding.
    var paddedBins: Int { bins + Self.lanes }

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
        var starts: [Int32] = [], offsets: [Int32] = [0], counts: [Int] = [], weights: [Float] = []
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
            starts.append(Int32(max(first, 0)))
            counts.append(run.count)
            weights.append(contentsOf: run)
            while weights.count % Self.lanes != 0 { weights.append(0) }
            offsets.append(Int32(weights.count))
        }
        self.starts = starts
        self.offsets = offsets
        self.counts = counts
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
            for j in 0..<counts[m] { row[Int(starts[m]) + j] = weights[Int(offsets[m]) + j] }
            return row
        }
    }

    /// `output[m] = Σ_k weights[m, k] · power[k]` for every band; `power` holds `paddedBins` finite values (the
    /// ones past `bins` are multiplied by the zero padding). Eight partial sums per band, added in a fixed order.
    @inline(__always)
    func apply(_ power: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        starts.withUnsafeBufferPointer { s in
            offsets.withUnsafeBufferPointer { o in
                weights.withUnsafeBufferPointer { w in
                    spk_mel(power, s.baseAddress!, o.baseAddress!, w.baseAddress!, bands, output)
                }
            }
        }
    }
}

extension FeatureConfiguration {
    /// The centre frequency in Hz of each mel band (the peak of its triangle), `melBands` values, ascending.
    public var melCentreFrequencies: [Double] {
        let low = MelFilterbank.hzToMel(minFrequency)
        let high = MelFilterbank.hzToMel(maxFrequency ?? Double(sampleRate) / 2)
        return (0..<melBands).map { MelFilterbank.melToHz(low + Double($0 + 1) * (high - low) / Double(melBands + 1)) }
    }
}
