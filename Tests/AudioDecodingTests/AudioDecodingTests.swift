@testable import AudioDecoding
import Foundation
import TestSupport
import Synchronization
import Testing

/// Interleaves two equally long channels.
func interleave(_ left: [Float], _ right: [Float]) -> [Float] {
    var out = [Float]()
    out.reserveCapacity(left.count * 2)
    for i in 0..<left.count { out += [left[i], right[i]] }
    return out
}

func rms(_ x: [Float]) -> Float {
    guard !x.isEmpty else { return 0 }
    return (x.reduce(0) { $0 + $1 * $1 } / Float(x.count)).squareRoot()
}

@Suite struct AudioDecodingTests {
    static let formats: [(AudioFileFormat, String, Bool)] = [
        (.wav16, "WAV", true), (.wav24, "WAV", true), (.wav32, "WAV", true), (.wavFloat, "WAV", true),
        (.aiff16, "AIFF", true), (.flac16, "FLAC", true), (.flac24, "FLAC", true),
        (.oggVorbis, "OGG/Vorbis", false), (.opus, "Opus", false), (.mp3, "MP3", false),
    ]

    @Test("every format round-trips to mono at 22 050 Hz", arguments: formats)
    func roundTrip(_ format: AudioFileFormat, _ name: String, _ lossless: Bool) throws {
        let dir = try TemporaryDirectory()
        let rate = format == .opus ? 48_000 : 44_100
        let left = Signals.sine(frequency: 440, seconds: 1, sampleRate: rate, amplitude: 0.4)
        let right = Signals.sine(frequency: 440, seconds: 1, sampleRate: rate, amplitude: 0.2)
        let url = dir.path("tone.\(format.fileExtension)")
        try AudioFileWriter.write(interleave(left, right), channels: 2, sampleRate: rate, format: format, to: url,
                                  tags: ["title": "Tone", "artist": "Tester"])
        let decoder = AudioDecoder()
        let info = try decoder.info(of: url)
        #expect(info.format == name)
        #expect(info.channels == 2 && info.sampleRate == rate)
        let decoded = try decoder.decode(url)
        #expect(decoded.sampleRate == 22_050)
        let expectedCount = Int((Double(info.frames) * 22_050 / Double(rate)).rounded(.up))
        #expect(decoded.samples.count == expectedCount)
        #expect(abs(Double(decoded.samples.count) - 22_050) < (lossless ? 1 : 3_000))
        // Mono is the channel mean: a 0.3-amplitude sine, RMS 0.3/√2.
        let middle = Array(decoded.samples[2_000..<min(decoded.samples.count, 18_000)])
        #expect(abs(rms(middle) - 0.3 / Float(2).squareRoot()) < (lossless ? 0.002 : 0.03), "\(format)")
        if format == .flac16 || format == .wav16 {
            #expect(info.title == "Tone" && info.artist == "Tester")
        }
    }

    @Test func losslessAtTargetRateIsExactChannelMean() throws {
        let dir = try TemporaryDirectory()
        let left = Signals.whiteNoise(seconds: 0.3, sampleRate: 22_050, seed: 1)
        let right = Signals.whiteNoise(seconds: 0.3, sampleRate: 22_050, seed: 2)
        let url = dir.path("noise.wav")
        try AudioFileWriter.write(interleave(left, right), channels: 2, sampleRate: 22_050, format: .wavFloat, to: url)
        let decoded = try AudioDecoder().decode(url)
        #expect(decoded.samples == zip(left, right).map { ($0 + $1) * 0.5 })
    }

    @Test("any rate resamples to ceil(n · ratio) samples", arguments: [8_000, 16_000, 32_000, 48_000, 96_000, 192_000])
    func resampledLength(_ rate: Int) throws {
        let dir = try TemporaryDirectory()
        let x = Signals.sine(frequency: 300, seconds: 0.37, sampleRate: rate)
        let url = dir.path("x.wav")
        try AudioFileWriter.write(x, sampleRate: rate, format: .wav24, to: url)
        let decoded = try AudioDecoder().decode(url)
        #expect(decoded.samples.count == Int((Double(x.count) * 22_050 / Double(rate)).rounded(.up)))
        #expect(abs(rms(Array(decoded.samples[1_000..<7_000])) - 0.5 / Float(2).squareRoot()) < 0.005)
    }

    @Test func streamingEqualsDecodeAndCanStopEarly() throws {
        let dir = try TemporaryDirectory()
        let x = Signals.chirp(from: 100, to: 15_000, seconds: 2, sampleRate: 44_100)
        let url = dir.path("chirp.flac")
        try AudioFileWriter.write(x, sampleRate: 44_100, format: .flac24, to: url)
        let decoder = AudioDecoder()
        let whole = try decoder.decode(url).samples
        for block in [1_000, 4_096, 65_536] {
            var streamed: [Float] = []
            try decoder.stream(url, blockFrames: block) { streamed += $0 }
            #expect(streamed == whole, "block \(block)")
        }
        struct Enough: Error {}
        var seen = 0
        #expect(throws: Enough.self) {
            try decoder.stream(url, blockFrames: 4_096) { b in
                seen += b.count
                if seen > 5_000 { throw Enough() }
            }
        }
        #expect(seen < 10_000)
        let first = try decoder.decode(url, maxSeconds: 0.5).samples
        #expect(first.count == 11_025)
        let n = 9_000  // away from the resampler's look-ahead at the cut
        #expect(Approx.maxAbsDifference(Array(first[0..<n]), Array(whole[0..<n])) < 1e-6)
    }

    // MARK: bad input

    @Test func missingFile() throws {
        #expect(throws: AudioDecodingError.fileNotFound(path: "/nonexistent/a.wav")) {
            try AudioDecoder().decode(URL(fileURLWithPath: "/nonexistent/a.wav"))
        }
    }

    @Test func zeroBytes() throws {
        let dir = try TemporaryDirectory()
        let url = dir.path("empty.wav")
        _ = FileManager.default.createFile(atPath: url.path, contents: Data())
        let error = try #require(throws: AudioDecodingError.self) { try AudioDecoder().decode(url) }
        #expect(error == .emptyFile(path: url.path))
        #expect(error.description.contains(url.path))
    }

    @Test func notAudioWithAnAudioExtension() throws {
        let dir = try TemporaryDirectory()
        for name in ["notes.wav", "cover.flac", "readme.mp3", "x.ogg"] {
            let url = dir.path(name)
            try Data(String(repeating: "This is not audio at all. ", count: 200).utf8).write(to: url)
            let error = try #require(throws: AudioDecodingError.self) { try AudioDecoder().decode(url) }
            guard case .notAudio(let path, _) = error else {
                Issue.record("\(name): expected notAudio, got \(error)")
                continue
            }
            #expect(path == url.path)
            #expect(error.description.hasPrefix(url.path))
        }
    }

    /// libsndfile keeps the last open error in one process-wide string; decoding bad files on many threads at
    /// once must still give each file its own reason, the one it gets alone.
    @Test func parallelFailuresKeepTheirOwnReasons() throws {
        let dir = try TemporaryDirectory()
        let x = Signals.chirp(from: 100, to: 5_000, seconds: 1, sampleRate: 22_050)
        let wav = dir.path("source.wav")
        try AudioFileWriter.write(x, sampleRate: 22_050, format: .wav16, to: wav)
        var files: [URL] = []
        for i in 0..<8 {
            let text = dir.path("text\(i).ogg"), header = dir.path("header\(i).wav"), garbage = dir.path("garbage\(i).flac")
            try Data(String(repeating: "not audio ", count: 100).utf8).write(to: text)
            try Data(contentsOf: wav).prefix(20).write(to: header)
            try (Data("fLaC".utf8) + Data((0..<4_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) })).write(to: garbage)
            files += [text, header, garbage]
        }
        @Sendable func reason(_ url: URL) -> String {
            do {
                _ = try AudioDecoder().decode(url)
                return "decoded"
            } catch {
                return error.description
            }
        }
        let alone = files.map(reason)
        #expect(Set(alone.map { $0.replacingOccurrences(of: #"\d"#, with: "", options: .regularExpression) }).count >= 2,
                "the bad files should fail in different ways: \(alone)")
        let inputs = files
        let together = Mutex([String](repeating: "", count: files.count * 10))
        DispatchQueue.concurrentPerform(iterations: inputs.count * 10) { i in
            let r = reason(inputs[i % inputs.count])
            together.withLock { $0[i] = r }
        }
        let results = together.withLock { $0 }
        for i in 0..<(files.count * 10) {
            #expect(results[i] == alone[i % files.count])
        }
    }

    @Test func truncatedFiles() throws {
        let dir = try TemporaryDirectory()
        let x = Signals.chirp(from: 100, to: 5_000, seconds: 1, sampleRate: 22_050)
        // A WAV cut inside its header is not audio.
        let wav = dir.path("full.wav")
        try AudioFileWriter.write(x, sampleRate: 22_050, format: .wav16, to: wav)
        let data = try Data(contentsOf: wav)
        let headerOnly = dir.path("header.wav")
        try data.prefix(20).write(to: headerOnly)
        let e1 = try #require(throws: AudioDecodingError.self) { try AudioDecoder().decode(headerOnly) }
        #expect(e1.path == headerOnly.path)
        // A WAV cut inside its data decodes the frames that are there (libsndfile trusts the file size).
        let half = dir.path("half.wav")
        try data.prefix(44 + 2 * 10_000).write(to: half)
        let decoded = try AudioDecoder().decode(half)
        #expect(decoded.samples.count == 10_000)
        #expect(Approx.maxAbsDifference(decoded.samples, Array(x[0..<10_000])) < 1e-4)
        // A compressed stream cut in the middle either yields its whole frames or a readFailed error naming the file.
        for format in [AudioFileFormat.flac16, .oggVorbis, .mp3] {
            let url = dir.path("full.\(format.fileExtension)")
            try AudioFileWriter.write(x, sampleRate: 22_050, format: format, to: url)
            let bytes = try Data(contentsOf: url)
            let cut = dir.path("cut.\(format.fileExtension)")
            try bytes.prefix(bytes.count / 2).write(to: cut)
            do {
                let partial = try AudioDecoder().decode(cut)
                #expect(partial.samples.count < x.count, "\(format)")
                #expect(partial.samples.allSatisfy { $0.isFinite })
            } catch {
                #expect(error.path == cut.path, "\(format): \(error)")
            }
        }
    }

    @Test func zeroChannels() throws {
        // A canonical 44-byte WAV header with the channel count set to 0.
        var header = Data("RIFF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        u32(36 + 400)
        header.append(contentsOf: Array("WAVEfmt ".utf8))
        u32(16); u16(1); u16(0); u32(22_050); u32(0); u16(0); u16(16)
        header.append(contentsOf: Array("data".utf8))
        u32(400)
        header.append(Data(count: 400))
        let dir = try TemporaryDirectory()
        let url = dir.path("nochannels.wav")
        try header.write(to: url)
        let error = try #require(throws: AudioDecodingError.self) { try AudioDecoder().decode(url) }
        #expect(error == .noChannels(path: url.path))
        #expect(error.description.contains(url.path))
    }

    @Test("NaN and infinite samples are rejected with their position", arguments: [Float.nan, .infinity, -.infinity, 1e9])
    func invalidSamples(_ value: Float) throws {
        let dir = try TemporaryDirectory()
        var x = Signals.sine(frequency: 440, seconds: 1, sampleRate: 44_100)
        x[22_050] = value
        let url = dir.path("bad.wav")
        try AudioFileWriter.write(x, sampleRate: 44_100, format: .wavFloat, to: url)
        let error = try #require(throws: AudioDecodingError.self) { try AudioDecoder().decode(url) }
        #expect(error == .invalidSamples(path: url.path, atSecond: 0.5))
        #expect(error.description.contains("0.5 s") && error.description.contains(url.path))
    }

    @Test func silenceShortAndEmptyAreDefined() throws {
        let dir = try TemporaryDirectory()
        let silent = dir.path("silent.flac")
        try AudioFileWriter.write([Float](repeating: 0, count: 44_100), sampleRate: 44_100, format: .flac16, to: silent)
        let s = try AudioDecoder().decode(silent)
        #expect(s.samples.count == 22_050 && s.samples.allSatisfy { $0 == 0 })

        let short = dir.path("short.wav")
        try AudioFileWriter.write(Array(Signals.sine(frequency: 440, seconds: 1, sampleRate: 44_100)[0..<221]),
                                  sampleRate: 44_100, format: .wav16, to: short)
        #expect(try AudioDecoder().decode(short).samples.count == 111)  // ceil(221 / 2)

        let empty = dir.path("noframes.wav")
        try AudioFileWriter.write([], sampleRate: 44_100, format: .wav16, to: empty)
        let e = try AudioDecoder().decode(empty)
        #expect(e.samples.isEmpty && e.info.frames == 0)
    }

    @Test func unsupportedWriteIsATypedError() throws {
        let dir = try TemporaryDirectory()
        #expect(throws: AudioDecodingError.self) {
            try AudioFileWriter.write([0], sampleRate: 44_100, format: .opus, to: dir.path("x.opus"))
        }
    }
}

/// FLAC decoded by libFLAC directly must give exactly what the libsndfile path gives.
@Suite struct DirectFLACTests {
    static func decoders(rate: Int) -> (direct: AudioDecoder, viaSndFile: AudioDecoder) {
        var viaSndFile = AudioDecoder(targetSampleRate: rate)
        viaSndFile.decodesFLACDirectly = false
        return (AudioDecoder(targetSampleRate: rate), viaSndFile)
    }

    /// Every channel layout and both sample sizes, at the native rate (the mix itself) and resampled.
    @Test(arguments: [(AudioFileFormat.flac16, 1), (.flac16, 2), (.flac16, 3), (.flac16, 6), (.flac24, 1),
                      (.flac24, 2), (.flac24, 5)])
    func sameSamplesAsLibsndfile(_ format: AudioFileFormat, _ channels: Int) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-direct-flac")
        let url = dir.path("x.flac")
        let frames = 30_000
        var samples = [Float](repeating: 0, count: frames * channels)
        for c in 0..<channels {
            let x = Signals.whiteNoise(seconds: Double(frames) / 44_100, sampleRate: 44_100, amplitude: 0.45,
                                       seed: UInt64(c + 1))
            let tone = Signals.sine(frequency: 220 * Double(c + 1), seconds: Double(frames) / 44_100,
                                    sampleRate: 44_100, amplitude: 0.4)
            for t in 0..<frames { samples[t * channels + c] = x[t] + tone[t] }
        }
        try AudioFileWriter.write(samples, channels: channels, sampleRate: 44_100, format: format, to: url)
        // The direct path must really be taken, or this test would compare libsndfile with itself.
        #expect(FLACStream.make(path: url.path, info: try AudioDecoder().info(of: url)) != nil)
        for rate in [44_100, 22_050] {
            let (direct, viaSndFile) = Self.decoders(rate: rate)
            let ours = try direct.decode(url), reference = try viaSndFile.decode(url)
            #expect(ours.info == reference.info)
            #expect(ours.samples.count == reference.samples.count)
            #expect(ours.samples == reference.samples, "\(format) \(channels) ch at \(rate) Hz")
            // Small blocks and an early stop cross frame boundaries at odd places.
            var streamed: [Float] = []
            try direct.stream(url, blockFrames: 1_000, maxSeconds: 0.5) { streamed += $0 }
            let expected = try viaSndFile.decode(url, maxSeconds: 0.5).samples
            #expect(streamed == expected)
        }
    }

    /// A FLAC cut short or damaged in the middle: whole frames that are a prefix of the intact decode, or a
    /// `readFailed` naming the file; never made-up samples. Random damage anywhere never crashes.
    @Test func damagedFilesFailOrGiveAPrefix() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-direct-flac-bad")
        let url = dir.path("full.flac")
        try AudioFileWriter.write(Signals.chirp(from: 100, to: 8_000, seconds: 2, sampleRate: 44_100),
                                  sampleRate: 44_100, format: .flac16, to: url)
        let (direct, _) = Self.decoders(rate: 44_100)
        let full = try direct.decode(url).samples
        let bytes = try Data(contentsOf: url)
        var generator = SeededGenerator(seed: 5)
        for trial in 0..<12 {
            var damaged = bytes
            if trial % 2 == 0 {
                damaged = damaged.prefix(Int.random(in: 200..<bytes.count, using: &generator))
            } else {
                for _ in 0..<4 {
                    let i = Int.random(in: (bytes.count / 4)..<bytes.count, using: &generator)
                    damaged[i] ^= UInt8.random(in: 1...255, using: &generator)
                }
            }
            let cut = dir.path("damaged\(trial).flac")
            try damaged.write(to: cut)
            do {
                let samples = try direct.decode(cut).samples
                #expect(samples.count <= full.count)
                #expect(Array(full.prefix(samples.count)) == samples || samples.count == full.count,
                        "trial \(trial)")
                #expect(samples.allSatisfy { $0.isFinite })
            } catch {
                #expect(error.path == cut.path)
                if case .readFailed = error {} else if trial % 2 == 1 { Issue.record("trial \(trial): \(error)") }
            }
        }
        // Bytes changed anywhere after the "fLaC" marker, STREAMINFO and frame headers included: an error or
        // finite samples, never a crash, whole or streamed.
        for trial in 0..<150 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let i = Int.random(in: 4..<min(bytes.count, trial % 3 == 0 ? 120 : bytes.count), using: &generator)
                damaged[i] = UInt8.random(in: 0...255, using: &generator)
            }
            let url = dir.path("mutated.flac")
            try damaged.write(to: url)
            if let samples = try? direct.decode(url).samples { #expect(samples.allSatisfy { $0.isFinite }) }
            try? direct.stream(url, blockFrames: 777) { block in #expect(block.allSatisfy { $0.isFinite }) }
        }
    }
}
