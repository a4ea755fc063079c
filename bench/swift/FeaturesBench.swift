import AudioDecoding
import Foundation
import RetrieveCore
import SpectralFeatures

/// Our side of `bench/run features`: decode + resample + log-mel + MFCC on one thread, and the peak memory
/// of streaming a long file.
///
///     retrieve-bench features generate DIR COUNT SECONDS   # stereo 44.1 kHz WAV/FLAC files, alternating
///     retrieve-bench features generate-long FILE SECONDS   # one long stereo 44.1 kHz file, written in blocks
///     retrieve-bench features run DIR [EXT]                # prints: ours AUDIO_SECONDS WALL DECODE_WALL FRAMES
///                                                            #   CPU DECODE_CPU
///     retrieve-bench features stream FILE                  # prints: stream FRAMES PEAK_DB VMHWM_KB
enum FeaturesBench {
    static func run(_ arguments: [String]) throws {
        switch arguments.first {
        case "generate" where arguments.count == 4:
            let dir = URL(fileURLWithPath: arguments[1])
            for i in 0..<Int(arguments[2])! {
                let format: AudioFileFormat = i % 2 == 0 ? .wav16 : .flac16
                try generate(dir.appendingPathComponent(String(format: "track%02d.%@", i, format.fileExtension)),
                             seconds: Double(arguments[3])!, seed: UInt64(i + 1), format: format)
            }
        case "generate-long" where arguments.count == 3:
            let url = URL(fileURLWithPath: arguments[1])
            try generate(url, seconds: Double(arguments[2])!, seed: 99,
                         format: url.pathExtension == "flac" ? .flac16 : .wav16)
        case "run" where arguments.count == 2 || arguments.count == 3:
            try timeDirectory(URL(fileURLWithPath: arguments[1]), extensions: arguments.count == 3 ? [arguments[2]] : ["wav", "flac"])
        case "stages" where arguments.count == 2:
            try stages(URL(fileURLWithPath: arguments[1]))
        case "stream" where arguments.count == 2:
            try streamOne(URL(fileURLWithPath: arguments[1]))
        default:
            throw BenchUsage()
        }
    }

    struct BenchUsage: Error, CustomStringConvertible {
        var description: String { "usage: retrieve-bench features generate DIR N SECONDS | generate-long FILE SECONDS | run DIR | stream FILE" }
    }

    /// Music-like test audio: a few drifting partials per channel, a decaying click train and a little noise.
    static func generate(_ url: URL, seconds: Double, seed: UInt64, format: AudioFileFormat) throws {
        let rate = 44_100, total = Int(seconds * Double(rate)), block = rate
        let writer = try AudioFileWriter(url: url, format: format, sampleRate: rate, channels: 2)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func noise() -> Float {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(Int64(bitPattern: state) >> 11) / Float(1 << 52)
        }
        let base = 110.0 * Double(1 + seed % 5)
        var buffer = [Float](repeating: 0, count: 2 * block)
        var n = 0
        while n < total {
            let count = min(block, total - n)
            for i in 0..<count {
                let t = Double(n + i) / Double(rate)
                let f = base * (1 + 0.02 * sin(0.3 * t))
                let tone = 0.2 * sin(2 * .pi * f * t) + 0.1 * sin(2 * .pi * 2.01 * f * t) + 0.05 * sin(2 * .pi * 3.7 * f * t)
                let click = 0.4 * exp(-40 * (t.truncatingRemainder(dividingBy: 0.5)))
                let c = Float(click) * noise()
                buffer[2 * i] = Float(tone) + c + 0.02 * noise()
                buffer[2 * i + 1] = Float(0.8 * tone) - c + 0.02 * noise()
            }
            try buffer.withUnsafeBufferPointer { try writer.write(UnsafeBufferPointer(rebasing: $0[0..<(2 * count)])) }
            n += count
        }
        writer.close()
    }

    static func timeDirectory(_ dir: URL, extensions: [String]) throws {
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { extensions.contains($0.pathExtension) }.sorted { $0.path < $1.path }
        let decoder = AudioDecoder()
        let extractor = try FeatureExtractor()
        // Warm-up: FFTW planning, page cache, first-touch allocations.
        if let first = files.first { _ = extractor.mfcc(try decoder.decode(first, maxSeconds: 5).samples) }
        let clock = ContinuousClock()
        var audioSeconds = 0.0, frames = 0
        var decodeTime = Duration.zero
        if ProcessInfo.processInfo.environment["FEATURES_BATCH"] != nil {
            // Whole-file path: decode into memory, then features; reports the decode share separately.
            var cpuDecode = 0.0
            let cpuStart = cpuSeconds()
            let total = try clock.measure {
                for file in files {
                    var decoded: DecodedAudio?
                    let c0 = cpuSeconds()
                    decodeTime += try clock.measure { decoded = try decoder.decode(file) }
                    cpuDecode += cpuSeconds() - c0
                    let mfcc = extractor.mfcc(fromLogMel: extractor.logMel(decoded!.samples))
                    audioSeconds += decoded!.duration
                    frames += mfcc.rows
                }
            }
            let cpuTotal = cpuSeconds() - cpuStart
            print("ours \(audioSeconds) \(seconds(total)) \(seconds(decodeTime)) \(frames) \(cpuTotal) \(cpuDecode)")
            return
        }
        // The pipeline's path (and `retrieve features`'): decoded blocks go straight into the streaming log-mel,
        // so the signal never exists whole and stays in cache. Decode time is measured in a separate pass.
        let cpuStart = cpuSeconds()
        let total = try clock.measure {
            for file in files {
                var samples = 0
                let logMel = try extractor.logMel { sink in
                    try decoder.stream(file, blockFrames: 16_384) { samples += $0.count; sink($0) }
                }
                let mfcc = extractor.mfcc(fromLogMel: logMel)
                audioSeconds += Double(samples) / Double(decoder.targetSampleRate)
                frames += mfcc.rows
            }
        }
        let cpuTotal = cpuSeconds() - cpuStart
        let decodeCPUStart = cpuSeconds()
        for file in files { decodeTime += try clock.measure { try decoder.stream(file, blockFrames: 16_384) { _ in } } }
        let cpuDecode = cpuSeconds() - decodeCPUStart
        print("ours \(audioSeconds) \(seconds(total)) \(seconds(decodeTime)) \(frames) \(cpuTotal) \(cpuDecode)")
    }

    /// Where decoding time goes: libsndfile alone, plus channel mixing, plus resampling.
    static func stages(_ dir: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { ["wav", "flac"].contains($0.pathExtension) }.sorted { $0.path < $1.path }
        let clock = ContinuousClock()
        for ext in ["wav", "flac"] {
            let group = files.filter { $0.pathExtension == ext }
            var native = Duration.zero, resampled = Duration.zero
            for file in group {
                native += try clock.measure { try AudioDecoder(targetSampleRate: 44_100).stream(file) { _ in } }
                resampled += try clock.measure { try AudioDecoder().stream(file) { _ in } }
            }
            print("\(ext): read+mix \(seconds(native)) s, read+mix+resample \(seconds(resampled)) s (\(group.count) files)")
        }
        let extractor = try FeatureExtractor()
        let samples = try AudioDecoder().decode(files[0]).samples
        _ = extractor.mfcc(samples)
        var logMel = Matrix(rows: 0, columns: 128)
        let spectrum = clock.measure { _ = extractor.powerSpectrogram(samples) }
        let repeats = 10
        let mel = clock.measure { for _ in 0..<repeats { logMel = extractor.logMel(samples) } } / repeats
        let mfcc = clock.measure { _ = extractor.mfcc(fromLogMel: logMel) }
        // The pipeline's path: the same signal pushed in the blocks the resampler hands over (about 8 192 samples).
        let streamed = clock.measure {
            for _ in 0..<repeats {
                logMel = extractor.logMel { sink in
                    samples.withUnsafeBufferPointer { all in
                        var start = 0
                        while start < all.count {
                            let end = min(all.count, start + 8_192)
                            sink(UnsafeBufferPointer(rebasing: all[start..<end]))
                            start = end
                        }
                    }
                }
            }
        } / repeats
        let frames = Double(logMel.rows)
        print("per frame: power spectrum \(seconds(spectrum) / frames * 1e6) µs, log-mel \(seconds(mel) / frames * 1e6) µs, "
            + "streamed log-mel \(seconds(streamed) / frames * 1e6) µs, MFCC from log-mel \(seconds(mfcc) / frames * 1e6) µs")
    }

    static func streamOne(_ url: URL) throws {
        let extractor = try FeatureExtractor(configuration: FeatureConfiguration(topDecibels: nil))
        let streaming = StreamingLogMel(extractor: extractor)
        var frames = 0
        var peak = -Float.infinity
        func consume(_ m: Matrix) {
            frames += m.rows
            for v in m.storage where v > peak { peak = v }
        }
        try AudioDecoder().stream(url) { consume(streaming.push($0)) }
        consume(streaming.finish())
        print("stream \(frames) \(peak) \(peakResidentKilobytes())")
    }

    /// CPU time of this process in seconds: on a shared machine it excludes the time other jobs held the core,
    /// which wall time does not (CLOCK_PROCESS_CPUTIME_ID; the benchmark runs on one thread).
    static func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// VmHWM (peak resident set size) from /proc/self/status, in kB.
    static func peakResidentKilobytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
        }
        return -1
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
