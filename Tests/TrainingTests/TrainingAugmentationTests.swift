import Foundation
import RetrieveCore
import Testing
import TestSupport
@testable import Training

@Suite struct TrainingAugmentationTests {
    /// Moving bands repeats the edge band instead of wrapping round, in both directions.
    @Test func shiftBandsRepeatsTheEdges() {
        let m = Matrix(rowArrays: [[1, 2, 3, 4, 5], [10, 20, 30, 40, 50]])
        #expect(TrainingAugmentation.shiftBands(m, by: 2).storage == [1, 1, 1, 2, 3, 10, 10, 10, 20, 30])
        #expect(TrainingAugmentation.shiftBands(m, by: -1).storage == [2, 3, 4, 5, 5, 20, 30, 40, 50, 50])
        #expect(TrainingAugmentation.shiftBands(m, by: 0) == m)
        #expect(TrainingAugmentation.shiftBands(m, by: 9).storage == [1, 1, 1, 1, 1, 10, 10, 10, 10, 10])
    }

    /// An aligned pair (original, degraded copy) starts at one frame; under the consistency loss both crops take
    /// the same augmentation draws, so only the degradation tells them apart (a copy equal to its original then
    /// gives equal crops); without it each crop is augmented on its own.
    @Test func alignedPairsShareTheirAugmentationOnlyUnderConsistency() {
        let features = FeatureConfiguration(melBands: 16, topDecibels: nil)
        let augmentation = TrainingAugmentation(configuration: features, masks: 1)
        var source = SeededGenerator(seed: 5)
        let original = source.matrix(rows: 60, columns: 16, in: -70 ... -10)
        let copy = source.matrix(rows: 50, columns: 16, in: -70 ... -10)
        var differed = 0
        for seed: UInt64 in 0..<16 {
            var a = SeededGenerator(seed: seed)
            let same = EpochRunner.alignedCrops(
                original: original, copy: original, frames: 12, augment: true, sameAugmentation: true,
                augmentation: augmentation, rng: &a)
            #expect(same.count == 2 && same[0].segment == same[1].segment && same[0].centreFrame == same[1].centreFrame)
            var b = SeededGenerator(seed: seed)
            let own = EpochRunner.alignedCrops(
                original: original, copy: original, frames: 12, augment: true, sameAugmentation: false,
                augmentation: augmentation, rng: &b)
            if own[0].segment != own[1].segment { differed += 1 }
            // One start frame for both, inside the shorter of the two (the copy), with or without stretching.
            var c = SeededGenerator(seed: seed)
            let pair = EpochRunner.alignedCrops(
                original: original, copy: copy, frames: 12, augment: false, sameAugmentation: true,
                augmentation: augmentation, rng: &c)
            let start = Int(pair[0].centreFrame) - 6
            #expect(pair[1].centreFrame == pair[0].centreFrame && start >= 0 && start + 12 <= copy.rows)
            #expect(pair[0].segment == original.rows(start..<(start + 12)) && pair[1].segment == copy.rows(start..<(start + 12)))
        }
        #expect(differed >= 12, "independent augmentation gave equal crops for \(16 - differed) of 16 seeds")
    }

    /// With N > 0 each augmented crop is the crop without the option moved by some shift in [−N, N] (the draw
    /// comes last, so everything before it is the same), the shifts vary, and a crop that is not augmented is
    /// never moved; with N = 0 the crops are those of the default augmentation, seed for seed.
    @Test func pitchShiftMovesAugmentedCropsOnly() {
        let features = FeatureConfiguration(melBands: 16, topDecibels: nil)
        let plain = TrainingAugmentation(configuration: features)
        let shifting = TrainingAugmentation(configuration: features, pitchShift: 3)
        var source = SeededGenerator(seed: 4)
        let logMel = source.matrix(rows: 40, columns: 16, in: -70 ... -10)
        var shifts: Set<Int> = []
        for seed: UInt64 in 0..<24 {
            var a = SeededGenerator(seed: seed), b = SeededGenerator(seed: seed), c = SeededGenerator(seed: seed)
            let reference = plain.crop(logMel, frames: 12, augment: true, rng: &a).segment
            let moved = shifting.crop(logMel, frames: 12, augment: true, rng: &b).segment
            let shift = (-3...3).first { TrainingAugmentation.shiftBands(reference, by: $0) == moved }
            #expect(shift != nil, "seed \(seed): not a shift of at most 3 bands of the unshifted crop")
            if let shift { shifts.insert(shift) }
            #expect(TrainingAugmentation(configuration: features, pitchShift: 0)
                .crop(logMel, frames: 12, augment: true, rng: &c).segment == reference)
            var d = SeededGenerator(seed: seed), e = SeededGenerator(seed: seed)
            #expect(shifting.crop(logMel, frames: 12, augment: false, rng: &d).segment
                == plain.crop(logMel, frames: 12, augment: false, rng: &e).segment)
        }
        #expect(shifts.count >= 4 && shifts.contains { $0 != 0 })
    }

    /// Masking sets whole bands and whole frames to the crop's mean and nothing else; the sizes vary within their
    /// bounds (an eighth of the bands, a tenth of the frames). With masks on, an augmented crop is the crop
    /// without them, masked (the draws come last); a crop that is not augmented is never masked.
    @Test func masksCoverWholeBandsAndFramesWithTheMean() {
        var source = SeededGenerator(seed: 6)
        let m = source.matrix(rows: 50, columns: 32, in: -70 ... -10)
        let mean = m.storage.reduce(0, +) / Float(m.storage.count)
        var widths: Set<Int> = [], lengths: Set<Int> = []
        for seed: UInt64 in 0..<30 {
            var rng = SeededGenerator(seed: seed)
            var masked = m
            TrainingAugmentation.mask(&masked, count: 2, rng: &rng)
            let changed = (0..<50).map { r in (0..<32).map { masked[r, $0] != m[r, $0] } }
            #expect(zip(masked.storage, m.storage).allSatisfy { $0 == $1 || $0 == mean })
            // Every changed entry lies in a fully masked band or a fully masked frame.
            let bands = (0..<32).filter { k in (0..<50).allSatisfy { masked[$0, k] == mean } }
            let frames = (0..<50).filter { r in (0..<32).allSatisfy { masked[r, $0] == mean } }
            for r in 0..<50 { for k in 0..<32 where changed[r][k] { #expect(bands.contains(k) || frames.contains(r)) } }
            #expect(bands.count <= 2 * 4 && frames.count <= 2 * 5, "seed \(seed): \(bands) \(frames)")
            widths.insert(bands.count); lengths.insert(frames.count)
        }
        #expect(widths.count >= 3 && lengths.count >= 3 && widths.contains { $0 > 0 } && lengths.contains { $0 > 0 })
        let features = FeatureConfiguration(melBands: 16, topDecibels: nil)
        let plain = TrainingAugmentation(configuration: features)
        let masking = TrainingAugmentation(configuration: features, masks: 1)
        let logMel = source.matrix(rows: 40, columns: 16, in: -70 ... -10)
        for seed: UInt64 in 0..<10 {
            var a = SeededGenerator(seed: seed), b = SeededGenerator(seed: seed)
            var reference = plain.crop(logMel, frames: 12, augment: true, rng: &a).segment
            let masked = masking.crop(logMel, frames: 12, augment: true, rng: &b).segment
            TrainingAugmentation.mask(&reference, count: 1, rng: &a)
            #expect(masked == reference)
            var d = SeededGenerator(seed: seed), e = SeededGenerator(seed: seed)
            #expect(masking.crop(logMel, frames: 12, augment: false, rng: &d).segment
                == plain.crop(logMel, frames: 12, augment: false, rng: &e).segment)
        }
    }

    /// A crop with a start begins there (moved back to fit at the end), and its centre says so.
    @Test func cropAtAGivenStart() {
        let augmentation = TrainingAugmentation(configuration: FeatureConfiguration(melBands: 8, topDecibels: nil))
        var source = SeededGenerator(seed: 9)
        let logMel = source.matrix(rows: 30, columns: 8, in: -60 ... -5)
        var rng = SeededGenerator(seed: 1)
        let at7 = augmentation.crop(logMel, frames: 10, augment: false, rng: &rng, start: 7)
        #expect(at7.segment == logMel.rows(7..<17) && at7.centreFrame == 12 && at7.sourceFrames == 10)
        let late = augmentation.crop(logMel, frames: 10, augment: false, rng: &rng, start: 25)
        #expect(late.segment == logMel.rows(20..<30))
        // Augmented crops at one start from two sources (an original and its copy) cover the same moment.
        let copy = Matrix(rows: 30, columns: 8, storage: logMel.storage.map { $0 - 3 })
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 6)
        let one = augmentation.crop(logMel, frames: 10, augment: true, rng: &a, start: 4)
        let other = augmentation.crop(copy, frames: 10, augment: true, rng: &b, start: 4)
        #expect(abs(one.centreFrame - other.centreFrame) <= 1)
    }

    /// A mix window is the two tracks' frames around their patches' centres, their powers summed at the mix's
    /// gains (equal levels: +3.01 dB); a window past either track's frames gives none. A crop given a centre is
    /// cut around it.
    @Test func mixWindowsSumPowersAroundBothPatches() throws {
        // Frame t of a holds t − 60 dB in every band, of b −40 dB; patches of 10 frames.
        let a = Matrix(rowArrays: (0..<40).map { t in [Float](repeating: Float(t) - 60, count: 3) })
        let b = Matrix(rowArrays: (0..<40).map { _ in [Float](repeating: -40, count: 3) })
        let mix = TeacherTargets.Mix(patch: 1, other: 1, otherPatch: 0, gain: -20, otherGain: 0, target: [])
        let window = try #require(EpochRunner.mixWindow(mix, of: a, with: b, patchFrames: 10, frames: 6))
        #expect(window.rows == 6 && window.columns == 3)
        for t in 0..<6 {
            // a's window starts at frame 15 − 3 = 12 and is 20 dB down; b's lies wholly inside it.
            let fromA: Float = pow(10, (Float(12 + t) - 80) / 10), fromB: Float = pow(10, -4)
            let expected: Float = 10 * log10(fromA + fromB)
            #expect(abs(window[t, 0] - expected) < 1e-4 && window[t, 2] == window[t, 0])
        }
        let even = TeacherTargets.Mix(patch: 0, other: 1, otherPatch: 0, gain: 0, otherGain: 0, target: [])
        let same = try #require(EpochRunner.mixWindow(even, of: b, with: b, patchFrames: 10, frames: 10))
        let doubled: Float = -40 + 10 * log10(Float(2))
        #expect(same.storage.allSatisfy { abs($0 - doubled) < 1e-4 })
        // b's patch 0 window of 12 frames would start at frame −1; 10 start at 0.
        #expect(EpochRunner.mixWindow(mix, of: a, with: b, patchFrames: 10, frames: 12) == nil)
        #expect(EpochRunner.mixWindow(mix, of: a, with: b, patchFrames: 10, frames: 10) != nil)
        let late = TeacherTargets.Mix(patch: 3, other: 1, otherPatch: 0, gain: 0, otherGain: 0, target: [])
        #expect(EpochRunner.mixWindow(late, of: a, with: b, patchFrames: 10, frames: 12) == nil)
        #expect(EpochRunner.mixWindow(even, of: a, with: b, patchFrames: 10, frames: 12) == nil)
        let augmentation = TrainingAugmentation(configuration: FeatureConfiguration(melBands: 3, topDecibels: nil))
        var rng = SeededGenerator(seed: 1)
        let crop = augmentation.crop(a, frames: 8, augment: false, rng: &rng, centre: 20)
        #expect(crop.segment == a.rows(16..<24) && crop.centreFrame == 20)
        let edge = augmentation.crop(a, frames: 8, augment: false, rng: &rng, centre: 39)
        #expect(edge.segment == a.rows(32..<40))
    }
}
