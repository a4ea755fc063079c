internal import COpusFile
import Foundation

/// An Opus file decoded by libopusfile, to the end of its pages, at 48 kHz.
///
/// libsndfile decodes Opus with libopus as libopusfile does (header gain applied, pre-skip dropped), and for
/// 48 kHz mono or stereo streams the samples are the same bit for bit (`DirectOpusTests`); but, as for Vorbis,
/// it stops at the length it takes from the last page's granule position. libopusfile always decodes at
/// 48 kHz, so `make` returns nil (libsndfile keeps the file) when libsndfile decodes at another rate, for more
/// than two channels (their order could differ), or when libopusfile cannot open the file.
///
/// Used by one thread at a time.
final class OpusStream: InterleavedFloatStream {
    private let file: OpaquePointer
    private let path: String
    private let channels: Int
    private var ended = false

    static func make(path: String, info: AudioFileInfo) -> OpusStream? {
        guard info.format == "Opus", info.sampleRate == 48_000, (1...2).contains(info.channels) else { return nil }
        var error: Int32 = 0
        guard let file = op_open_file(path, &error) else { return nil }
        let stream = OpusStream(file: file, path: path, channels: info.channels)
        guard Int(op_channel_count(file, -1)) == info.channels else { return nil }
        return stream
    }

    private init(file: OpaquePointer, path: String, channels: Int) {
        self.file = file
        self.path = path
        self.channels = channels
    }

    deinit { op_free(file) }

    func read(
        into output: UnsafeMutablePointer<Float>, count: Int, startFrame: Int64
    ) throws(AudioDecodingError)
        -> Int
    {
        var filled = 0
        while filled < count && !ended {
            // A chained file whose next stream has another channel count: libsndfile cannot read it either.
            guard Int(op_channel_count(file, -1)) == channels else {
                throw .readFailed(
                    path: path, atSecond: Double(startFrame + Int64(filled)) / 48_000,
                    reason: "Opus: a chained stream changes its channel count; split it into files")
            }
            let got = op_read_float(
                file, output + filled * channels, Int32(min((count - filled) * channels, 1 << 24)),
                nil)
            if got == 0 {
                ended = true
            } else if got == OP_HOLE {
                continue
            } else if got < 0 {
                throw .readFailed(
                    path: path, atSecond: Double(startFrame + Int64(filled)) / 48_000,
                    reason: "Opus: libopusfile error \(got)")
            } else {
                filled += Int(got)
            }
        }
        return filled
    }
}
