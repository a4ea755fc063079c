import Foundation
import Analysis
import Library
import Training
import AudioDegradations
import Evaluation
import SimilaritySearch
import Testing
import TestSupport

@Suite struct DegradationsTests {
    let rate = 22_050

    /// The frequency of a (near-)pure tone from its upward zero crossings, linearly interpolated, over the
    /// middle of the signal (away from edge effects).
    func frequency(of x: [Float], sampleRate: Int) -> Double {
        let from = x.count / 5, to = x.count - x.count / 5
        var crossings: [Double] = []
        for i in from..<to where x[i - 1] < 0 && x[i] >= 0 {
            crossings.append(Double(i - 1) + Double(-x[i - 1] / (x[i] - x[i - 1])))
        }
        guard crossings.count > 2 else { return 0 }
        return Double(crossings.count - 1) / ((crossings.last! - crossings.first!) / Double(sampleRate))
    }

    func rms(_ x: ArraySlice<Float>) -> Double {
        (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, x.count))).squareRoot()
    }

    @Test func whiteNoiseHasTheRequestedSNR() {
        let x = Signals.sine(frequency: 440, seconds: 1, sampleRate: rate)
        let y = DSP.addWhiteNoise(x, snrDecibels: 20, seed: 3)
        let noise = zip(y, x).map { $0 - $1 }
        let snr = 20 * log10(rms(x[...]) / rms(noise[...]))
        #expect(abs(snr - 20) < 0.3)
        #expect(DSP.addWhiteNoise(x, snrDecibels: 20, seed: 3) == y)  // seeded
    }

    @Test func gainScalesBy9dB() {
        let x = Signals.sine(frequency: 440, seconds: 0.1, sampleRate: rate)
        let y = DSP.gain(x, decibels: -9)
        #expect(abs(20 * log10(rms(y[...]) / rms(x[...])) + 9) < 1e-4)
    }

    @Test func butterworthResponseIsFlatThenSteep() {
        let sections = DSP.butterworthSections(cutoff: 4_000, sampleRate: rate, order: 8)
        func db(_ f: Double) -> Double { 20 * log10(sections.reduce(1.0) { $0 * $1.magnitude(at: f, sampleRate: rate) }) }
        #expect(abs(db(100)) < 0.01)
        #expect(abs(db(2_000)) < 0.1)
        #expect(abs(db(4_000) + 3.01) < 0.05)
        // The bilinear transform squeezes the stop band toward Nyquist: steeper than the analogue −28/−48 dB.
        #expect(db(6_000) < -28)
        #expect(db(8_000) < -48)
        // Monotonic, as a Butterworth response is (up to rounding where it is flat).
        let curve = stride(from: 100.0, to: 11_000, by: 100).map(db)
        #expect(zip(curve, curve.dropFirst()).allSatisfy { $0 >= $1 - 1e-9 })
    }

    @Test(arguments: [(1_000.0, 0.0), (4_000.0, -3.01), (6_000.0, -40.6)])
    func butterworthFiltersTonesAsItsResponseSays(frequency: Double, expectedDecibels: Double) {
        let x = Signals.sine(frequency: frequency, seconds: 0.5, sampleRate: rate)
        let y = DSP.butterworthLowPass(x, cutoff: 4_000, sampleRate: rate, order: 8)
        let sections = DSP.butterworthSections(cutoff: 4_000, sampleRate: rate, order: 8)
        let predicted = 20 * log10(sections.reduce(1.0) { $0 * $1.magnitude(at: frequency, sampleRate: rate) })
        let measured = 20 * log10(rms(y[(y.count / 2)...]) / rms(x[(x.count / 2)...]))
        #expect(abs(measured - predicted) < 0.05)
        #expect(abs(measured - expectedDecibels) < 2)
    }

    @Test(arguments: [220.0, 440.0, 1_000.0])
    func timeStretchChangesDurationNotPitch(tone: Double) {
        let x = Signals.sine(frequency: tone, seconds: 2, sampleRate: rate)
        let y = DSP.timeStretch(x, tempo: 1.03, sampleRate: rate)
        #expect(y.count == Int((Double(x.count) / 1.03).rounded()))
        #expect(abs(frequency(of: y, sampleRate: rate) / tone - 1) < 0.003)
        // The level is kept too (no holes or doubled overlaps).
        #expect(abs(rms(y[(y.count / 5)..<(4 * y.count / 5)]) / rms(x[...]) - 1) < 0.05)
    }

    @Test func timeStretchScalesTheTimeOfEvents() {
        // A click every 0.5 s: after tempo × 1.03 the clicks are 0.5 / 1.03 s apart.
        var x = [Float](repeating: 0, count: 3 * rate)
        for k in 0..<6 { for i in 0..<200 { x[k * rate / 2 + 1_000 + i] = Float(sin(Double(i) * 0.3)) } }
        let y = DSP.timeStretch(x, tempo: 1.03, sampleRate: rate)
        let onsets = (1..<y.count).filter { abs(y[$0]) > 0.3 && y[max(0, $0 - 300)..<$0].allSatisfy { abs($0) <= 0.3 } }
        #expect(onsets.count == 6)
        let spacing = Double(onsets.last! - onsets.first!) / Double(onsets.count - 1) / Double(rate)
        #expect(abs(spacing - 0.5 / 1.03) < 0.005)
    }

    @Test(arguments: [220.0, 440.0, 1_000.0])
    func pitchShiftMovesAToneBySemitone(tone: Double) throws {
        let x = Signals.sine(frequency: tone, seconds: 2, sampleRate: rate)
        let y = try DSP.pitchShift(x, semitones: 1, sampleRate: rate)
        #expect(y.count == x.count)
        #expect(abs(frequency(of: y, sampleRate: rate) / (tone * pow(2, 1.0 / 12)) - 1) < 0.003)
    }

    @Test func resamplingTo16kHzKeepsLowAndRemovesHighFrequencies() throws {
        let low = Signals.sine(frequency: 1_000, seconds: 0.5, sampleRate: rate)
        let high = Signals.sine(frequency: 9_000, seconds: 0.5, sampleRate: rate)
        let lowOut = try Degradation.resample16k.apply(low, sampleRate: rate, seed: 0, scratch: URL(fileURLWithPath: "/tmp"))
        let highOut = try Degradation.resample16k.apply(high, sampleRate: rate, seed: 0, scratch: URL(fileURLWithPath: "/tmp"))
        #expect(lowOut.count == low.count && highOut.count == high.count)
        let middle = (low.count / 4)..<(3 * low.count / 4)
        #expect(Approx.maxAbsDifference(Array(lowOut[middle]), Array(low[middle])) < 0.01)
        #expect(rms(highOut[middle]) / rms(high[middle]) < 0.01)
        #expect(try DSP.resample(low, from: 22_050, to: 16_000).count == Int((Double(low.count) * 16_000 / 22_050).rounded(.up)))
    }

    @Test func mp3RoundTripIsAt128kbpsAndKeepsTheTone() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-mp3")
        let x = Signals.chord([440, 660, 1_320], seconds: 3, sampleRate: rate, amplitude: 0.2)
        let file = folder.path("x.mp3")
        let (y, kbps) = try DSP.mp3RoundTrip(x, sampleRate: rate, kilobitsPerSecond: 128, file: file)
        #expect(kbps == 128)
        #expect(y.count == x.count)
        let bytes = try #require(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int)
        let measured = Double(bytes) * 8 / 3 / 1000
        #expect(abs(measured - 128) < 8, "file is \(measured) kb/s")
        #expect(abs(20 * log10(rms(y[(rate / 2)...]) / rms(x[(rate / 2)...]))) < 0.5)
        // And the degradation wrapper cleans up after itself.
        _ = try Degradation.mp3.apply(x, sampleRate: rate, seed: 9, scratch: folder.url)
        #expect(!FileManager.default.fileExists(atPath: folder.path("degradation-9.mp3").path))
    }

    @Test func everyStandardDegradationKeepsLengthRoughly() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-degrade")
        let x = Signals.chord([220, 330], seconds: 1, sampleRate: rate)
        #expect(Degradation.standard.count == 7 && Set(Degradation.standard).count == 7)
        for d in Degradation.standard {
            let y = try d.apply(x, sampleRate: rate, seed: 1, scratch: folder.url)
            #expect(abs(Double(y.count) / Double(x.count) - 1) < 0.035, "\(d)")
            #expect(y.allSatisfy { $0.isFinite }, "\(d)")
        }
    }
}
