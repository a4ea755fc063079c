internal import CVorbisFile
import Foundation

/// A codec library that decodes a file to its end as interleaved `Float` frames, used instead of libsndfile's
/// reader, which stops at the length it takes from the header (`MP3Stream`, `VorbisStream`, `OpusStream`).
protocol InterleavedFloatStream: AnyObject {
    /// Fills `output` with up to `count` interleaved frames; returns how many (fewer only at the end of the
    /// stream). Throws `readFailed` with `atSecond` counted from `startFrame`, the frames already delivered.
    func read(
        into output: UnsafeMutablePointer<Float>, count: Int, startFrame: Int64
    ) throws(AudioDecodingError)
        -> Int
}

/// An OGG/Vorbis file decoded by libvorbisfile, to the end of its pages.
///
/// libsndfile decodes Vorbis with libvorbis as libvorbisfile does, and the samples are the same bit for bit
/// (`DirectVorbisTests`); but it stops at the length it takes from the last page's granule position, so a file
/// whose last granule is smaller than its audio (a damaged or crafted last page) lost the rest. (Where that
/// position cannot be found, after a tag or junk was appended or the file was cut, libsndfile claims 2⁶³ frames
/// and reads to the end: harmless for reading, but not a length; `AudioDecoder` counts what it decodes.)
/// Interruptions in the data (`OV_HOLE`: garbage between pages, a lost and recaptured sync) are skipped as
/// libsndfile skips them. `make` returns nil when libvorbisfile cannot open the file or opens it with another
/// rate or channel count than libsndfile, and the caller keeps libsndfile.
///
/// Used by one thread at a time.
final class VorbisStream: InterleavedFloatStream {
    private let file: UnsafeMutablePointer<OggVorbis_File>
    private let path: String
    private let channels: Int
    private let sampleRate: Int
    private var ended = false

    static func make(path: String, info: AudioFileInfo) -> VorbisStream? {
        guard info.format == "OGG/Vorbis" else { return nil }
        let file = UnsafeMutablePointer<OggVorbis_File>.allocate(capacity: 1)
        guard ov_fopen(path, file) == 0 else {
            file.deallocate()
            return nil
        }
        let stream = VorbisStream(file: file, path: path, info: info)
        guard let vi = ov_info(file, -1), vi.pointee.rate == info.sampleRate, Int(vi.pointee.channels) == info.channels
        else { return nil }
        return stream
    }

    private init(file: UnsafeMutablePointer<OggVorbis_File>, path: String, info: AudioFileInfo) {
        self.file = file
        self.path = path
        channels = info.channels
        sampleRate = info.sampleRate
    }

    deinit {
        ov_clear(file)
        file.deallocate()
    }

    func read(
        into output: UnsafeMutablePointer<Float>, count: Int, startFrame: Int64
    ) throws(AudioDecodingError)
        -> Int
    {
        var filled = 0
        while filled < count && !ended {
            var planes: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?
            var section: Int32 = 0
            let got = ov_read_float(file, &planes, Int32(min(count - filled, 1 << 20)), &section)
            if got == 0 {
                ended = true
                break
            }
            if got == Int(OV_HOLE) { continue }
            func failure(_ reason: String) -> AudioDecodingError {
                .readFailed(
                    path: path, atSecond: Double(startFrame + Int64(filled)) / Double(sampleRate),
                    reason: "Vorbis: \(reason)")
            }
            guard got > 0, let planes else { throw failure("libvorbisfile error \(got)") }
            // A chained file whose later stream has another layout: libsndfile cannot read it either.
            guard let vi = ov_info(file, -1), Int(vi.pointee.channels) == channels, vi.pointee.rate == sampleRate else {
                throw failure("a chained stream changes its sample rate or channels; split it into files")
            }
            let n = Int(got)
            for c in 0..<channels {
                guard let plane = planes[c] else { throw failure("no samples for channel \(c)") }
                let out = output + filled * channels + c
                for i in 0..<n { out[i * channels] = plane[i] }
            }
            filled += n
        }
        return filled
    }
}
