@testable import AudioDecoding
import Foundation
import TestSupport
import Testing

/// Lengths come from the samples decoded, never from a header a damaged file can fake (issue 11, defect 2):
/// bytes appended after the audio (an ID3v1 tag, one junk byte), truncation, and a FLAC STREAMINFO whose
/// total-samples field lies in either direction. Every case must deliver all the audio that is there and report
/// exactly that much.
@Suite struct DamagedLengthTests {
    /// How a file is damaged.
    enum Damage: String, CaseIterable, CustomStringConvertible, Sendable {
        case id3v1Tag, junkByte, truncated
        var description: String { rawValue }

        func apply(to bytes: Data) -> Data {
            switch self {
            case .id3v1Tag:
                // "TAG", title, artist, album (30 bytes each), year, comment, genre: 128 bytes.
                var tag = Data("TAG".utf8)
                for field in ["Tagged copy", "Someone", "Some album"] {
                    tag += Data(field.utf8) + Data(count: 30 - field.utf8.count)
                }
                tag += Data("2026".utf8) + Data(count: 30) + Data([12])
                return bytes + tag
            case .junkByte: return bytes + Data([0x5A])
            case .truncated: return bytes.prefix(bytes.count * 6 / 10)
            }
        }
    }

    /// A 12-second stereo test file, its decode, and the sample rate it was written at.
    static func original(_ format: AudioFileFormat, in dir: TemporaryDirectory) throws -> (URL, DecodedAudio) {
        let rate = format == .opus ? 48_000 : 44_100
        let seconds = 12.0
        let left = Signals.chirp(from: 200, to: 6_000, seconds: seconds, sampleRate: rate, amplitude: 0.4)
        let right = Signals.sine(frequency: 330, seconds: seconds, sampleRate: rate, amplitude: 0.3)
        let url = dir.path("original.\(format.fileExtension)")
        try AudioFileWriter.write(interleave(left, right), channels: 2, sampleRate: rate, format: format, to: url)
        let decoded = try AudioDecoder().decode(url)
        #expect(abs(decoded.info.duration - seconds) < 0.1, "\(format): the intact file decodes to \(decoded.info.duration) s")
        return (url, decoded)
    }

    @Test("a damaged file reports the length it decodes to, and delivers all of it",
          arguments: [AudioFileFormat.oggVorbis, .opus, .mp3, .flac16], Damage.allCases)
    func decodedLength(_ format: AudioFileFormat, _ damage: Damage) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-damaged-length")
        let (url, intact) = try Self.original(format, in: dir)
        let damaged = dir.path("damaged.\(format.fileExtension)")
        try damage.apply(to: Data(contentsOf: url)).write(to: damaged)
        let decoder = AudioDecoder()
        let decoded = try decoder.decode(damaged)
        // The length reported is the length decoded, to the native frame...
        let seconds = Double(decoded.samples.count) / Double(decoded.sampleRate)
        #expect(abs(decoded.info.duration - seconds) < 1.0 / 22_050 + 1e-9, "\(format) \(damage)")
        #expect(decoded.info.frames == Int64((decoded.info.duration * Double(decoded.info.sampleRate)).rounded()))
        // ... and streaming reports the same.
        var streamed = 0
        let info = try decoder.stream(damaged, blockFrames: 4_096) { streamed += $0.count }
        #expect(info.frames == decoded.info.frames && streamed == decoded.samples.count, "\(format) \(damage)")
        switch damage {
        case .id3v1Tag, .junkByte:
            // Bytes after the audio change nothing: every sample of the intact file, and its length.
            #expect(decoded.info.frames == intact.info.frames, "\(format) \(damage): \(decoded.info.duration) s")
            #expect(decoded.samples == intact.samples, "\(format) \(damage)")
        case .truncated:
            // 60 % of the bytes: about 60 % of the audio (whole frames or pages), a prefix of the intact decode.
            let share = decoded.info.duration / intact.info.duration
            #expect(share > 0.4 && share < 0.8, "\(format) truncated: \(decoded.info.duration) s of \(intact.info.duration) s")
            let n = max(0, decoded.samples.count - 2_000)  // away from the resampler's look-ahead at the cut
            #expect(Approx.maxAbsDifference(Array(decoded.samples[0..<n]), Array(intact.samples[0..<n])) < 1e-4,
                    "\(format) truncated: not a prefix of the intact decode")
        }
    }

    /// STREAMINFO's 36-bit total-samples field (bytes 8 + 13 … 8 + 17 of a file that starts with "fLaC" and a
    /// STREAMINFO block, as libFLAC writes them), set to `value`.
    static func settingTotalSamples(_ bytes: Data, to value: UInt64) -> Data {
        var b = bytes
        let at = b.startIndex + 8 + 13
        b[at] = (b[at] & 0xF0) | UInt8((value >> 32) & 0x0F)
        for i in 0..<4 { b[at + 1 + i] = UInt8((value >> (24 - 8 * UInt64(i))) & 0xFF) }
        return b
    }

    /// A FLAC whose STREAMINFO claims days, a quarter of its samples, or "unknown" (0), alone or with a tag
    /// appended: all the frames are decoded and the length is theirs, by our frame decoder and by libFLAC.
    @Test("FLAC with a lying STREAMINFO total decodes all its frames",
          arguments: [UInt64(44_100) * 86_400 * 3, 0, 1], [false, true])
    func flacTotalSamplesLie(_ claim: UInt64, _ tagged: Bool) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-flac-total")
        let (url, intact) = try Self.original(.flac16, in: dir)
        let bytes = try Data(contentsOf: url)
        try #require(bytes.prefix(4) == Data("fLaC".utf8) && bytes[bytes.startIndex + 4] & 0x7F == 0)
        // 1 stands for "a quarter of the real total".
        let value = claim == 1 ? UInt64(intact.info.frames / 4) : claim
        var damaged = Self.settingTotalSamples(bytes, to: value)
        if tagged { damaged = Damage.id3v1Tag.apply(to: damaged) }
        let path = dir.path("lying.flac")
        try damaged.write(to: path)
        for fast in [true, false] {
            var decoder = AudioDecoder()
            decoder.decodesFLACFast = fast
            let decoded = try decoder.decode(path)
            let label = "claim \(value), tagged \(tagged), \(fast ? "ours" : "libFLAC")"
            #expect(decoded.info.frames == intact.info.frames, "\(label): \(decoded.info.duration) s")
            #expect(decoded.samples == intact.samples, "\(label)")
        }
    }

    /// Damage in the middle of a FLAC followed by good frames is still an error naming the file (only bytes after
    /// the last frame end a stream quietly).
    @Test func flacDamageBeforeMoreFramesStillFails() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-flac-middle")
        let (url, _) = try Self.original(.flac16, in: dir)
        var bytes = try Data(contentsOf: url)
        let middle = bytes.startIndex + bytes.count / 2
        for i in 0..<64 { bytes[middle + i] ^= 0xA5 }
        let path = dir.path("hole.flac")
        try bytes.write(to: path)
        for fast in [true, false] {
            var decoder = AudioDecoder()
            decoder.decodesFLACFast = fast
            let error = try #require(throws: AudioDecodingError.self) { try decoder.decode(path) }
            guard case .readFailed(let p, _, _) = error else {
                Issue.record("expected readFailed, got \(error)")
                continue
            }
            #expect(p == path.path)
        }
    }
}
