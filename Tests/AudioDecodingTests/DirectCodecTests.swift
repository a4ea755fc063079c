@testable import AudioDecoding
import Foundation
import TestSupport
import Testing

/// MP3 decoded by libmpg123 directly (`MP3Stream`) gives libsndfile's samples, and all of them even where
/// libsndfile stops early at libmpg123's length estimate (a VBR stream without a Xing/Info header).
@Suite struct DirectMP3Tests {
    static func decoders(rate: Int = 22_050) -> (direct: AudioDecoder, viaSndFile: AudioDecoder) {
        var viaSndFile = AudioDecoder(targetSampleRate: rate)
        viaSndFile.decodesToTheEndDirectly = false
        return (AudioDecoder(targetSampleRate: rate), viaSndFile)
    }

    @Test(arguments: [(1, 44_100), (2, 44_100), (2, 22_050), (1, 16_000)])
    func sameSamplesAsLibsndfile(_ channels: Int, _ rate: Int) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-direct-mp3")
        let frames = Int(2.5 * Double(rate))
        let tone = Signals.chirp(from: 150, to: 3_000, seconds: 2.5, sampleRate: rate, amplitude: 0.4)
        let noise = Signals.whiteNoise(seconds: 2.5, sampleRate: rate, amplitude: 0.1, seed: 3)
        let samples = channels == 1 ? tone : interleave(tone, Array(noise.prefix(frames)))
        let url = dir.path("x.mp3")
        try AudioFileWriter.write(samples, channels: channels, sampleRate: rate, format: .mp3, to: url)
        let info = try AudioDecoder().info(of: url)
        #expect(MP3Stream.make(path: url.path, info: info) != nil, "the direct path must really be taken")
        for target in [rate, 22_050] {
            let (direct, viaSndFile) = Self.decoders(rate: target)
            let ours = try direct.decode(url), reference = try viaSndFile.decode(url)
            #expect(ours.info == reference.info)
            #expect(ours.samples == reference.samples, "\(channels) ch at \(rate) Hz → \(target) Hz")
            var streamed: [Float] = []
            try direct.stream(url, blockFrames: 1_000) { streamed += $0 }
            #expect(streamed == ours.samples)
        }
    }

    /// MPEG audio frames of a file: (offset, length) of each, found by walking frame headers from the first sync.
    static func frames(_ bytes: [UInt8]) -> [Range<Int>] {
        let rates1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
        let rates2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
        var at = bytes.firstIndex(of: 0xFF) ?? bytes.count
        var result: [Range<Int>] = []
        while at + 4 <= bytes.count, bytes[at] == 0xFF, bytes[at + 1] & 0xE0 == 0xE0 {
            let version = (bytes[at + 1] >> 3) & 3, layer = (bytes[at + 1] >> 1) & 3
            let bitrateIndex = Int(bytes[at + 2] >> 4), rateIndex = Int((bytes[at + 2] >> 2) & 3)
            guard layer == 1, (1...14).contains(bitrateIndex), rateIndex < 3 else { break }
            let mpeg1 = version == 3
            let rate = [[11_025, 12_000, 8_000], [0, 0, 0], [22_050, 24_000, 16_000], [44_100, 48_000, 32_000]][Int(version)][rateIndex]
            let bitrate = (mpeg1 ? rates1 : rates2)[bitrateIndex] * 1_000
            let length = (mpeg1 ? 144 : 72) * bitrate / rate + Int((bytes[at + 2] >> 1) & 1)
            result.append(at..<min(at + length, bytes.count))
            at += length
        }
        return result
    }

    /// One 320 kb/s frame in front of a 32 kb/s stream, no Xing/Info header: libmpg123 estimates the length from
    /// the first frame (a tenth of the truth) and libsndfile stops there; the direct path decodes every frame.
    @Test func vbrWithoutXingHeaderIsDecodedToTheEnd() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-mp3-noxing")
        let rate = 44_100, seconds = 8.0
        var parts: [[Range<Int>]] = [], files: [[UInt8]] = []
        for (name, level) in [("high", 0.0), ("low", 1.0)] {
            let url = dir.path("\(name).mp3")
            let writer = try AudioFileWriter(url: url, format: .mp3, sampleRate: rate, channels: 1)
            try #require(try writer.setConstantBitrate(compressionLevel: level))
            try writer.write(Signals.chirp(from: 200, to: 4_000, seconds: seconds, sampleRate: rate, amplitude: 0.4))
            writer.close()
            let bytes = [UInt8](try Data(contentsOf: url))
            let frames = Self.frames(bytes)
            try #require(frames.count > 100, "\(name): \(frames.count) frames parsed")
            files.append(bytes)
            parts.append(frames)
        }
        // Drop each file's first frame (its Xing/Info header) and put one high-rate frame before the low-rate ones.
        var crafted = Array(files[0][parts[0][1]])
        for frame in parts[1].dropFirst() { crafted += files[1][frame] }
        let mpegFrames = parts[1].count  // the high-rate frame plus the low-rate file's audio frames
        let url = dir.path("no-xing.mp3")
        try Data(crafted).write(to: url)

        let (direct, viaSndFile) = Self.decoders(rate: rate)
        let header = try direct.info(of: url)
        let ours = try direct.decode(url)
        let truth = Int64(mpegFrames * 1_152)
        #expect(header.frames < truth / 2, "the estimate should be far too short here: \(header.frames) of \(truth)")
        #expect(abs(ours.info.frames - truth) <= 1_152, "decoded \(ours.info.frames) frames of \(truth)")
        #expect(ours.samples.count == Int(ours.info.frames))
        // libsndfile stops at the estimate; up to there the two paths agree sample for sample.
        let reference = try viaSndFile.decode(url)
        #expect(reference.samples.count < ours.samples.count / 2)
        #expect(Array(ours.samples.prefix(reference.samples.count)) == reference.samples)
    }
}

/// OGG/Vorbis decoded by libvorbisfile directly (`VorbisStream`) gives libsndfile's samples, and all of them
/// even where libsndfile stops early at the last page's granule position.
@Suite struct DirectVorbisTests {
    @Test(arguments: [(1, 44_100), (2, 44_100), (2, 22_050), (1, 8_000)])
    func sameSamplesAsLibsndfile(_ channels: Int, _ rate: Int) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-direct-vorbis")
        let tone = Signals.chirp(from: 150, to: 3_000, seconds: 2.5, sampleRate: rate, amplitude: 0.4)
        let noise = Signals.whiteNoise(seconds: 2.5, sampleRate: rate, amplitude: 0.1, seed: 4)
        let url = dir.path("x.ogg")
        try AudioFileWriter.write(channels == 1 ? tone : interleave(tone, Array(noise.prefix(tone.count))),
                                  channels: channels, sampleRate: rate, format: .oggVorbis, to: url)
        #expect(VorbisStream.make(path: url.path, info: try AudioDecoder().info(of: url)) != nil)
        for target in [rate, 22_050] {
            let (direct, viaSndFile) = DirectMP3Tests.decoders(rate: target)
            let ours = try direct.decode(url), reference = try viaSndFile.decode(url)
            #expect(ours.info == reference.info)
            #expect(ours.samples == reference.samples, "\(channels) ch at \(rate) Hz → \(target) Hz")
            var streamed: [Float] = []
            try direct.stream(url, blockFrames: 1_000) { streamed += $0 }
            #expect(streamed == ours.samples)
        }
    }

    /// The CRC of an OGG page (polynomial 0x04C11DB7, no reflection, over the page with its CRC field zeroed).
    static func oggCRC(_ page: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0
        for byte in page {
            crc ^= UInt32(byte) << 24
            for _ in 0..<8 { crc = crc & 0x8000_0000 != 0 ? (crc << 1) ^ 0x04C1_1DB7 : crc << 1 }
        }
        return crc
    }

    /// The last page's granule position set to a quarter of the truth (CRC repaired): libsndfile stops there,
    /// the direct path decodes every page.
    @Test func lyingLastGranuleIsDecodedToTheEnd() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-vorbis-granule")
        let rate = 44_100
        let url = dir.path("x.ogg")
        try AudioFileWriter.write(Signals.chirp(from: 200, to: 5_000, seconds: 6, sampleRate: rate, amplitude: 0.4),
                                  sampleRate: rate, format: .oggVorbis, to: url)
        var bytes = [UInt8](try Data(contentsOf: url))
        let last = try #require((0...(bytes.count - 27)).last { bytes[$0..<($0 + 4)].elementsEqual("OggS".utf8) })
        let granule = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[last + 6 + $1]) << (8 * UInt64($1)) }
        try #require(granule == UInt64(6 * rate))
        for i in 0..<8 { bytes[last + 6 + i] = UInt8(truncatingIfNeeded: (granule / 4) >> (8 * UInt64(i))) }
        for i in 0..<4 { bytes[last + 22 + i] = 0 }
        let crc = Self.oggCRC(bytes[last...])
        for i in 0..<4 { bytes[last + 22 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        let lying = dir.path("lying.ogg")
        try Data(bytes).write(to: lying)

        let (direct, viaSndFile) = DirectMP3Tests.decoders(rate: rate)
        let intact = try direct.decode(url)
        #expect(try direct.info(of: lying).frames == Int64(granule / 4), "libsndfile should take the lie")
        let ours = try direct.decode(lying)
        // The last page ends where its granule says, so its own samples may be trimmed: at most a page short.
        #expect(ours.info.frames > intact.info.frames - 4_096 && ours.info.frames <= intact.info.frames,
                "decoded \(ours.info.frames) of \(intact.info.frames) frames")
        #expect(Array(ours.samples.prefix(Int(ours.info.frames) - 4_096)) == Array(intact.samples.prefix(Int(ours.info.frames) - 4_096)))
        let reference = try viaSndFile.decode(lying)
        #expect(reference.samples.count <= Int(granule / 4))
    }
}

/// Opus decoded by libopusfile directly (`OpusStream`) gives libsndfile's samples, and all of them even where
/// libsndfile stops early at the last page's granule position.
@Suite struct DirectOpusTests {
    @Test(arguments: [1, 2])
    func sameSamplesAsLibsndfile(_ channels: Int) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-direct-opus")
        let tone = Signals.chirp(from: 150, to: 3_000, seconds: 2.5, sampleRate: 48_000, amplitude: 0.4)
        let noise = Signals.whiteNoise(seconds: 2.5, sampleRate: 48_000, amplitude: 0.1, seed: 5)
        let url = dir.path("x.opus")
        try AudioFileWriter.write(channels == 1 ? tone : interleave(tone, Array(noise.prefix(tone.count))),
                                  channels: channels, sampleRate: 48_000, format: .opus, to: url)
        #expect(OpusStream.make(path: url.path, info: try AudioDecoder().info(of: url)) != nil)
        #expect(OggOpusStream.make(path: url.path, info: try AudioDecoder().info(of: url)) != nil)
        for target in [48_000, 22_050] {
            let (direct, viaSndFile) = DirectMP3Tests.decoders(rate: target)
            let ours = try direct.decode(url), reference = try viaSndFile.decode(url)
            #expect(ours.info == reference.info)
            #expect(ours.samples == reference.samples, "\(channels) ch → \(target) Hz")
            var streamed: [Float] = []
            try direct.stream(url, blockFrames: 1_000) { streamed += $0 }
            #expect(streamed == ours.samples)
        }
    }

    @Test func lyingLastGranuleIsDecodedToTheEnd() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-opus-granule")
        let url = dir.path("x.opus")
        try AudioFileWriter.write(Signals.chirp(from: 200, to: 5_000, seconds: 6, sampleRate: 48_000, amplitude: 0.4),
                                  sampleRate: 48_000, format: .opus, to: url)
        var bytes = [UInt8](try Data(contentsOf: url))
        let last = try #require((0...(bytes.count - 27)).last { bytes[$0..<($0 + 4)].elementsEqual("OggS".utf8) })
        let granule = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[last + 6 + $1]) << (8 * UInt64($1)) }
        let lie = granule / 4
        for i in 0..<8 { bytes[last + 6 + i] = UInt8(truncatingIfNeeded: lie >> (8 * UInt64(i))) }
        for i in 0..<4 { bytes[last + 22 + i] = 0 }
        let crc = DirectVorbisTests.oggCRC(bytes[last...])
        for i in 0..<4 { bytes[last + 22 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        let lying = dir.path("lying.opus")
        try Data(bytes).write(to: lying)

        let (direct, viaSndFile) = DirectMP3Tests.decoders(rate: 48_000)
        let intact = try direct.decode(url)
        #expect(try direct.info(of: lying).frames < intact.info.frames / 2, "libsndfile should take the lie")
        let ours = try direct.decode(lying)
        // The last page ends where its granule says, so its own samples may be trimmed: at most a page short.
        #expect(ours.info.frames > intact.info.frames - 48_000 && ours.info.frames <= intact.info.frames,
                "decoded \(ours.info.frames) of \(intact.info.frames) frames")
        let n = Int(ours.info.frames) - 48_000
        #expect(Array(ours.samples.prefix(n)) == Array(intact.samples.prefix(n)))
        #expect(try viaSndFile.decode(lying).samples.count < intact.samples.count / 2)
    }
}

/// Our Ogg Opus reader (libogg + libopus's single-stream decoder, `OggOpusStream`) gives libopusfile's samples
/// (`OpusStream`) bit for bit: plain files, a chained file (two links, each with its own pre-skip), a file whose
/// last granule position lies, a truncated file; and it leaves what it does not read (a start offset) to
/// libopusfile.
@Suite struct OggOpusStreamTests {
    static func readAll(_ stream: any InterleavedFloatStream, channels: Int) throws -> [Float] {
        var out: [Float] = []
        var block = [Float](repeating: 0, count: 1_234 * channels)
        var frames: Int64 = 0
        while true {
            let got = try block.withUnsafeMutableBufferPointer {
                try stream.read(into: $0.baseAddress!, count: 1_234, startFrame: frames)
            }
            if got == 0 { return out }
            out += block.prefix(got * channels)
            frames += Int64(got)
        }
    }

    static func bothReaders(_ url: URL) throws -> (ours: [Float], opusfile: [Float]) {
        let info = try AudioDecoder().info(of: url)
        let ours = try #require(OggOpusStream.make(path: url.path, info: info))
        let reference = try #require(OpusStream.make(path: url.path, info: info))
        return (try readAll(ours, channels: info.channels), try readAll(reference, channels: info.channels))
    }

    @Test(arguments: [1, 2])
    func plainAndChainedFilesMatchLibopusfile(_ channels: Int) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-ogg-opus")
        func write(_ name: String, seconds: Double, from: Double) throws -> URL {
            let tone = Signals.chirp(from: from, to: 4_000, seconds: seconds, sampleRate: 48_000, amplitude: 0.5)
            let noise = Signals.whiteNoise(seconds: seconds, sampleRate: 48_000, amplitude: 0.1, seed: 9)
            let url = dir.path(name)
            try AudioFileWriter.write(
                channels == 1 ? tone : interleave(tone, Array(noise.prefix(tone.count))), channels: channels,
                sampleRate: 48_000, format: .opus, to: url)
            return url
        }
        let a = try write("a.opus", seconds: 3.3, from: 100), b = try write("b.opus", seconds: 1.7, from: 900)
        let (oursA, referenceA) = try Self.bothReaders(a)
        #expect(!oursA.isEmpty && oursA == referenceA)
        // Two links one after the other (`cat a.opus b.opus`): each link's pre-skip and end trim apply.
        let chained = dir.path("chained.opus")
        try Data(try Data(contentsOf: a) + Data(contentsOf: b)).write(to: chained)
        let (oursChain, referenceChain) = try Self.bothReaders(chained)
        let (oursB, _) = try Self.bothReaders(b)
        #expect(oursChain == referenceChain)
        #expect(oursChain == oursA + oursB)
        // Cut mid-file: both stop at the last whole page, with the same samples.
        let bytes = try Data(contentsOf: a)
        let cut = dir.path("cut.opus")
        try bytes.prefix(bytes.count * 2 / 3).write(to: cut)
        let (oursCut, referenceCut) = try Self.bothReaders(cut)
        #expect(!oursCut.isEmpty && oursCut == referenceCut)
    }
}
