internal import CSndFile
public import Foundation

/// A container and sample encoding `AudioFileWriter` can produce with libsndfile 1.2.0.
public enum AudioFileFormat: String, Sendable, CaseIterable {
    case wav16, wav24, wav32, wavFloat, aiff16, flac16, flac24, oggVorbis, opus, mp3

    /// The usual file extension.
    public var fileExtension: String {
        switch self {
        case .wav16, .wav24, .wav32, .wavFloat: return "wav"
        case .aiff16: return "aiff"
        case .flac16, .flac24: return "flac"
        case .oggVorbis: return "ogg"
        case .opus: return "opus"
        case .mp3: return "mp3"
        }
    }

    var sndfileFormat: Int32 {
        let f: Int
        switch self {
        case .wav16: f = Int(SF_FORMAT_WAV) | Int(SF_FORMAT_PCM_16)
        case .wav24: f = Int(SF_FORMAT_WAV) | Int(SF_FORMAT_PCM_24)
        case .wav32: f = Int(SF_FORMAT_WAV) | Int(SF_FORMAT_PCM_32)
        case .wavFloat: f = Int(SF_FORMAT_WAV) | Int(SF_FORMAT_FLOAT)
        case .aiff16: f = Int(SF_FORMAT_AIFF) | Int(SF_FORMAT_PCM_16)
        case .flac16: f = Int(SF_FORMAT_FLAC) | Int(SF_FORMAT_PCM_16)
        case .flac24: f = Int(SF_FORMAT_FLAC) | Int(SF_FORMAT_PCM_24)
        case .oggVorbis: f = Int(SF_FORMAT_OGG) | Int(SF_FORMAT_VORBIS)
        case .opus: f = Int(SF_FORMAT_OGG) | Int(SF_FORMAT_OPUS)
        case .mp3: f = Int(SF_FORMAT_MPEG) | Int(SF_FORMAT_MPEG_LAYER_III)
        }
        return Int32(f)
    }
}

/// A streaming audio file writer over libsndfile, for tests, benchmarks and tools that need real files.
///
/// Integer encodings clip to [−1, 1) rather than wrapping. Opus only accepts 8, 12, 16, 24 and 48 kHz.
/// Tags (title, artist, album, genre) are written where the container supports them.
public final class AudioFileWriter {
    private var handle: OpaquePointer?
    public let url: URL
    public let channels: Int

    public init(
        url: URL, format: AudioFileFormat, sampleRate: Int, channels: Int = 1,
        tags: [String: String] = [:]
    ) throws(AudioDecodingError) {
        self.url = url
        self.channels = channels
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        info.format = format.sndfileFormat
        guard channels > 0, sf_format_check(&info) != 0 else {
            throw .cannotWrite(
                path: url.path,
                reason: "libsndfile cannot write \(format) at \(sampleRate) Hz with \(channels) channels")
        }
        let (opened, openError) = SoundFile.openLock.withLock {
            let h = sf_open(url.path, Int32(SFM_WRITE), &info)
            return (h, h == nil ? String(cString: sf_strerror(nil)) : "")
        }
        guard let h = opened else { throw .cannotWrite(path: url.path, reason: openError) }
        handle = h
        sf_command(h, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
        let kinds = ["title": SF_STR_TITLE, "artist": SF_STR_ARTIST, "album": SF_STR_ALBUM, "genre": SF_STR_GENRE]
        for (key, value) in tags { if let kind = kinds[key] { sf_set_string(h, Int32(kind), value) } }
    }

    /// Switches a lossy encoder (MP3, Vorbis, Opus) to constant bitrate at `compressionLevel` in [0, 1]
    /// (libsndfile's scale: 0 = highest bitrate, 1 = lowest). Call before the first `write`; returns false
    /// when libsndfile refuses the level for this format.
    public func setConstantBitrate(compressionLevel: Double) throws(AudioDecodingError) -> Bool {
        guard let handle else { throw .cannotWrite(path: url.path, reason: "the writer is closed") }
        var mode = Int32(SF_BITRATE_MODE_CONSTANT)
        var level = compressionLevel
        sf_command(handle, Int32(SFC_SET_BITRATE_MODE), &mode, Int32(MemoryLayout<Int32>.size))
        return sf_command(handle, Int32(SFC_SET_COMPRESSION_LEVEL), &level, Int32(MemoryLayout<Double>.size)) == SF_TRUE
    }

    /// Appends interleaved frames (`samples.count` must be a multiple of `channels`).
    public func write(_ samples: UnsafeBufferPointer<Float>) throws(AudioDecodingError) {
        guard let handle else { throw .cannotWrite(path: url.path, reason: "the writer is closed") }
        precondition(
            samples.count % channels == 0,
            "\(samples.count) samples is not a whole number of \(channels)-channel frames")
        guard samples.count > 0 else { return }
        let frames = samples.count / channels
        let written = sf_writef_float(handle, samples.baseAddress!, sf_count_t(frames))
        if written != frames { throw .cannotWrite(path: url.path, reason: String(cString: sf_strerror(handle))) }
    }

    public func write(_ samples: [Float]) throws(AudioDecodingError) {
        try samples.withUnsafeBufferPointer { (b) throws(AudioDecodingError) in try write(b) }
    }

    /// Finishes the file (writes headers, flushes encoders). Safe to call twice.
    public func close() {
        if let handle { sf_close(handle) }
        handle = nil
    }

    deinit { close() }

    /// Writes a whole file at once; `samples` are interleaved when `channels > 1`.
    public static func write(
        _ samples: [Float], channels: Int = 1, sampleRate: Int, format: AudioFileFormat,
        to url: URL, tags: [String: String] = [:]
    ) throws(AudioDecodingError) {
        let writer = try AudioFileWriter(
            url: url, format: format, sampleRate: sampleRate, channels: channels,
            tags: tags)
        try writer.write(samples)
        writer.close()
    }
}
