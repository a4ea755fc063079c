import AudioDecoding
import Foundation
import RetrieveCore
import SpectralFeatures
import TestSupport
import Testing

/// Fixtures written by scripts/fixtures/features.py with librosa 0.11.
///
/// Measured when written: log-mel max error ≤ 1e-4 dB (chirp 9e-5, chord 5e-5, others ≤ 2e-5), MFCC relative
/// error ≤ 1.2e-6, soxr_hq resampling SNR > 320 dB (bit-for-bit up to float rounding). The tolerances below
/// are the contract (0.05 dB, 1e-3, 60 dB), not the current accuracy.
enum Fixture {
    static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
    static func array(_ name: String) throws -> NumPyArray { try NumPyArray(contentsOf: url(name + ".npy")) }
    static func matrix(_ name: String) throws -> Matrix { try #require(try array(name).matrix) }
    static func signal(_ name: String) throws -> [Float] {
        name == "silence" ? [Float](repeating: 0, count: 22_050 / 2) : try array(name).values
    }
}

/// Largest |ours − librosa| over the bins librosa puts within 60 dB of the signal's peak.
func logMelError(_ ours: Matrix, _ reference: Matrix) -> Float {
    precondition(ours.rows == reference.rows && ours.columns == reference.columns)
    let floor = (reference.storage.max() ?? 0) - 60
    var worst: Float = 0
    for i in 0..<reference.storage.count where reference.storage[i] >= floor {
        worst = max(worst, abs(ours.storage[i] - reference.storage[i]))
    }
    return worst
}

@Suite("librosa 0.11 reference")
struct LibrosaReferenceTests {
    static let signals = ["chirp", "noise", "chord", "clicks", "silence", "short", "tiny"]

    @Test("log-mel within 0.05 dB of librosa", arguments: signals)
    func logMel(_ name: String) throws {
        let extractor = try FeatureExtractor()
        let reference = try Fixture.matrix(name + "_logmel")
        let ours = extractor.logMel(try Fixture.signal(name))
        #expect(ours.rows == reference.rows && ours.columns == reference.columns)
        let error = logMelError(ours, reference)
        #expect(error <= 0.05, "\(name): log-mel max error \(error) dB")
        #expect(ours.storage.allSatisfy { $0.isFinite })
    }

    @Test("MFCC within 1e-3 relative error of librosa", arguments: signals)
    func mfcc(_ name: String) throws {
        let extractor = try FeatureExtractor()
        let reference = try Fixture.matrix(name + "_mfcc")
        let ours = extractor.mfcc(try Fixture.signal(name))
        #expect(ours.rows == reference.rows && ours.columns == 20)
        let error = Approx.relativeError(ours.storage, reference.storage)
        #expect(error <= 1e-3, "\(name): MFCC relative error \(error)")
    }

    @Test func reflectPaddingMatchesLibrosa() throws {
        let extractor = try FeatureExtractor(padMode: .reflect)
        let reference = try Fixture.matrix("chirp_logmel_reflect")
        let ours = extractor.logMel(try Fixture.signal("chirp"))
        #expect(logMelError(ours, reference) <= 0.05)
        // And the default really is librosa 0.11's zero padding, which differs at the edges.
        let constant = try FeatureExtractor().logMel(try Fixture.signal("chirp"))
        #expect(logMelError(constant, reference) > 0.5)
    }

    @Test func deltasMatchLibrosa() throws {
        let mfcc = try Fixture.matrix("chirp_mfcc")
        for (order, name) in [(1, "chirp_delta"), (2, "chirp_delta2")] {
            let reference = try Fixture.matrix(name)
            let ours = FeatureExtractor.deltas(mfcc, width: 9, order: order)
            #expect(Approx.relativeError(ours.storage, reference.storage) <= 1e-4, "order \(order)")
        }
    }

    @Test("features at the native rate of other-rate files", arguments: [("mix_44100", 44_100), ("tone_16000", 16_000)])
    func otherRates(_ name: String, _ rate: Int) throws {
        let decoded = try AudioDecoder(targetSampleRate: rate).decode(Fixture.url(name + ".wav"))
        let extractor = try FeatureExtractor(configuration: FeatureConfiguration(sampleRate: rate))
        let reference = try Fixture.matrix(name + "_logmel")
        let ours = extractor.logMel(decoded.samples)
        #expect(ours.rows == reference.rows)
        #expect(logMelError(ours, reference) <= 0.05)
    }

    @Test("resampling matches librosa.load(res_type='soxr_hq') at ≥ 60 dB SNR",
          arguments: ["mix_44100", "tone_16000"])
    func resampling(_ name: String) throws {
        let decoded = try AudioDecoder().decode(Fixture.url(name + ".wav"))
        let reference = try Fixture.array(name + "_resampled").values
        #expect(decoded.samples.count == reference.count)
        let n = min(decoded.samples.count, reference.count)
        var signal = 0.0, noise = 0.0
        for i in 0..<n {
            signal += Double(reference[i] * reference[i])
            let d = Double(decoded.samples[i] - reference[i])
            noise += d * d
        }
        let snr = 10 * log10(signal / max(noise, 1e-30))
        #expect(snr >= 60, "\(name): SNR \(snr) dB")
    }
}
