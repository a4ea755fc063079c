internal import CMPG123
import Foundation

/// An MP3 file decoded by libmpg123 directly, to the end of its frames, as interleaved `Float`.
///
/// libsndfile decodes MP3 through libmpg123 too, and this uses its settings (float output, gapless, no
/// automatic resampling, no "Frankenstein" streams; `mpeg_decode.c`), so the samples are the ones it gives, bit
/// for bit. But libsndfile stops at the length libmpg123 reports when the file is opened, and without a
/// Xing/Info header that is an *estimate* from the file size and the first frame's bitrate: a VBR MP3 without
/// that header (old encoders, cut or re-assembled files) lost most of its audio (a 20-s file stopped after
/// 6.3 s). Here decoding runs until libmpg123 says the stream is done.
///
/// The file is first opened by libsndfile (`SoundFile`), which validates it and supplies `AudioFileInfo`;
/// `make` returns nil when libmpg123 alone opens it differently (another rate or channel count), and the caller
/// keeps libsndfile. A Xing header whose frame count is smaller than the stream is still obeyed: libmpg123's
/// gapless mode ends the track there (the length reported is still what was decoded).
///
/// Used by one thread at a time.
final class MP3Stream: InterleavedFloatStream {
    private let handle: OpaquePointer
    private let path: String
    private let channels: Int
    private let sampleRate: Int
    private var ended = false

    /// `mpg123_init` once per process (a no-op in current libmpg123, required by older ones; libsndfile calls it
    /// per file, which its header allows).
    private static let initialised: Bool = mpg123_init() == MPG123_OK.rawValue

    /// Opens `path` for direct decoding, or returns nil when libsndfile should decode it.
    static func make(path: String, info: AudioFileInfo) -> MP3Stream? {
        guard info.format == "MP3", initialised, (1...2).contains(info.channels) else { return nil }
        var error: Int32 = 0
        guard let handle = mpg123_new(nil, &error) else { return nil }
        let stream = MP3Stream(handle: handle, path: path, info: info)
        // libsndfile's parameters, plus QUIET: problems reach us as return codes, not as stderr chatter.
        _ = mpg123_param2(handle, Int32(MPG123_REMOVE_FLAGS.rawValue), Int(MPG123_AUTO_RESAMPLE.rawValue), 1)
        _ = mpg123_param2(
            handle, Int32(MPG123_ADD_FLAGS.rawValue),
            Int(MPG123_FORCE_FLOAT.rawValue | MPG123_GAPLESS.rawValue | MPG123_QUIET.rawValue), 1)
        _ = mpg123_param2(handle, Int32(MPG123_ADD_FLAGS.rawValue), Int(MPG123_NO_FRANKENSTEIN.rawValue), 1)
        var rate = 0, channels: Int32 = 0, encoding: Int32 = 0
        guard mpg123_open(handle, path) == MPG123_OK.rawValue,
            mpg123_getformat(handle, &rate, &channels, &encoding) == MPG123_OK.rawValue,
            rate == info.sampleRate, Int(channels) == info.channels,
            encoding == Int32(MPG123_ENC_FLOAT_32.rawValue)
        else { return nil }
        return stream
    }

    private init(handle: OpaquePointer, path: String, info: AudioFileInfo) {
        self.handle = handle
        self.path = path
        channels = info.channels
        sampleRate = info.sampleRate
    }

    deinit {
        mpg123_close(handle)
        mpg123_delete(handle)
    }

    func read(
        into output: UnsafeMutablePointer<Float>, count: Int, startFrame: Int64
    ) throws(AudioDecodingError)
        -> Int
    {
        let frameBytes = 4 * channels
        var filled = 0
        while filled < count && !ended {
            var done = 0
            let status = mpg123_read(handle, output + filled * channels, (count - filled) * frameBytes, &done)
            filled += done / frameBytes
            switch status {
            case MPG123_OK.rawValue: continue
            case MPG123_DONE.rawValue: ended = true
            default:
                // As libsndfile: a format change mid-stream is a malformed file, anything else libmpg123's error.
                let reason =
                    status == MPG123_NEW_FORMAT.rawValue
                    ? "the stream changes its sample rate or channels" : String(cString: mpg123_strerror(handle))
                throw .readFailed(
                    path: path, atSecond: Double(startFrame + Int64(filled)) / Double(sampleRate),
                    reason: "MP3: \(reason)")
            }
        }
        return filled
    }
}
