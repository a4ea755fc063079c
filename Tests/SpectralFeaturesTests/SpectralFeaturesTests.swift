import Foundation
import RetrieveCore
@testable import SpectralFeatures
import TestSupport
import Testing

@Suite struct SpectralFeaturesTests {
    /// The half-length complex DFT and our real-FFT finish against a Double-precision DFT, in both pad modes,
    /// from the smallest frame to the standard one, powers of two or not.
    @Test(arguments: [64, 2, 4, 6, 30, 2048])
    func stftMatchesNaiveDFT(_ n: Int) throws {
        let hop = max(1, n / 4)
        let config = FeatureConfiguration(sampleRate: 8_000, fftSize: n, hopLength: hop, melBands: 8, mfccCount: 4)
        for mode in PadMode.allCases {
            let extractor = try FeatureExtractor(configuration: config, padMode: mode)
            let x = Signals.whiteNoise(seconds: Double(max(160, 2 * n)) / 8_000, sampleRate: 8_000, seed: 3)
            let ours = extractor.powerSpectrogram(x)
            let half = n / 2
            #expect(ours.rows == 1 + x.count / hop && ours.columns == half + 1)
            let padded = (0..<(x.count + 2 * half)).map { i -> Double in
                let j = i - half
                if j >= 0 && j < x.count { return Double(x[j]) }
                guard mode == .reflect else { return 0 }
                return Double(x[j < 0 ? -j : 2 * (x.count - 1) - j])
            }
            let cosines = (0..<n).map { cos(2 * Double.pi * Double($0) / Double(n)) }
            let sines = (0..<n).map { sin(2 * Double.pi * Double($0) / Double(n)) }
            var reference: [Float] = []
            for t in 0..<ours.rows {
                let frame = (0..<n).map { padded[t * hop + $0] * (0.5 - 0.5 * cosines[$0]) }
                for k in 0...half {
                    var re = 0.0, im = 0.0
                    for i in 0..<n {
                        re += frame[i] * cosines[(k * i) % n]
                        im -= frame[i] * sines[(k * i) % n]
                    }
                    reference.append(Float(re * re + im * im))
                }
            }
            #expect(Approx.relativeError(ours.storage, reference) <= 1e-5, "\(mode)")
        }
    }

    @Test(arguments: [10, 93, 400])
    func pureTonePeaksInItsBin(_ bin: Int) throws {
        let extractor = try FeatureExtractor()
        let frequency = Double(bin) * 22_050 / 2048
        let spectrum = extractor.powerSpectrogram(Signals.sine(frequency: frequency, seconds: 0.5, sampleRate: 22_050))
        let row = spectrum.row(spectrum.rows / 2)
        #expect(row.indices.max { row[$0] < row[$1] } == bin)
    }

    @Test func streamingEqualsBatch() throws {
        let signal = Signals.chirp(from: 50, to: 9_000, seconds: 1.3, sampleRate: 22_050)
            + Signals.whiteNoise(seconds: 0.4, sampleRate: 22_050)
        for mode in PadMode.allCases {
            let extractor = try FeatureExtractor(configuration: FeatureConfiguration(topDecibels: nil), padMode: mode)
            let batch = extractor.logMel(signal)
            for blockSize in [1, 300, 511, 512, 4_096, 100_000] {
                let streaming = StreamingLogMel(extractor: extractor)
                var out = Matrix(rows: 0, columns: 128)
                var start = 0
                while start < signal.count {
                    let end = min(signal.count, start + (blockSize == 1 ? Int.random(in: 1...700) : blockSize))
                    let part = streaming.push(Array(signal[start..<end]))
                    out.storage += part.storage
                    start = end
                }
                let tail = streaming.finish()
                out = Matrix(rows: batch.rows, columns: 128, storage: out.storage + tail.storage)
                #expect(out == batch, "\(mode), block \(blockSize)")
            }
        }
    }

    @Test func logMelStreamingFromASourceAppliesTopDecibelsAtTheEnd() throws {
        let extractor = try FeatureExtractor()
        let signal = Signals.chord([220, 277, 330], seconds: 1, sampleRate: 22_050)
            + [Float](repeating: 0, count: 5_000) + Signals.clicks(every: 0.1, seconds: 0.5, sampleRate: 22_050)
        let streamed = extractor.logMel { sink in
            for start in stride(from: 0, to: signal.count, by: 3_000) {
                signal[start..<min(signal.count, start + 3_000)].withUnsafeBufferPointer { sink($0) }
            }
        }
        #expect(streamed == extractor.logMel(signal))
    }

    @Test("streaming very short signals", arguments: [0, 1, 5, 300, 1_024, 1_025, 1_500])
    func streamingShort(_ count: Int) throws {
        let signal = Signals.sine(frequency: 440, seconds: Double(count) / 22_050, sampleRate: 22_050)
        #expect(signal.count == count)
        for mode in PadMode.allCases {
            let extractor = try FeatureExtractor(configuration: FeatureConfiguration(topDecibels: nil), padMode: mode)
            let streaming = StreamingLogMel(extractor: extractor)
            var storage: [Float] = []
            for s in signal { storage += streaming.push([s]).storage }
            storage += streaming.finish().storage
            let batch = extractor.logMel(signal)
            #expect(batch.rows == (count == 0 ? 0 : 1 + count / 512))
            #expect(storage == batch.storage, "\(mode), \(count) samples")
        }
    }

    @Test func silenceIsFlooredNotNaN() throws {
        let extractor = try FeatureExtractor()
        let silence = [Float](repeating: 0, count: 4_000)
        let logMel = extractor.logMel(silence)
        #expect(logMel.storage.allSatisfy { $0 == -100 })
        let mfcc = extractor.mfcc(silence)
        #expect(mfcc.storage.allSatisfy { $0.isFinite })
        #expect(FeatureExtractor.deltas(mfcc).storage.allSatisfy { abs($0) < 1e-4 })
    }

    @Test func emptyAndShorterThanAFrame() throws {
        let extractor = try FeatureExtractor()
        #expect(extractor.logMel([]).rows == 0)
        #expect(extractor.mfcc([]).rows == 0 && extractor.mfcc([]).columns == 20)
        #expect(extractor.logMel([0.5]).rows == 1)
        #expect(extractor.logMel([Float](repeating: 0.1, count: 511)).rows == 1)
        #expect(extractor.logMel([Float](repeating: 0.1, count: 512)).rows == 2)
        #expect(FeatureExtractor.deltas(Matrix(rows: 0, columns: 20)).rows == 0)
        // Fewer frames than the delta width: the width shrinks instead of failing.
        let few = FeatureExtractor.deltas(Matrix(rows: 4, columns: 2, storage: [0, 0, 1, 2, 2, 4, 3, 6]))
        #expect(Approx.maxAbsDifference(few.storage, [1, 2, 1, 2, 1, 2, 1, 2]) < 1e-5)
    }

    @Test func topDecibelsClampsToPeakMinus80() throws {
        let extractor = try FeatureExtractor()
        var x = Signals.sine(frequency: 1_000, seconds: 0.5, sampleRate: 22_050)
        x += [Float](repeating: 0, count: 11_025)
        let m = extractor.logMel(x)
        let peak = m.storage.max()!
        #expect(m.storage.min()! == peak - 80)
    }

    @Test func badParametersQuoteTheValue() {
        #expect(throws: FeatureConfigurationError.self) { try FeatureExtractor(configuration: .init(fftSize: 0)) }
        #expect(throws: FeatureConfigurationError.self) { try FeatureExtractor(configuration: .init(fftSize: 2047)) }
        do {
            _ = try FeatureExtractor(configuration: FeatureConfiguration(melBands: 16, mfccCount: 40))
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("mfccCount = 40"))
            #expect(error.description.contains("16"))
        }
        #expect(throws: FeatureConfigurationError.self) {
            try FeatureExtractor(configuration: .init(minFrequency: 12_000))
        }
        #expect(throws: FeatureConfigurationError.self) { try FeatureExtractor(configuration: .init(hopLength: -1)) }
        #expect(throws: FeatureConfigurationError.self) { try FeatureExtractor(configuration: .init(topDecibels: -3)) }
    }

    @Test func concurrentExtractionIsDeterministic() async throws {
        let extractor = try FeatureExtractor()
        let x = Signals.whiteNoise(seconds: 1, sampleRate: 22_050)
        let expected = extractor.mfcc(x)
        let results = await withTaskGroup(of: Matrix.self) { group in
            for _ in 0..<4 { group.addTask { extractor.mfcc(x) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 == expected })
    }
}

/// The speed work on the front end: the fixed FFT wisdom, the vectorised dB stage and the SIMD MFCC loop.
@Suite struct FastFrontEndTests {
    /// With AVX available (the machines the wisdom was recorded for), the 2048-point plan (a 1024-point complex
    /// DFT) must be the recorded one: every codelet the wisdom names appears in the plan. A wisdom string FFTW silently ignored (wrong
    /// version, problem hash or alignment) would leave the slower heuristic plan and fail here.
    @Test func standardPlanUsesTheFixedWisdom() throws {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        try #require(cpu.contains(" avx2 "), "no AVX2 here: the wisdom cannot apply")
        let algorithm = FFTPlanCache.shared.plan(size: 2048).algorithm
        let codelets = RealFFTPlan.wisdom.split(separator: "\n").compactMap { line -> String? in
            guard let name = line.split(separator: " ").first, name.hasPrefix("(fftwf_codelet_") else { return nil }
            return String(name.dropFirst("(fftwf_codelet_".count))
        }
        #expect(codelets.count >= 2)
        for codelet in codelets { #expect(algorithm.contains("\"\(codelet)\""), "\(codelet) not in \(algorithm)") }
    }

    /// The composable stages agree with the fused path exactly: one dB conversion serves both.
    @Test func powerToDecibelsOfPowerMelIsLogMel() throws {
        let extractor = try FeatureExtractor()
        let x = Signals.whiteNoise(seconds: 0.5, sampleRate: 22_050, seed: 5)
        #expect(FeatureExtractor.powerToDecibels(extractor.powerMel(x)) == extractor.logMel(x))
        #expect(FeatureExtractor.powerToDecibels(Matrix(rows: 0, columns: 128)).rows == 0)
    }

    /// The vectorised dB conversion against `10 · log10` in Double, over 20 decades and the floor.
    @Test func decibelsMatchLog10() {
        var generator = SeededGenerator(seed: 11)
        var values = (0..<4_000).map { _ in Float(pow(10, Double.random(in: -11...9, using: &generator))) }
        values += [0, 1e-10, 1e-12, -3, .nan, 1, 2, 0.5, .greatestFiniteMagnitude, .leastNormalMagnitude]
        var converted = values
        converted.withUnsafeMutableBufferPointer {
            FrameProcessor.decibels($0.baseAddress!, count: $0.count, amin: 1e-10)
        }
        var worst = 0.0
        for (x, y) in zip(values, converted) {
            let expected = 10 * log10(Double(x >= 1e-10 ? x : 1e-10))
            worst = max(worst, abs(Double(y) - expected))
        }
        // Float carries about 7.6e-6 dB per ulp at 100 dB, so this is one or two ulps of the result.
        #expect(worst <= 2e-5, "worst dB error \(worst)")
        #expect(converted[4_001] == -100 && converted[4_004] == -100)
    }

    /// The SIMD MFCC loop (coefficients padded to whole lanes) against a Double-precision DCT-II, for
    /// coefficient counts below, at and across multiples of eight.
    @Test(arguments: [1, 8, 13, 20, 40])
    func mfccMatchesNaiveDCT(_ count: Int) throws {
        let bands = 40
        let extractor = try FeatureExtractor(configuration: FeatureConfiguration(melBands: bands, mfccCount: count))
        var generator = SeededGenerator(seed: UInt64(count))
        let logMel = Matrix(rows: 7, columns: bands,
                            storage: (0..<(7 * bands)).map { _ in Float.random(in: -100...20, using: &generator) })
        let ours = extractor.mfcc(fromLogMel: logMel)
        #expect(ours.rows == 7 && ours.columns == count)
        for t in 0..<7 {
            for k in 0..<count {
                var sum = 0.0
                for i in 0..<bands {
                    sum += Double(logMel[t, i]) * cos(Double.pi * Double(k) * Double(2 * i + 1) / Double(2 * bands))
                }
                let expected = sum * (2.0 / Double(bands)).squareRoot() * (k == 0 ? 1 / 2.0.squareRoot() : 1)
                #expect(abs(Double(ours[t, k]) - expected) <= 1e-3, "t \(t) k \(k): \(ours[t, k]) vs \(expected)")
            }
        }
    }
}

@Suite struct TimbreGaussianFromLogMelTests {
    static let configuration = FeatureConfiguration(mfccCount: TimbreGaussian.mfccCount, topDecibels: nil)

    static func music() -> [Float] {
        let chord = Signals.chord([220, 277, 330], seconds: 3, sampleRate: 22_050)
        var music = zip(chord, Signals.whiteNoise(seconds: 3, sampleRate: 22_050, amplitude: 0.05, seed: 3)).map(+)
        for i in 0..<(music.count / 3) { music[i] *= 1e-6 }  // a near-silent first second
        return music
    }

    /// The Gaussian leaves out MFCC 0 and floors the log-mel below its own peak, so a copy 20 dB quieter gets the
    /// same model — its near-silent intro (120 dB down, where the quieter copy meets `power_to_db`'s absolute
    /// floor) included — while another sound gets another.
    @Test func aQuieterCopyHasTheSameGaussian() throws {
        let extractor = try FeatureExtractor(configuration: Self.configuration)
        let music = Self.music()
        for limit in [nil, TimbreGaussian.lowBandLimit] {
            let original = try #require(TimbreGaussian(
                logMel: extractor.logMel(music), configuration: Self.configuration, bandLimit: limit))
            let quiet = try #require(TimbreGaussian(
                logMel: extractor.logMel(music.map { $0 * 0.1 }), configuration: Self.configuration, bandLimit: limit))
            let worstMean = zip(original.mean, quiet.mean).map { abs($0 - $1) }.max()!
            let worstCovariance = zip(original.covariance, quiet.covariance).map { abs($0 - $1) }.max()!
            #expect(worstMean < 1e-3 && worstCovariance < 1e-2,
                    "\(String(describing: limit)): mean Δ \(worstMean), covariance Δ \(worstCovariance)")
            let noise = try #require(TimbreGaussian(
                logMel: extractor.logMel(Signals.whiteNoise(seconds: 3, sampleRate: 22_050, seed: 4)),
                configuration: Self.configuration, bandLimit: limit))
            #expect(zip(original.mean, noise.mean).map { abs($0 - $1) }.max()! > 1)
        }
        // A clip too short for a covariance of 24 coefficients gives none.
        #expect(TimbreGaussian(logMel: extractor.logMel(Array(music.prefix(22_050 / 2))),
                               configuration: Self.configuration) == nil)
    }

    /// All bands: the Gaussian of the MFCCs `FeatureExtractor` computes (librosa's, checked against it) of the
    /// floored, edge-trimmed log-mel. Low band: the bands above the limit play no part.
    @Test func bandsAreTheExtractorsMFCCsAndTheLowBandIgnoresTheTop() throws {
        let extractor = try FeatureExtractor(configuration: Self.configuration)
        let logMel = extractor.logMel(Self.music())
        var floored = logMel
        FeatureExtractor.applyTopDecibels(&floored, TimbreGaussian.floorDecibels)
        let reference = try #require(TimbreGaussian(mfcc: extractor.mfcc(fromLogMel: floored.rows(2..<(floored.rows - 2)))))
        let ours = try #require(TimbreGaussian(logMel: logMel, configuration: Self.configuration))
        let error = zip(ours.covariance + ours.mean, reference.covariance + reference.mean)
            .map { abs($0 - $1) / max(1, abs($1)) }.max()!
        #expect(error < 1e-4, "relative error \(error)")
        // Changing the bands above 5 kHz (kept within the floor's range) moves the full-band Gaussian only.
        let centres = Self.configuration.melCentreFrequencies
        var brighter = logMel
        let top = logMel.storage.max()!
        for r in 0..<brighter.rows {
            for b in centres.indices where centres[b] > TimbreGaussian.lowBandLimit { brighter[r, b] = top - 30 }
        }
        let limit = TimbreGaussian.lowBandLimit
        #expect(TimbreGaussian(logMel: brighter, configuration: Self.configuration, bandLimit: limit)
            == TimbreGaussian(logMel: logMel, configuration: Self.configuration, bandLimit: limit))
        #expect(TimbreGaussian(logMel: brighter, configuration: Self.configuration) != ours)
    }
}
