import Foundation
import EncoderTraining
import RetrieveCore

/// One epoch of training steps: PK batches of augmented crops (pairs of one track's crops for the contrastive
/// loss, the teacher's targets for distillation), the loss sums, and the epoch's record and log line.
struct EpochRunner {
    let trainer: EncoderTrainer
    let train: [TrainingTrack]
    let teacher: TeacherTargets?
    let recipe: TrainingRecipe
    let segmentFrames: Int
    let steps: Int
    let augmentation: TrainingAugmentation
    let secondsPerFrame: Double
    private var rng: SplitMix64
    private var sampler: PKBatchSampler

    /// Loss and accuracy sums over an epoch's steps, and the last step's learning rate.
    struct Sums {
        var ce = 0.0, triplet = 0.0, contrastive = 0.0, relational = 0.0, regression = 0.0, trackRelational = 0.0
        var consistency = 0.0, accuracy = 0.0
        var crops = 0, mixCrops = 0
        var lastRate: Float = 0
    }

    /// A resumed run (`epochsDone` > 0) restores the crop and batch generators from `randomState`, the last
    /// finished epoch's record of them, and so draws what an uninterrupted run would; without one (a report written
    /// before they were recorded) it seeds them by `epochsDone`.
    init(trainer: EncoderTrainer, train: [TrainingTrack], teacher: TeacherTargets?, recipe: TrainingRecipe,
         segmentFrames: Int, steps: Int, augmentation: TrainingAugmentation, secondsPerFrame: Double, epochsDone: Int,
         randomState: [String]? = nil) {
        self.trainer = trainer
        self.train = train
        self.teacher = teacher
        self.recipe = recipe
        self.segmentFrames = segmentFrames
        self.steps = steps
        self.augmentation = augmentation
        self.secondsPerFrame = secondsPerFrame
        rng = SplitMix64(seed: recipe.seed &+ UInt64(epochsDone) &* 0x9E37)
        sampler = PKBatchSampler(labels: train.map(\.label), classes: recipe.classesPerBatch,
                                 itemsPerClass: recipe.segmentsPerClass, seed: recipe.seed &+ UInt64(epochsDone))

        if epochsDone > 0, let states = randomState?.compactMap({ UInt64($0, radix: 16) }), states.count == 2 {
            rng = SplitMix64(seed: states[0])
            sampler.randomState = states[1]
        }
    }

    /// The crop and batch generators' states, as `EpochRecord.randomState` keeps them.
    var randomState: [String] { [String(rng.state, radix: 16), String(sampler.randomState, radix: 16)] }

    /// Runs `steps` training steps (fewer when `stop` is raised) and returns their sums.
    mutating func run(progress: any ProgressSink, stop: StopRequest) -> Sums {
        var sums = Sums()
        // Track-relational distillation pools each track's crops, so it pairs them as the contrastive loss does.
        let trackRelational = teacher != nil && recipe.teacherTrackWeight != 0
        let paired = recipe.contrastiveWeight != 0 || trackRelational
        for _ in 0..<steps {
            if stop.isRaised { break }
            var picks = sampler.next()
            if paired {
                // Pairs: the second crop of every two comes from the first one's track.
                for i in stride(from: 1, to: picks.count, by: 2) { picks[i] = picks[i - 1] }
            }
            var crops: [(segment: Matrix, centreFrame: Double, sourceFrames: Int)] = []
            crops.reserveCapacity(picks.count)
            var alignedPairs: [(Int, Int)] = []
            var mixTargets: [Int: [Float]] = [:]
            var n = 0
            while n < picks.count {
                let i = picks[n]
                // Drawn only with the option on, so recipes without it keep their random sequence.
                if recipe.alignedCopyPairs > 0, recipe.contrastiveWeight != 0, n % 2 == 0, n + 1 < picks.count,
                   let copy = train[i].degraded, Float.random(in: 0..<1, using: &rng) < recipe.alignedCopyPairs
                {
                    let consistent = recipe.copyConsistencyWeight > 0
                    crops += Self.alignedCrops(original: train[i].logMel, copy: copy, frames: segmentFrames,
                                               augment: recipe.augment, sameAugmentation: consistent,
                                               augmentation: augmentation, rng: &rng)
                    if consistent { alignedPairs.append((n, n + 1)) }
                    n += 2
                    continue
                }
                // The draw happens only with copies on, so recipes without them keep their random sequence.
                let copy = recipe.degradedCopyFraction > 0 && Float.random(in: 0..<1, using: &rng) < recipe.degradedCopyFraction
                    ? train[i].degraded : nil
                if copy == nil, recipe.teacherMixFraction > 0, let t = teacher, !t.mixes[i].isEmpty,
                   Float.random(in: 0..<1, using: &rng) < recipe.teacherMixFraction,
                   let (crop, target) = mixCrop(track: i, teacher: t)
                {
                    mixTargets[n] = target
                    crops.append(crop)
                    n += 1
                    continue
                }
                let source = copy ?? train[i].logMel
                // Aligned crops: centred on one of the teacher's patches (in frames), drawn only in that mode.
                let centre = recipe.teacherCropTarget == .aligned
                    ? teacher?.patchCentre(track: i, within: Double(source.rows) * secondsPerFrame, rng: &rng)
                        .map { $0 / secondsPerFrame } : nil
                crops.append(augmentation.crop(source, frames: segmentFrames, augment: recipe.augment, rng: &rng,
                                               centre: centre))
                n += 1
            }
            let targets = teacher.map { t in
                Self.cropTargets(t, picks: picks, crops: crops, mixTargets: mixTargets, choice: recipe.teacherCropTarget,
                                 secondsPerFrame: secondsPerFrame)
            }
            // Each crop's whole-track target, for the regression on tracks and the track-level loss alike.
            let trackRows = recipe.teacherRegressionTarget == .track || trackRelational
                ? teacher.map { t in Matrix(rowArrays: picks.map { t.trackTarget(track: $0) }) } : nil
            let regressionTargets = recipe.teacherRegressionTarget == .track ? trackRows : nil
            let trackTargets = trackRelational ? trackRows : nil
            sums.crops += crops.count
            sums.mixCrops += mixTargets.count
            let result = trainer.step(segments: crops.map(\.segment), labels: picks.map { train[$0].label },
                                      groups: paired ? picks : nil, targets: targets,
                                      regressionTargets: regressionTargets, trackTargets: trackTargets,
                                      alignedPairs: alignedPairs)
            sums.ce += Double(result.crossEntropy)
            sums.triplet += Double(result.triplet)
            sums.contrastive += Double(result.contrastive)
            sums.relational += Double(result.relational)
            sums.regression += Double(result.regression)
            sums.trackRelational += Double(result.trackRelational)
            sums.consistency += Double(result.consistency)
            sums.accuracy += Double(result.accuracy)
            sums.lastRate = result.learningRate
            progress.advance(detail: String(format: "loss %.3f", result.total))
        }
        progress.finish()
        return sums
    }

    /// A crop cut from one of track `i`'s mixes (drawn at random), and that mix's target; nil when the mix's
    /// windows leave either track's frames. The window is long enough for the crop's tempo stretch (up to 8 %).
    private mutating func mixCrop(track i: Int, teacher: TeacherTargets)
        -> (crop: (segment: Matrix, centreFrame: Double, sourceFrames: Int), target: [Float])?
    {
        let mixes = teacher.mixes[i]
        let mix = mixes[Int.random(in: 0..<mixes.count, using: &rng)]
        let window = Int((Double(segmentFrames) * 1.08).rounded(.up)) + 2
        guard let mixed = Self.mixWindow(mix, of: train[i].logMel, with: train[mix.other].logMel,
                                         patchFrames: teacher.patchSeconds / secondsPerFrame, frames: window)
        else { return nil }
        let crop = augmentation.crop(mixed, frames: segmentFrames, augment: recipe.augment, rng: &rng,
                                     centre: Double(window) / 2)
        return (crop, mix.target)
    }

    /// The teacher target row of each crop (of track `picks[i]`): a mix crop's own (`mixTargets`, by crop index),
    /// otherwise the patch its centre lies in (`centre`, `aligned`) or the patches it covers (`overlap`).
    static func cropTargets(_ teacher: TeacherTargets, picks: [Int],
                            crops: [(segment: Matrix, centreFrame: Double, sourceFrames: Int)], mixTargets: [Int: [Float]],
                            choice: TeacherCropTarget, secondsPerFrame: Double) -> Matrix {
        Matrix(rowArrays: zip(picks, crops).enumerated().map { n, pair in
            let (pick, crop) = pair
            if let mixed = mixTargets[n] { return mixed }
            let half = Double(crop.sourceFrames) / 2
            return switch choice {
            case .centre, .aligned: teacher.target(track: pick, seconds: crop.centreFrame * secondsPerFrame)
            case .overlap:
                teacher.target(track: pick, from: (crop.centreFrame - half) * secondsPerFrame,
                               to: (crop.centreFrame + half) * secondsPerFrame)
            }
        })
    }

    /// `frames` log-mel frames (dB of power) of a mix: the windows of `a` and `b` centred on the mix's two
    /// patches (`patchFrames` frames each), their powers summed at the mix's gains — the mel power of a sum of
    /// unrelated signals is close to the sum of their powers. nil when either window leaves its track's frames.
    static func mixWindow(_ mix: TeacherTargets.Mix, of a: Matrix, with b: Matrix, patchFrames: Double,
                          frames: Int) -> Matrix? {
        let startA = Int(((Double(mix.patch) + 0.5) * patchFrames - Double(frames) / 2).rounded())
        let startB = Int(((Double(mix.otherPatch) + 0.5) * patchFrames - Double(frames) / 2).rounded())
        guard a.columns == b.columns, startA >= 0, startB >= 0, startA + frames <= a.rows, startB + frames <= b.rows
        else { return nil }
        var out = Matrix(rows: frames, columns: a.columns)
        for t in 0..<frames {
            for k in 0..<a.columns {
                let pa = pow(10, (a[startA + t, k] + mix.gain) / 10), pb = pow(10, (b[startB + t, k] + mix.otherGain) / 10)
                out[t, k] = 10 * log10(pa + pb)
            }
        }
        return out
    }

    /// An aligned pair: one moment of a track, cropped from the original and from its degraded copy (the same
    /// start frame). With `sameAugmentation` (the consistency loss) both crops take the same augmentation
    /// draws (a copy of the generator), so only the degradation differs; otherwise each is augmented on its own.
    static func alignedCrops<G: RandomNumberGenerator>(
        original: Matrix, copy: Matrix, frames: Int, augment: Bool, sameAugmentation: Bool,
        augmentation: TrainingAugmentation, rng: inout G
    ) -> [(segment: Matrix, centreFrame: Double, sourceFrames: Int)] {
        let rows = min(original.rows, copy.rows)
        let start = rows > frames ? Int.random(in: 0...(rows - frames), using: &rng) : 0
        var twin = rng
        let first = augmentation.crop(original, frames: frames, augment: augment, rng: &rng, start: start)
        let second = sameAugmentation
            ? augmentation.crop(copy, frames: frames, augment: augment, rng: &twin, start: start)
            : augmentation.crop(copy, frames: frames, augment: augment, rng: &rng, start: start)
        return [first, second]
    }

    /// The epoch's record: mean training losses (the optional ones only where they are on) and validation.
    func record(epoch: Int, sums: Sums,
                validation v: (crossEntropy: Float, triplet: Float, accuracy: Float, precisionAt10: Float),
                seconds: Double, options: TrainingOptions) -> EpochRecord {
        let n = Double(steps)
        return EpochRecord(
            epoch: epoch, steps: steps, learningRate: sums.lastRate, trainCrossEntropy: Float(sums.ce / n),
            trainTriplet: Float(sums.triplet / n), trainAccuracy: Float(sums.accuracy / n),
            validationCrossEntropy: v.crossEntropy, validationTriplet: v.triplet, validationAccuracy: v.accuracy,
            validationPrecisionAt10: v.precisionAt10, seconds: seconds,
            trainContrastive: recipe.contrastiveWeight != 0 ? Float(sums.contrastive / n) : nil,
            trainRelational: teacher != nil && options.relationalWeight != 0 ? Float(sums.relational / n) : nil,
            trainRegression: teacher != nil && options.regressionWeight != 0 ? Float(sums.regression / n) : nil,
            trainTrackRelational: teacher != nil && options.trackRelationalWeight != 0
                ? Float(sums.trackRelational / n) : nil,
            trainConsistency: options.consistencyWeight != 0 ? Float(sums.consistency / n) : nil,
            trainMixShare: recipe.teacherMixFraction > 0 && teacher != nil
                ? Float(sums.mixCrops) / Float(max(1, sums.crops)) : nil,
            randomState: randomState)
    }

    /// The epoch's log line; `*` marks a new best (the time comes last).
    static func line(_ record: EpochRecord, improved: Bool) -> String {
        let extra = (record.trainContrastive.map { String(format: "  contrastive %.3f", $0) } ?? "")
            + (record.trainRelational.map { String(format: "  relational %.4f", $0) } ?? "")
            + (record.trainRegression.map { String(format: "  regression %.3f", $0) } ?? "")
            + (record.trainTrackRelational.map { String(format: "  track relational %.4f", $0) } ?? "")
            + (record.trainConsistency.map { String(format: "  consistency %.4f", $0) } ?? "")
            + (record.trainMixShare.map { String(format: "  mixes %.2f", $0) } ?? "")
        let fidelity = (record.validationFidelity.map { "  teacher \($0.summary)" } ?? "")
            + (record.unseenFidelity.map { " | unseen labels: teacher \($0.summary)" } ?? "")
        return String(format: "epoch %3d  ce %.3f  triplet %.3f%@  acc %.3f | val ce %.3f  acc %.3f  P@10 %.3f%@  %@ %5.1fs",
                      record.epoch, record.trainCrossEntropy, record.trainTriplet, extra, record.trainAccuracy,
                      record.validationCrossEntropy, record.validationAccuracy, record.validationPrecisionAt10,
                      fidelity, improved ? "*" : " ", record.seconds)
    }
}
