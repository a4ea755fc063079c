@testable import AudioDecoding
import CFLAC
import CFLACDecoder
import Foundation
import TestSupport
import Testing

/// Our FLAC frame decoder (`CFLACDecoder`) against libFLAC: per channel on files libFLAC's own encoder writes
/// across sample sizes, channel counts, rates, block sizes and encoder settings, on hand-made streams with
/// variable block sizes and escape-coded residuals (which libFLAC's encoder never writes), and through
/// `FLACStream`/`AudioDecoder` on intact and damaged files, where the result must be what libFLAC alone gives.
@Suite struct FastFLACTests {
    // MARK: - Writing test streams

    struct EncoderSettings: CustomStringConvertible, Sendable {
        var level: UInt32 = 5
        var blockSize: UInt32? = nil
        var maxLPCOrder: UInt32? = nil
        var exhaustive = false
        var qlpPrecision: UInt32? = nil
        var midSide: Bool? = nil
        var description: String {
            "level \(level) block \(blockSize.map(String.init) ?? "-") lpc \(maxLPCOrder.map(String.init) ?? "-")"
                + "\(exhaustive ? " exhaustive" : "") qlp \(qlpPrecision.map(String.init) ?? "-")"
        }
    }

    /// Writes interleaved samples with libFLAC's encoder (non-subset settings allowed).
    static func encode(_ samples: [Int32], channels: Int, bits: Int, rate: Int, to url: URL,
                       _ settings: EncoderSettings = EncoderSettings()) throws {
        let encoder = try #require(FLAC__stream_encoder_new())
        defer { FLAC__stream_encoder_delete(encoder) }
        FLAC__stream_encoder_set_streamable_subset(encoder, 0)
        FLAC__stream_encoder_set_channels(encoder, UInt32(channels))
        FLAC__stream_encoder_set_bits_per_sample(encoder, UInt32(bits))
        FLAC__stream_encoder_set_sample_rate(encoder, UInt32(rate))
        FLAC__stream_encoder_set_compression_level(encoder, settings.level)
        if let b = settings.blockSize { FLAC__stream_encoder_set_blocksize(encoder, b) }
        if let o = settings.maxLPCOrder { FLAC__stream_encoder_set_max_lpc_order(encoder, o) }
        if settings.exhaustive { FLAC__stream_encoder_set_do_exhaustive_model_search(encoder, 1) }
        if let q = settings.qlpPrecision { FLAC__stream_encoder_set_qlp_coeff_precision(encoder, q) }
        if let m = settings.midSide, channels == 2 {
            FLAC__stream_encoder_set_do_mid_side_stereo(encoder, m ? 1 : 0)
            FLAC__stream_encoder_set_loose_mid_side_stereo(encoder, 0)
        }
        let frames = samples.count / channels
        FLAC__stream_encoder_set_total_samples_estimate(encoder, UInt64(frames))
        try #require(FLAC__stream_encoder_init_file(encoder, url.path, nil, nil) == FLAC__STREAM_ENCODER_INIT_STATUS_OK)
        let ok = samples.withUnsafeBufferPointer {
            FLAC__stream_encoder_process_interleaved(encoder, $0.baseAddress, UInt32(frames))
        }
        try #require(ok != 0)
        try #require(FLAC__stream_encoder_finish(encoder) != 0)
    }

    /// Music-like integer test signal: partials, a click train and noise, near full scale, with `wasted` low
    /// bits zero; channels are correlated so that every stereo mode has something to gain.
    static func signal(frames: Int, channels: Int, bits: Int, seed: UInt64, noise: Double = 0.01,
                       wasted: Int = 0) -> [Int32] {
        var generator = SeededGenerator(seed: seed)
        let full = Double(1 << (bits - 1)) - 1
        var out = [Int32](repeating: 0, count: frames * channels)
        for t in 0..<frames {
            let x = Double(t)
            let common = 0.45 * sin(x * 0.031) + 0.2 * sin(x * 0.0071 + 1) + (t % 997 < 3 ? 0.25 : 0)
            for c in 0..<channels {
                let own = 0.1 * sin(x * 0.013 * Double(c + 1)) + noise * Double(generator.nextGaussian())
                var v = Int32(max(-full - 1, min(full, (common * (1 - 0.2 * Double(c)) + own) * full)))
                if wasted > 0 { v = (v >> Int32(wasted)) << Int32(wasted) }
                out[t * channels + c] = v
            }
        }
        return out
    }

    // MARK: - Reading

    /// What libFLAC decodes: per-channel samples of every frame, up to STREAMINFO's total, and whether it
    /// reported an error.
    final class LibFLACResult {
        var channels: [[Int32]] = []
        var blockSizes: [Int] = []
        var total: UInt64 = 0
        var failed = false
    }

    static func libFLAC(_ url: URL) throws -> LibFLACResult {
        let result = LibFLACResult()
        let decoder = try #require(FLAC__stream_decoder_new())
        defer { FLAC__stream_decoder_delete(decoder) }
        let context = Unmanaged.passUnretained(result).toOpaque()
        let write: FLAC__StreamDecoderWriteCallback = { _, frame, buffer, data in
            let r = Unmanaged<LibFLACResult>.fromOpaque(data!).takeUnretainedValue()
            let header = frame!.pointee.header
            if r.channels.isEmpty { r.channels = Array(repeating: [], count: Int(header.channels)) }
            r.blockSizes.append(Int(header.blocksize))
            for c in 0..<Int(header.channels) {
                r.channels[c].append(contentsOf: UnsafeBufferPointer(start: buffer![c]!, count: Int(header.blocksize)))
            }
            return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
        }
        let metadata: FLAC__StreamDecoderMetadataCallback = { _, block, data in
            let r = Unmanaged<LibFLACResult>.fromOpaque(data!).takeUnretainedValue()
            if block!.pointee.type == FLAC__METADATA_TYPE_STREAMINFO { r.total = block!.pointee.data.stream_info.total_samples }
        }
        let error: FLAC__StreamDecoderErrorCallback = { _, _, data in
            Unmanaged<LibFLACResult>.fromOpaque(data!).takeUnretainedValue().failed = true
        }
        try #require(FLAC__stream_decoder_init_file(decoder, url.path, write, metadata, error, context)
                     == FLAC__STREAM_DECODER_INIT_STATUS_OK)
        if FLAC__stream_decoder_process_until_end_of_stream(decoder) == 0 { result.failed = true }
        return result
    }

    /// Our decoder on the file's frames (metadata parsed by our helper): per-channel samples, block sizes, and
    /// the final status (0 at the end, or an error code).
    static func ours(_ url: URL) throws -> (channels: [[Int32]], blockSizes: [Int], status: Int32) {
        let bytes = [UInt8](try Data(contentsOf: url))
        var info = ffd_stream_info()
        var offset = 0
        try #require(ffd_parse_metadata(bytes, bytes.count, &info, &offset) == 0)
        var error: Int32 = 0
        let decoder = try #require(bytes.withUnsafeBufferPointer {
            ffd_open_memory($0.baseAddress! + offset, bytes.count - offset, &info, &error)
        })
        defer { ffd_close(decoder) }
        var channels = [[Int32]](repeating: [], count: Int(info.channels))
        var sizes: [Int] = []
        while true {
            let status = ffd_decode_frame(decoder)
            if status <= 0 { return (channels, sizes, status) }
            sizes.append(Int(status))
            for c in 0..<channels.count {
                channels[c].append(contentsOf: UnsafeBufferPointer(start: ffd_channel(decoder, UInt32(c)), count: Int(status)))
            }
        }
    }

    /// Both decoders agree sample for sample on every channel, and ours took every frame.
    static func expectSameChannels(_ url: URL, _ label: String) throws {
        let reference = try libFLAC(url)
        #expect(!reference.failed, "libFLAC failed on \(label)")
        let mine = try ours(url)
        #expect(mine.status == 0, "\(label): \(String(cString: ffd_error_string(mine.status)))")
        // Compared as one Bool: a failure printing every sample would bury the label.
        let sameSizes = mine.blockSizes == reference.blockSizes, sameSamples = mine.channels == reference.channels
        #expect(sameSizes, "\(label): block sizes differ")
        #expect(sameSamples, "\(label): samples differ")
    }

    /// Mono samples through FLACStream with or without our decoder, read in odd-sized pieces; with `fast`,
    /// whether our decoder was still in charge at the end. Errors come back as their description.
    static func viaStream(_ url: URL, info: AudioFileInfo, fast: Bool, piece: Int = 1_111)
        -> (samples: [Float], error: String?, stayedFast: Bool)
    {
        guard let stream = FLACStream.make(path: url.path, info: info, fast: fast) else {
            return ([], "not opened", false)
        }
        var out: [Float] = []
        var buffer = [Float](repeating: 0, count: piece)
        do {
            while true {
                let got = try buffer.withUnsafeMutableBufferPointer {
                    try stream.read(into: $0.baseAddress!, count: piece, startFrame: Int64(out.count))
                }
                out += buffer[0..<got]
                if got < piece { break }
            }
        } catch {
            return (out, String(describing: error), stream.decodesWithFastDecoder)
        }
        return (out, nil, stream.decodesWithFastDecoder)
    }

    static func streamInfo(_ url: URL, rate: Int, channels: Int, frames: Int) -> AudioFileInfo {
        AudioFileInfo(path: url.path, format: "FLAC", sampleRate: rate, channels: channels, frames: Int64(frames),
                      duration: Double(frames) / Double(rate))
    }

    // MARK: - Intact files from libFLAC's encoder

    static let layouts: [(bits: Int, channels: Int)] = [
        (8, 1), (8, 2), (8, 8), (12, 1), (12, 2), (12, 6), (16, 1), (16, 2), (16, 3), (16, 6), (16, 8),
        (20, 2), (20, 3), (24, 1), (24, 2), (24, 6), (24, 8),
    ]

    @Test("every sample size and channel count, per channel and mixed to mono", arguments: layouts)
    func everyLayout(_ bits: Int, _ channels: Int) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-fast-flac")
        let url = dir.path("x.flac")
        let frames = 9_001
        try Self.encode(Self.signal(frames: frames, channels: channels, bits: bits, seed: UInt64(bits * 10 + channels)),
                        channels: channels, bits: bits, rate: 44_100, to: url)
        try Self.expectSameChannels(url, "\(bits)-bit \(channels) ch")
        let info = Self.streamInfo(url, rate: 44_100, channels: channels, frames: frames)
        let fast = Self.viaStream(url, info: info, fast: true), slow = Self.viaStream(url, info: info, fast: false)
        #expect(fast.error == nil && slow.error == nil)
        #expect(fast.stayedFast)
        let same = fast.samples.count == frames && fast.samples == slow.samples
        #expect(same, "\(bits)-bit \(channels) ch")
    }

    @Test("sample rates from 8 kHz to 192 kHz, standard and odd",
          arguments: [8_000, 11_025, 22_050, 32_000, 37_800, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000])
    func sampleRates(_ rate: Int) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-fast-flac")
        let url = dir.path("x.flac")
        try Self.encode(Self.signal(frames: 5_000, channels: 2, bits: 16, seed: UInt64(rate)), channels: 2, bits: 16,
                        rate: rate, to: url)
        try Self.expectSameChannels(url, "\(rate) Hz")
    }

    static let settings: [EncoderSettings] = (0...8).map { EncoderSettings(level: UInt32($0)) } + [
        EncoderSettings(level: 8, maxLPCOrder: 32, exhaustive: true),
        EncoderSettings(level: 8, maxLPCOrder: 32, qlpPrecision: 15),
        EncoderSettings(level: 5, blockSize: 16, maxLPCOrder: 12),
        EncoderSettings(level: 5, blockSize: 192), EncoderSettings(level: 5, blockSize: 1_000),
        EncoderSettings(level: 5, blockSize: 4_608), EncoderSettings(level: 8, blockSize: 65_535),
        EncoderSettings(level: 5, midSide: false), EncoderSettings(level: 8, exhaustive: true, midSide: true),
    ]

    /// Compression levels, LPC up to order 32 and 15-bit coefficients (the 64-bit path at 24 bits), exhaustive
    /// model search, tiny to maximal blocks (the last block short), with and without stereo decorrelation.
    @Test(arguments: settings)
    func encoderSettings(_ settings: EncoderSettings) throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-fast-flac")
        for (bits, channels) in [(16, 2), (24, 2), (24, 1)] {
            let url = dir.path("x\(bits)-\(channels).flac")
            let frames = settings.blockSize == 65_535 ? 70_001 : 12_345
            try Self.encode(Self.signal(frames: frames, channels: channels, bits: bits, seed: 7), channels: channels,
                            bits: bits, rate: 44_100, to: url, settings)
            try Self.expectSameChannels(url, "\(settings), \(bits)-bit \(channels) ch")
        }
    }

    /// Full-scale noise (verbatim subframes), silence (constant), wasted low bits, and a channel that is zero or
    /// the negation of the other (left-/right-side and mid-side coding at their extremes).
    /// The frame CRC-16 (four-way PCLMULQDQ folding for long frames, tables for the rest) against the bitwise
    /// definition (polynomial 0x8005, MSB first), for every length across the fold boundaries and odd offsets.
    @Test func crc16MatchesItsDefinition() {
        var generator = SeededGenerator(seed: 17)
        let bytes = (0..<16_400).map { _ in UInt8.random(in: 0...255, using: &generator) }
        func reference(_ slice: ArraySlice<UInt8>) -> UInt16 {
            var c: UInt16 = 0
            for byte in slice {
                c ^= UInt16(byte) << 8
                for _ in 0..<8 { c = c & 0x8000 != 0 ? (c << 1) ^ 0x8005 : c << 1 }
            }
            return c
        }
        let cases = (0..<300).flatMap { n in [(0, n), (3, n)] } + [(1, 4_095), (0, 4_096), (7, 16_385)]
        for (offset, count) in cases {
            let ours = bytes.withUnsafeBufferPointer { ffd_crc16($0.baseAddress! + offset, count) }
            #expect(ours == reference(bytes[offset..<(offset + count)]), "offset \(offset), \(count) bytes")
        }
    }

    @Test func extremeSignals() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-fast-flac")
        var generator = SeededGenerator(seed: 3)
        for bits in [8, 16, 24] {
            let full = Int32(1 << (bits - 1))
            let noise = (0..<(2 * 6_000)).map { _ in Int32.random(in: -full..<full, using: &generator) }
            let silence = [Int32](repeating: 0, count: 2 * 6_000)
            let dc = [Int32](repeating: full - 1, count: 2 * 6_000)
            let wasted = Self.signal(frames: 6_000, channels: 2, bits: bits, seed: 4, wasted: bits / 4)
            let base = Self.signal(frames: 6_000, channels: 1, bits: bits, seed: 5)
            let oneSided: [Int32] = base.flatMap { [$0, 0] }
            let negated: [Int32] = base.flatMap { (v: Int32) -> [Int32] in [v, v == -full ? full - 1 : -v] }
            let extremes: [Int32] = (0..<6_000).flatMap { (t: Int) -> [Int32] in t % 2 == 0 ? [full - 1, -full] : [-full, full - 1] }
            let cases: [(String, [Int32])] = [("noise", noise), ("silence", silence), ("dc", dc), ("wasted", wasted),
                                    ("one-sided", oneSided), ("negated", negated), ("extremes", extremes)]
            for (name, samples) in cases {
                for level: UInt32 in [0, 8] {
                    let url = dir.path("\(name)-\(bits)-\(level).flac")
                    try Self.encode(samples, channels: 2, bits: bits, rate: 48_000, to: url,
                                    EncoderSettings(level: level, exhaustive: level == 8))
                    try Self.expectSameChannels(url, "\(name) \(bits)-bit level \(level)")
                }
            }
        }
    }

    // MARK: - Hand-made streams: variable block sizes and escape codes

    /// Writes MSB-first bits.
    struct BitWriter {
        var bytes: [UInt8] = []
        var accumulator: UInt64 = 0
        var used = 0
        mutating func put(_ value: UInt64, _ bits: Int) {
            for i in stride(from: bits - 1, through: 0, by: -1) {
                accumulator = accumulator << 1 | (value >> UInt64(i) & 1)
                used += 1
                if used == 8 {
                    bytes.append(UInt8(accumulator))
                    accumulator = 0
                    used = 0
                }
            }
        }
        mutating func signed(_ value: Int32, _ bits: Int) { put(UInt64(UInt32(bitPattern: value)) & ((1 << bits) - 1), bits) }
        mutating func align() { if used > 0 { put(0, 8 - used) } }
    }

    /// A variable-block-size stream (sample numbers in frame headers, 8- and 16-bit block-size codes, the
    /// 16-bit sample-rate code) whose subframes cycle through constant, verbatim, FIXED order 1 with an escaped
    /// partition, and FIXED order 2 with rice partitions (parameters 0 and large), so the paths libFLAC's encoder
    /// never takes are compared with libFLAC too.
    static func handMade(blocks: [Int], bits: Int, seed: UInt64) -> [UInt8] {
        let rate = 37_800, channels = 2
        let total = blocks.reduce(0, +)
        var generator = SeededGenerator(seed: seed)
        var out = BitWriter()
        out.bytes = Array("fLaC".utf8)
        out.put(1, 1); out.put(0, 7); out.put(34, 24)  // last block: STREAMINFO
        out.put(UInt64(blocks.min()!), 16); out.put(UInt64(blocks.max()!), 16); out.put(0, 24); out.put(0, 24)
        out.put(UInt64(rate), 20); out.put(UInt64(channels - 1), 3); out.put(UInt64(bits - 1), 5)
        out.put(UInt64(total), 36); out.put(0, 64); out.put(0, 64)
        let bitsCode: UInt64 = [8: 1, 12: 2, 16: 4, 20: 5, 24: 6][bits]!
        var sample = 0
        for (index, size) in blocks.enumerated() {
            var frame = BitWriter()
            frame.put(0xFFF9, 16)
            frame.put(size <= 256 ? 6 : 7, 4)
            frame.put(13, 4)  // sample rate: 16-bit Hz at the end of the header
            frame.put(UInt64(index % 4 == 3 ? 10 : 1), 4)  // mid-side or independent
            frame.put(bitsCode, 3); frame.put(0, 1)
            // UTF-8-style sample number
            let n = UInt64(sample)
            if n < 0x80 { frame.put(n, 8) } else {
                var length = 2
                while n >= (1 << (5 * length + 1)) { length += 1 }
                frame.put((0xFF00 >> length) & 0xFF | (n >> (6 * (length - 1))), 8)
                for i in stride(from: length - 2, through: 0, by: -1) { frame.put(0x80 | (n >> (6 * i)) & 0x3F, 8) }
            }
            frame.put(UInt64(size - 1), size <= 256 ? 8 : 16)
            frame.put(UInt64(rate), 16)
            frame.put(UInt64(ffd_crc8(frame.bytes, frame.bytes.count)), 8)
            for c in 0..<channels {
                let sideBits = bits + (index % 4 == 3 && c == 1 ? 1 : 0)
                let limit = Int32(1 << (bits - 3))
                var x = (0..<size).map { _ in Int32.random(in: -limit...limit, using: &generator) }
                switch (index + c) % 4 {
                case 0:  // constant
                    frame.put(0, 8); frame.signed(x[0], sideBits)
                case 1:  // verbatim
                    frame.put(0x02, 8)
                    for v in x { frame.signed(v, sideBits) }
                case 2 where size > 1:  // FIXED order 1, one escaped partition
                    for i in 1..<size { x[i] = x[i - 1] / 2 + x[i] / 4 }
                    frame.put(0x12, 8); frame.signed(x[0], sideBits)
                    frame.put(0, 2); frame.put(0, 4); frame.put(15, 4)
                    let residuals = (1..<size).map { x[$0] - x[$0 - 1] }
                    let magnitude = residuals.map { $0.magnitude }.max() ?? 0
                    let raw = magnitude == 0 ? 0 : 33 - (magnitude.leadingZeroBitCount)
                    frame.put(UInt64(raw), 5)
                    if raw > 0 { for r in residuals { frame.signed(r, raw) } }
                default:  // FIXED order 2, rice partitions (method 1: 5-bit parameters) where possible
                    guard size >= 2 else { frame.put(0x02, 8); for v in x { frame.signed(v, sideBits) }; break }
                    let phase = Double(index)
                    x = (0..<size).map { Int32(Double(limit) * sin(Double($0) * 0.05 + phase)) + x[$0] / 4_096 }
                    frame.put(0x14, 8); frame.signed(x[0], sideBits); frame.signed(x[1], sideBits)
                    let order = size % 2 == 0 && size / 2 >= 2 ? 1 : 0
                    frame.put(1, 2); frame.put(UInt64(order), 4)
                    let residuals: [Int32] = (2..<size).map { (i: Int) -> Int32 in x[i] - 2 * x[i - 1] + x[i - 2] }
                    let split = size / 2 - 2
                    let partitions: [[Int32]] = order == 0 ? [residuals] : [Array(residuals[0..<split]), Array(residuals[split...])]
                    for (p, part) in partitions.enumerated() {
                        // The first partition's unary runs reach ~128 zeros (the general rice path), the second's stay short.
                        let largest = part.map { UInt32(bitPattern: ($0 << 1) ^ ($0 >> 31)) }.max() ?? 0
                        let width = 32 - largest.leadingZeroBitCount
                        let k = p == 0 ? max(0, width - 7) : width
                        frame.put(UInt64(k), 5)
                        for r in part {
                            let u = UInt32(bitPattern: (r << 1) ^ (r >> 31))
                            frame.put(0, Int(u >> UInt32(k))); frame.put(1, 1)
                            if k > 0 { frame.put(UInt64(u) & ((1 << k) - 1), k) }
                        }
                    }
                }
            }
            frame.align()
            frame.put(UInt64(ffd_crc16(frame.bytes, frame.bytes.count)), 16)
            out.bytes += frame.bytes
            sample += size
        }
        return out.bytes
    }

    @Test func variableBlockSizesAndEscapeCodes() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-fast-flac")
        var generator = SeededGenerator(seed: 11)
        for (trial, bits) in [8, 12, 16, 20, 24].enumerated() {
            let blocks = (0..<40).map { i in i == 0 ? 300 : i % 7 == 0 ? 1 : Int.random(in: 16...(trial == 4 ? 6_000 : 700), using: &generator) }
            let url = dir.path("variable\(bits).flac")
            try Data(Self.handMade(blocks: blocks, bits: bits, seed: UInt64(bits))).write(to: url)
            try Self.expectSameChannels(url, "hand-made \(bits)-bit")
            let reference = try Self.libFLAC(url)
            #expect(reference.blockSizes == blocks)
        }
    }

    // MARK: - Damaged files: the same samples or the same error as libFLAC alone

    /// Inputs on which the differential fuzzer (scripts/fuzz/flac_diff.c) caught our decoder accepting a frame
    /// libFLAC 1.4 rejects: stereo output outside the sample size, an LPC order equal to the block size.
    @Test func fuzzerRegressions() throws {
        let dir = try #require(Bundle.module.url(forResource: "flac-regressions", withExtension: nil,
                                                 subdirectory: "Fixtures"))
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "flac" }
        #expect(files.count >= 2)
        for url in files {
            let reference = try Self.libFLAC(url)
            let mine = try Self.ours(url)
            #expect(mine.status < 0, "\(url.lastPathComponent): ours must stop where libFLAC does")
            // Every frame ours took is a frame libFLAC delivered, with the same samples.
            #expect(mine.blockSizes.count <= reference.blockSizes.count)
            let n = mine.channels.first?.count ?? 0
            let samePrefix = zip(mine.channels, reference.channels).allSatisfy { Array($1.prefix(n)) == $0 }
            #expect(samePrefix, "\(url.lastPathComponent)")
            let frames = Int(reference.total)
            let info = Self.streamInfo(url, rate: 44_100, channels: reference.channels.count, frames: frames)
            let fast = Self.viaStream(url, info: info, fast: true), slow = Self.viaStream(url, info: info, fast: false)
            let same = fast.samples == slow.samples && fast.error == slow.error
            #expect(same, "\(url.lastPathComponent)")
        }
    }

    @Test func damagedFilesGiveWhatLibFLACGives() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-fast-flac-bad")
        let url = dir.path("full.flac")
        let frames = 20_000
        try Self.encode(Self.signal(frames: frames, channels: 2, bits: 16, seed: 9), channels: 2, bits: 16,
                        rate: 44_100, to: url, EncoderSettings(level: 5, blockSize: 1_152))
        let bytes = try Data(contentsOf: url)
        var generator = SeededGenerator(seed: 12)
        var handedOver = 0
        for trial in 0..<160 {
            var damaged = bytes
            if trial < 60 {
                damaged = damaged.prefix(42 + (bytes.count - 42) * trial / 60)  // truncation, metadata to the end
            } else {
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    let i = Int.random(in: 42..<bytes.count, using: &generator)
                    if trial % 2 == 0 { damaged[i] ^= 1 << UInt8.random(in: 0..<8, using: &generator) } else {
                        damaged[i] = UInt8.random(in: 0...255, using: &generator)
                    }
                }
            }
            let path = dir.path("damaged.flac")
            try damaged.write(to: path)
            let damagedInfo = Self.streamInfo(path, rate: 44_100, channels: 2, frames: frames)
            let fast = Self.viaStream(path, info: damagedInfo, fast: true, piece: 997)
            let slow = Self.viaStream(path, info: damagedInfo, fast: false, piece: 997)
            let same = fast.samples == slow.samples
            #expect(same, "trial \(trial)")
            #expect(fast.error == slow.error, "trial \(trial)")
            if !fast.stayedFast { handedOver += 1 }
        }
        // The damage must actually have sent files back to libFLAC, or this tested nothing.
        #expect(handedOver > 50)
    }

    /// The same through the whole decoder (libsndfile opens, resampling on), where errors are typed.
    @Test func damagedFilesThroughAudioDecoder() throws {
        let dir = try TemporaryDirectory(prefix: "retrieve-fast-flac-bad")
        let url = dir.path("full.flac")
        try Self.encode(Self.signal(frames: 30_000, channels: 2, bits: 24, seed: 13), channels: 2, bits: 24,
                        rate: 48_000, to: url)
        let bytes = try Data(contentsOf: url)
        var fast = AudioDecoder(targetSampleRate: 22_050), slow = AudioDecoder(targetSampleRate: 22_050)
        fast.decodesFLACFast = true
        slow.decodesFLACFast = false
        var generator = SeededGenerator(seed: 14)
        for trial in 0..<40 {
            var damaged = bytes
            if trial % 2 == 0 {
                damaged = damaged.prefix(Int.random(in: 100..<bytes.count, using: &generator))
            } else {
                let i = Int.random(in: 100..<bytes.count, using: &generator)
                damaged[i] ^= UInt8.random(in: 1...255, using: &generator)
            }
            let path = dir.path("d\(trial).flac")
            try damaged.write(to: path)
            let a = Result { try fast.decode(path).samples }, b = Result { try slow.decode(path).samples }
            switch (a, b) {
            case let (.success(x), .success(y)):
                let same = x == y
                #expect(same, "trial \(trial)")
            case let (.failure(x), .failure(y)): #expect(String(describing: x) == String(describing: y), "trial \(trial)")
            default: Issue.record("trial \(trial): one decoder failed, the other did not")
            }
        }
    }
}
