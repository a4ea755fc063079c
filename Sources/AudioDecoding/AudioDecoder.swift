internal import CSndFile
internal import CSoxr
public import Foundation

/// A file's format, native rate and channels, length, and tags.
///
/// `frames` and `duration` are the header's claim in `AudioDecoder.info(of:)`, and that claim is only a hint: an
/// appended tag, a truncation or a damaged header makes it wrong by any amount (an OGG with one junk byte
/// appended claims 2⁶³ frames, a truncated MP3 its full length, a VBR MP3 without a Xing header a guess). In
/// what `AudioDecoder.decode` and `AudioDecoder.stream` return they count the frames actually decoded, and
/// those are the only length a consumer should store or show.
public struct AudioFileInfo: Sendable, Equatable {
    public var path: String
    /// Container/codec name: "WAV", "AIFF", "FLAC", "OGG/Vorbis", "Opus", "MP3", or libsndfile's name for others.
    public var format: String
    /// Native sample rate in Hz.
    public var sampleRate: Int
    public var channels: Int
    /// Frames (samples per channel) at the native rate: the header's claim, or the decoded count (see above).
    public var frames: Int64
    /// `frames / sampleRate`, in seconds.
    public var duration: Double
    public var title: String?
    public var artist: String?
    public var album: String?
    public var genre: String?

    public init(
        path: String, format: String, sampleRate: Int, channels: Int, frames: Int64, duration: Double,
        title: String? = nil, artist: String? = nil, album: String? = nil, genre: String? = nil
    ) {
        self.path = path
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
        self.frames = frames
        self.duration = duration
        self.title = title
        self.artist = artist
        self.album = album
        self.genre = genre
    }
}

/// A whole decoded file: mono samples at the decoder's target rate.
public struct DecodedAudio: Sendable {
    public var info: AudioFileInfo
    /// Mono samples at `sampleRate`; every value is finite.
    public var samples: [Float]
    /// The rate of `samples` (the decoder's target rate), not the file's native rate (that is `info.sampleRate`).
    public var sampleRate: Int
    /// Seconds of audio in `samples`.
    public var duration: Double { Double(samples.count) / Double(sampleRate) }
}

/// The decoder: any file libsndfile reads → one channel, `targetSampleRate` Hz, `Float`, finite.
///
/// Channels are averaged (`numpy.mean(y, axis=0)`, as `librosa.load(mono=True)`), then the signal is resampled
/// with libsoxr at `SOXR_HQ` (librosa's `res_type='soxr_hq'`, its default) and trimmed or zero-padded to
/// `ceil(frames · target / native)` samples, as `librosa.resample(fix=True)` does. Decoding streams in blocks,
/// so memory is bounded by the block size whatever the file's length. Samples that are NaN, infinite or
/// beyond ±10⁶ are rejected with `AudioDecodingError.invalidSamples` rather than cleaned up: like librosa
/// (`valid_audio`), we prefer refusing a corrupt file to indexing made-up audio, and no NaN can reach features.
///
/// A file with no audio frames decodes to no samples, pure silence decodes to zeros; both are valid results.
/// Stateless and `Sendable`: one decoder may serve many threads.
public struct AudioDecoder: Sendable {
    /// Native rates the decoder accepts. libsoxr handles far more, but a rate outside this range is almost
    /// certainly a damaged header.
    public static let supportedSampleRates = 1_000...768_000

    /// The output rate in Hz.
    public let targetSampleRate: Int

    /// Whether native FLAC is decoded by libFLAC directly (`FLACStream`) rather than through libsndfile; the
    /// samples are the same either way, so only tests comparing the two paths turn it off.
    var decodesFLACDirectly = true

    /// Whether that direct path starts with our own frame decoder (`CFLACDecoder`) rather than libFLAC's; the
    /// samples are the same. Set by `RETRIEVE_FLAC_DECODER` (`ours` or `libflac`; see `flacDecoderFromEnvironment`).
    var decodesFLACFast = AudioDecoder.flacDecoderFromEnvironment

    /// Which FLAC frame decoder a new `AudioDecoder` uses: `RETRIEVE_FLAC_DECODER=ours` picks our own
    /// (`CFLACDecoder`), `libflac` (or anything else) libFLAC, unset the default (bench/README: the measurement).
    static let flacDecoderFromEnvironment: Bool = {
        guard let choice = ProcessInfo.processInfo.environment["RETRIEVE_FLAC_DECODER"] else {
            return usesOurFLACDecoderByDefault
        }
        return choice.lowercased() == "ours"
    }()

    /// The default FLAC frame decoder (see bench/README for the measurement behind it).
    static let usesOurFLACDecoderByDefault = true

    /// Whether MP3, OGG/Vorbis and Opus are decoded by libmpg123, libvorbisfile and libopusfile directly
    /// (`MP3Stream`, `VorbisStream`, `OpusStream`, to the end of the stream) rather than through libsndfile,
    /// which stops at the length it takes from the header; the samples are the same up to that length, so only
    /// tests comparing the two paths turn it off.
    var decodesToTheEndDirectly = true

    public init(targetSampleRate: Int = 22_050) {
        precondition(targetSampleRate > 0, "target sample rate must be positive, got \(targetSampleRate)")
        self.targetSampleRate = targetSampleRate
    }

    /// Reads the header only.
    public func info(of url: URL) throws(AudioDecodingError) -> AudioFileInfo {
        let file = try SoundFile(reading: url.path)
        return file.info
    }

    /// Decodes the whole file (or its first `maxSeconds`) into memory. The result's `info` counts the frames
    /// decoded, never the header's claim.
    public func decode(_ url: URL, maxSeconds: Double? = nil) throws(AudioDecodingError) -> DecodedAudio {
        var samples: [Float] = []
        let info = try run(url.path, blockFrames: 16_384, maxSeconds: maxSeconds) {
            (block: UnsafeBufferPointer<Float>) in
            samples.append(contentsOf: block)
        } reserve: {
            samples.reserveCapacity($0)
        }
        return DecodedAudio(info: info, samples: samples, sampleRate: targetSampleRate)
    }

    /// Decodes the file block by block, handing each block of mono, resampled, finite samples to `body`.
    ///
    /// `blockFrames` is the number of native frames read per step; blocks passed to `body` hold about
    /// `blockFrames · target / native` samples (the first may be shorter: the resampler has latency) and are
    /// only valid during the call. Throwing from `body` stops decoding and rethrows that error; decoding
    /// problems throw `AudioDecodingError`. Decoding runs until the codec itself ends (or `maxSeconds`), whatever
    /// length the header claims; the returned info counts the native frames decoded (`frames`, `duration`).
    @discardableResult
    public func stream(
        _ url: URL, blockFrames: Int = 65_536, maxSeconds: Double? = nil,
        _ body: (UnsafeBufferPointer<Float>) throws -> Void
    ) throws -> AudioFileInfo {
        var failure: (any Error)?
        let info = try run(url.path, blockFrames: blockFrames, maxSeconds: maxSeconds) { block in
            do { try body(block) } catch {
                failure = error
                return false
            }
            return true
        } reserve: { _ in
        }
        if let failure { throw failure }
        return info
    }

    private func run(
        _ path: String, blockFrames: Int, maxSeconds: Double?,
        _ body: (UnsafeBufferPointer<Float>) -> Void, reserve: (Int) -> Void
    ) throws(AudioDecodingError) -> AudioFileInfo {
        try run(
            path, blockFrames: blockFrames, maxSeconds: maxSeconds,
            { (b: UnsafeBufferPointer<Float>) -> Bool in
                body(b)
                return true
            }, reserve: reserve)
    }

    /// The decoding loop. `body` returns false to stop early. Returns the file's info with `frames` and
    /// `duration` set to what was decoded: the header's count is used for nothing but a reservation.
    private func run(
        _ path: String, blockFrames: Int, maxSeconds: Double?,
        _ body: (UnsafeBufferPointer<Float>) -> Bool, reserve: (Int) -> Void
    ) throws(AudioDecodingError) -> AudioFileInfo {
        precondition(blockFrames > 0, "blockFrames must be positive, got \(blockFrames)")
        let file = try SoundFile(reading: path)
        var info = file.info
        guard AudioDecoder.supportedSampleRates.contains(info.sampleRate) else {
            throw .unsupportedSampleRate(path: path, sampleRate: info.sampleRate)
        }
        var limit = Int64.max
        if let maxSeconds { limit = Int64(min(max(0, maxSeconds) * Double(info.sampleRate), 9e18)) }
        let ratio = Double(targetSampleRate) / Double(info.sampleRate)
        let expectedFrames = min(limit, max(info.frames, 0))
        // The header's frame count is only a hint: a damaged one can claim ~2⁶³ frames, which overflowed Int
        // here (a trap) or asked for terabytes up front. Reserve at most 2²⁴ samples; arrays grow past that.
        reserve(Int(min((Double(expectedFrames) * ratio).rounded(.up), Double(1 << 24))) + 16)

        let resampler =
            info.sampleRate == targetSampleRate
            ? nil : try Resampler(from: info.sampleRate, to: targetSampleRate, path: path)
        let reader = BlockReader(
            file: file, path: path, blockFrames: blockFrames, flac: decodesFLACDirectly,
            flacFast: decodesFLACFast, direct: decodesToTheEndDirectly)
        var framesIn: Int64 = 0
        var samplesOut: Int64 = 0
        var stopped = false

        // Emits at most `allowed` more samples so that the total never exceeds ceil(framesIn · ratio).
        func emit(_ buffer: UnsafeBufferPointer<Float>) -> Bool {
            let bound = Int64((Double(framesIn) * ratio).rounded(.up))
            let count = Int(max(0, min(Int64(buffer.count), bound - samplesOut)))
            guard count > 0 else { return true }
            samplesOut += Int64(count)
            return body(UnsafeBufferPointer(rebasing: buffer[0..<count]))
        }

        while framesIn < limit && !stopped {
            let want = Int(min(Int64(blockFrames), limit - framesIn))
            let got = try reader.read(want, at: framesIn)
            if got == 0 { break }
            framesIn += Int64(got)
            if let resampler {
                try reader.mono.withUnsafeBufferPointer { (input) throws(AudioDecodingError) in
                    try resampler.process(UnsafeBufferPointer(rebasing: input[0..<got])) { out in
                        if !stopped && !emit(out) { stopped = true }
                    }
                }
            } else {
                reader.mono.withUnsafeBufferPointer {
                    if !emit(UnsafeBufferPointer(rebasing: $0[0..<got])) { stopped = true }
                }
            }
            if got < want { break }
        }
        info.frames = framesIn
        info.duration = Double(framesIn) / Double(info.sampleRate)
        if stopped { return info }
        if let resampler {
            try resampler.flush { out in
                if !stopped && !emit(out) { stopped = true }
            }
        }
        // librosa.resample(fix=True): pad with zeros up to ceil(n · ratio).
        let target = Int64((Double(framesIn) * ratio).rounded(.up))
        if !stopped && samplesOut < target {
            let zeros = [Float](repeating: 0, count: Int(target - samplesOut))
            _ = zeros.withUnsafeBufferPointer { emit($0) }
        }
        return info
    }

    /// Mixes `frames` interleaved 16-bit frames to mono Float in `mono`.
    ///
    /// 16-bit sources are read as integers and converted while mixing: libsndfile's own short → float conversion
    /// is its single most expensive step for WAV; this gives bit-identical samples (x / 32768 and the channel sum
    /// are exact in Float) at a fraction of the cost, and integer input needs no NaN scan.
    static func mix(_ shorts: [Int16], frames got: Int, channels: Int, into mono: inout [Float]) {
        shorts.withUnsafeBufferPointer { xb in
            mono.withUnsafeMutableBufferPointer { yb in
                let x = xb.baseAddress!, y = yb.baseAddress!
                let unit: Float = 1.0 / 32_768
                switch channels {
                case 1: for i in 0..<got { y[i] = Float(x[i]) * unit }
                case 2: for i in 0..<got { y[i] = Float(Int32(x[2 * i]) + Int32(x[2 * i + 1])) * unit * 0.5 }
                default:
                    let scale = 1 / Float(channels)
                    for i in 0..<got {
                        var s: Int32 = 0
                        for c in 0..<channels { s += Int32(x[i * channels + c]) }
                        y[i] = Float(s) * unit * scale
                    }
                }
            }
        }
    }

    /// Averages `frames` interleaved Float frames into `mono` and returns the index of the first sample no real
    /// recording contains (NaN, ±∞ or beyond ±10⁶), or nil when all are clean.
    static func mix(_ interleaved: [Float], frames got: Int, channels: Int, into mono: inout [Float]) -> Int? {
        interleaved.withUnsafeBufferPointer { xb in
            mono.withUnsafeMutableBufferPointer { yb in
                let x = xb.baseAddress!, y = yb.baseAddress!
                switch channels {
                case 1: y.update(from: x, count: got)
                case 2: for i in 0..<got { y[i] = (x[2 * i] + x[2 * i + 1]) * 0.5 }
                default:
                    let scale = 1 / Float(channels)
                    for i in 0..<got {
                        var s: Float = 0
                        for c in 0..<channels { s += x[i * channels + c] }
                        y[i] = s * scale
                    }
                }
                // NaN or ±∞ in any channel makes the mean NaN or infinite, so checking the mean covers all.
                // `v * 0` is 0 for finite v and NaN otherwise; eight lanes keep the scan vectorised.
                var nonFinite = SIMD8<Float>(), largest = SIMD8<Float>(), smallest = SIMD8<Float>()
                var i = 0
                while i + 8 <= got {
                    let v = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
                    nonFinite += v * 0
                    largest.replace(with: v, where: v .> largest)
                    smallest.replace(with: v, where: v .< smallest)
                    i += 8
                }
                var clean = nonFinite == SIMD8() && largest.max() <= 1e6 && smallest.min() >= -1e6
                while i < got {
                    if !(abs(y[i]) <= 1e6) { clean = false }
                    i += 1
                }
                return clean ? nil : (0..<got).first { !(abs(y[$0]) <= 1e6) } ?? 0
            }
        }
    }
}

/// Reads a file block by block from the right source and mixes each block to mono (`mono`): native FLAC through
/// `FLACStream` (our frame decoder, libFLAC where it is unsure; mono in one pass); MP3, OGG/Vorbis and Opus
/// through their codec library, read until the stream ends (interleaved floats, as libsndfile gives them);
/// everything else, and any FLAC or codec stream those do not cover, through libsndfile.
private final class BlockReader {
    let file: SoundFile
    let path: String
    let flac: FLACStream?
    let direct: (any InterleavedFloatStream)?
    var interleaved: [Float]
    var shorts: [Int16]
    /// The last block, mixed to mono.
    var mono: [Float]

    init(file: SoundFile, path: String, blockFrames: Int, flac useFLAC: Bool, flacFast: Bool, direct useDirect: Bool) {
        self.file = file
        self.path = path
        let info = file.info
        flac = useFLAC ? FLACStream.make(path: path, info: info, fast: flacFast) : nil
        direct =
            flac != nil || !useDirect || file.isSixteenBit
            ? nil
            : MP3Stream.make(path: path, info: info) as (any InterleavedFloatStream)?
                ?? VorbisStream.make(path: path, info: info) ?? OggOpusStream.make(path: path, info: info)
                ?? OpusStream.make(path: path, info: info)
        let channels = info.channels
        interleaved = [Float](repeating: 0, count: flac == nil && !file.isSixteenBit ? blockFrames * channels : 0)
        shorts = [Int16](
            repeating: 0, count: flac == nil && direct == nil && file.isSixteenBit ? blockFrames * channels : 0)
        mono = [Float](repeating: 0, count: blockFrames)
    }

    /// Reads up to `want` frames starting at frame `start` into `mono`; returns how many (0 at the end).
    func read(_ want: Int, at start: Int64) throws(AudioDecodingError) -> Int {
        let got: Int
        if let flac {
            got = try mono.withUnsafeMutableBufferPointer { (y) throws(AudioDecodingError) in
                try flac.read(into: y.baseAddress!, count: want, startFrame: start)
            }
        } else if let direct {
            got = try interleaved.withUnsafeMutableBufferPointer { (x) throws(AudioDecodingError) in
                try direct.read(into: x.baseAddress!, count: want, startFrame: start)
            }
        } else if file.isSixteenBit {
            got = shorts.withUnsafeMutableBufferPointer { file.readFrames(into: $0.baseAddress!, count: want) }
        } else {
            got = interleaved.withUnsafeMutableBufferPointer { file.readFrames(into: $0.baseAddress!, count: want) }
        }
        let rate = Double(file.info.sampleRate)
        if got < 0 || (got < want && flac == nil && direct == nil && file.hasError) {
            throw .readFailed(
                path: path, atSecond: Double(start + Int64(max(got, 0))) / rate, reason: file.errorMessage)
        }
        guard got > 0 else { return 0 }
        let channels = file.info.channels
        if flac != nil {
            // Already mono, and integer samples need no NaN scan.
        } else if file.isSixteenBit {
            AudioDecoder.mix(shorts, frames: got, channels: channels, into: &mono)
        } else if let bad = AudioDecoder.mix(interleaved, frames: got, channels: channels, into: &mono) {
            throw .invalidSamples(path: path, atSecond: Double(start + Int64(bad)) / rate)
        }
        return got
    }
}
