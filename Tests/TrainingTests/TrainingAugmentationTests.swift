import RetrieveCore
import SpectralFeatures
import Testing
import TestSupport
@testable import Training

@Suite struct TrainingAugmentationTests {
    /// A shift moves every band by the same number of bands, repeats the edge band into the emptied bands and
    /// never wraps round; a zero shift is the identity.
    @Test func shiftBandsMovesTheSpectrumAndRepeatsTheEdge() {
        let m = Matrix(rows: 2, columns: 5, storage: [0, 1, 2, 3, 4, 10, 11, 12, 13, 14])
        #expect(TrainingAugmentation.shiftBands(m, by: 2).storage == [0, 0, 0, 1, 2, 10, 10, 10, 11, 12])
        #expect(TrainingAugmentation.shiftBands(m, by: -1).storage == [1, 2, 3, 4, 4, 11, 12, 13, 14, 14])
        #expect(TrainingAugmentation.shiftBands(m, by: 0) == m)
        #expect(TrainingAugmentation.shiftBands(m, by: 9).storage == [0, 0, 0, 0, 0, 10, 10, 10, 10, 10])
    }

    /// With `pitchShift` 0 the crops are those of an augmentation made without it (the random sequence is kept);
    /// with N > 0 a crop's spectral peak moves by at most N bands, and by several different amounts over many crops.
    @Test func pitchShiftMovesAPeakByAtMostNBands() {
        let configuration = FeatureConfiguration(melBands: 40, topDecibels: nil)
        // One steady peak at band 20, 30 dB above a flat floor.
        var logMel = Matrix(rows: 200, columns: 40, repeating: -60)
        for r in 0..<200 { logMel[r, 20] = -30 }
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        let plain = TrainingAugmentation(configuration: configuration)
        let zero = TrainingAugmentation(configuration: configuration, pitchShift: 0)
        for _ in 0..<20 {
            #expect(plain.crop(logMel, frames: 50, augment: true, rng: &a).segment
                == zero.crop(logMel, frames: 50, augment: true, rng: &b).segment)
        }
        let shifting = TrainingAugmentation(configuration: configuration, pitchShift: 3)
        var rng = SeededGenerator(seed: 11)
        var peaks = Set<Int>()
        for _ in 0..<200 {
            let segment = shifting.crop(logMel, frames: 50, augment: true, rng: &rng).segment
            // The peak is the band whose mean over the crop is highest (EQ and noise move levels, not the peak).
            let means = (0..<40).map { k in (0..<segment.rows).map { segment[$0, k] }.reduce(0, +) }
            peaks.insert(means.indices.max { means[$0] < means[$1] }!)
        }
        #expect(peaks.isSubset(of: Set(17...23)), "\(peaks.sorted())")
        #expect(peaks.count >= 5, "\(peaks.sorted())")
        // Without augmentation nothing moves.
        let unaugmented = shifting.crop(logMel, frames: 50, augment: false, rng: &rng).segment
        #expect((0..<unaugmented.rows).allSatisfy { unaugmented[$0, 20] == -30 })
    }
}
