import AudioDecoding
import AudioDegradations
import Foundation
import RetrieveCore
import SpectralFeatures
import Synchronization

/// A degraded copy of a training track, made once in the audio domain (where clipping and lossy coding really
/// happen) and kept in the feature cache: a share of the training crops (`TrainingRecipe.degradedCopyFraction`)
/// is cut from it instead of the original, so the model learns that a user's loud, lossy or band-limited copy is
/// the same music.
///
/// Each track gets one kind, chosen from its path and the seed: clipped after a gain of 3–9 dB, an MP3 round
/// trip at 64–160 kb/s, an 8th-order Butterworth low-pass at 3–8 kHz (log-uniform), or resampled to 8, 11.025
/// or 16 kHz and back. The settings are drawn from ranges around what `retrieve evaluate` checks (+6 dB clipped,
/// 128 kb/s, 4 kHz, 16 kHz), never just the checked values. Copies keep the original's timing, so a crop's
/// teacher target is the original's at the same time.
public struct DegradedCopy: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable { case clipped, mp3, lowPass = "lowpass", resampled }
    public let kind: Kind
    /// The gain in dB (clipped), the bitrate in kb/s (mp3), the cutoff in Hz (low-pass) or the rate in Hz.
    public let value: Double

    public init(kind: Kind, value: Double) {
        self.kind = kind
        self.value = value
    }

    /// The copy track `path` gets under `seed`.
    public static func chosen(for path: String, seed: UInt64) -> DegradedCopy {
        var rng = SplitMix64(seed: ContentHash.FNV1a64.of(path, seed: seed))
        switch Kind.allCases[Int(rng.next() % UInt64(Kind.allCases.count))] {
        case .clipped: return DegradedCopy(kind: .clipped, value: (Double.random(in: 3...9, using: &rng) * 10).rounded() / 10)
        case .mp3: return DegradedCopy(kind: .mp3, value: [64, 96, 128, 160].randomElement(using: &rng)!)
        case .lowPass: return DegradedCopy(kind: .lowPass, value: exp(Double.random(in: log(3000)...log(8000), using: &rng)).rounded())
        case .resampled: return DegradedCopy(kind: .resampled, value: [8000, 11_025, 16_000].randomElement(using: &rng)!)
        }
    }

    /// E.g. `clipped+6.3dB`, `mp3-96k`, `lowpass-4210Hz`, `resampled-16000Hz`: part of the copy's cache key.
    public var description: String {
        switch kind {
        case .clipped: return String(format: "clipped+%.1fdB", value)
        case .mp3: return "mp3-\(Int(value))k"
        case .lowPass: return "lowpass-\(Int(value))Hz"
        case .resampled: return "resampled-\(Int(value))Hz"
        }
    }

    /// The degraded signal at the same rate and length; `scratch` is a file name free for the MP3 round trip.
    public func apply(_ samples: [Float], sampleRate: Int, scratch: URL) throws -> [Float] {
        switch kind {
        case .clipped: return DSP.gain(samples, decibels: value).map { min(1, max(-1, $0)) }
        case .mp3:
            defer { try? FileManager.default.removeItem(at: scratch) }
            return try DSP.mp3RoundTrip(samples, sampleRate: sampleRate, kilobitsPerSecond: Int(value), file: scratch)
                .samples
        case .lowPass: return DSP.butterworthLowPass(samples, cutoff: min(value, Double(sampleRate) * 0.45), sampleRate: sampleRate)
        case .resampled:
            guard value < Double(sampleRate) else { return samples }
            let down = try DSP.resample(samples, from: Double(sampleRate), to: value)
            var back = try DSP.resample(down, from: value, to: Double(sampleRate))
            if back.count > samples.count { back.removeLast(back.count - samples.count) }
            if back.count < samples.count { back += [Float](repeating: 0, count: samples.count - back.count) }
            return back
        }
    }
}

extension FeatureCache {
    /// The log-mel of the first `seconds` of `path` after `copy`'s degradation, from the cache or computed now.
    public func logMel(path: String, copy: DegradedCopy, seconds: Double, extractor: FeatureExtractor) throws -> Matrix {
        let key = try ContentHash.ofFile(atPath: path).replacingOccurrences(of: ":", with: "-")
        let entry = URL(fileURLWithPath: directory)
            .appendingPathComponent("\(key)-\(configurationKey)-\(copy)-\(Int(seconds))s.npy")
        if let cached = try? NumPyArray(contentsOf: entry).matrix, cached.columns == configuration.melBands {
            return cached
        }
        let decoder = AudioDecoder(targetSampleRate: configuration.sampleRate)
        var samples: [Float] = []
        try decoder.stream(URL(fileURLWithPath: path), maxSeconds: min(seconds, maxSeconds ?? seconds)) {
            samples += $0
        }
        let scratch = URL(fileURLWithPath: directory).appendingPathComponent("\(key)-\(UUID().uuidString).mp3")
        let degraded = try copy.apply(samples, sampleRate: configuration.sampleRate, scratch: scratch)
        let streaming = StreamingLogMel(extractor: extractor)
        var frames = degraded.withUnsafeBufferPointer { streaming.push($0) }.storage
        frames += streaming.finish().storage
        let result = Matrix(rows: frames.count / configuration.melBands, columns: configuration.melBands, storage: frames)
        try? NumPyArray(result).write(to: entry)
        return result
    }
}

extension TrainingSession {
    /// How much of each training track its degraded copy covers: enough crops to learn from, a bounded memory
    /// cost (about 2.6 MB per track at 128 bands).
    static let degradedCopySeconds = 120.0

    /// `train` with every track's degraded copy attached (two files at a time); a copy that cannot be made is
    /// named and the track trains on its original only.
    func withDegradedCopies(_ train: [TrainingTrack]) throws -> [TrainingTrack] {
        let workers = min(Cores.available, train.count)
        let (cache, seed) = (self.cache, recipe.seed)
        let extractors = try (0..<workers).map { _ in try FeatureExtractor(configuration: cache.configuration) }
        let copies = Mutex([Matrix?](repeating: nil, count: train.count))
        let failures = Mutex([String]())
        let progress = progress(train.count, "degraded copies")
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for i in stride(from: worker, to: train.count, by: workers) {
                let copy = DegradedCopy.chosen(for: train[i].path, seed: seed)
                do {
                    let m = try cache.logMel(path: train[i].path, copy: copy, seconds: Self.degradedCopySeconds,
                                             extractor: extractors[worker])
                    copies.withLock { $0[i] = m.rows > 0 ? m : nil }
                } catch {
                    failures.withLock { $0.append("\(train[i].path): no \(copy) copy (\(error)); it trains on the original only") }
                }
                progress.advance(detail: (train[i].path as NSString).lastPathComponent)
            }
        }
        progress.finish()
        for failure in failures.withLock({ $0 }) { log(failure) }
        let made = copies.withLock { $0 }
        return zip(train, made).map { track, copy in
            var track = track
            track.degraded = copy
            return track
        }
    }
}
