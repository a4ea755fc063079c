internal import CFLAC
internal import CFLACDecoder

/// A native FLAC file decoded without libsndfile (by our frame decoder, or libFLAC) and mixed to mono `Float`
/// in the same pass.
///
/// libsndfile decodes FLAC through libFLAC too, but then interleaves each frame's channel arrays into its own
/// buffer and converts again on the way out; reading libFLAC's per-channel `Int32` arrays here saves those
/// copies (about 15 % of FLAC decoding time). The samples are the ones libsndfile gives, bit for bit: each
/// channel is exact in `Float` as x / 2^(bits − 1) for up to 24 bits, and the channel mean is computed as
/// `AudioDecoder`'s libsndfile path computes it (`ffd_mix_planes`, shared by both FLAC paths).
///
/// Only the decoding moves here: the file is first opened by libsndfile (`SoundFile`), which validates the
/// header and supplies `AudioFileInfo`, so every open-time error stays what it was. `make` returns nil for
/// anything this path does not cover (more than 24 bits, an unknown length, libFLAC refusing the file) and
/// the caller keeps libsndfile. Decoding errors libsndfile would report at the end of the file (lost sync,
/// bad frame header, CRC mismatch, …) are reported here when they happen, as `readFailed`.
///
/// Frames are decoded by our own decoder (`CFLACDecoder`, about 1.5× as fast as libFLAC on typical files)
/// while it can, and by libFLAC otherwise; the samples are identical. The hand-over is designed so that errors
/// and leniency stay exactly libFLAC's: libFLAC always reads the metadata (so opening behaves as before, and it
/// tells where the first frame starts), and our decoder takes a frame only when it is certain to decode it as
/// libFLAC would (every CRC matches, every field is in range, frame numbers run on, every sample fits the
/// sample size). At the first frame it is not certain of — damage, truncation, an unusual stream — it stops,
/// and libFLAC, still positioned at the first frame, decodes the file from the start and silently drops the
/// frames already handed out (`discard`): they are whole frames and the same samples, so the consumer never
/// sees a sample twice or a gap, and whatever libFLAC then does at the bad frame (an error, or samples) is
/// what it would have done alone. The price is decoding the good prefix twice, on damaged files only. (Were
/// libFLAC to fail inside that prefix, which the differential fuzzer has never seen, the error would name the
/// hand-over position rather than libFLAC's.)
///
/// Used by one thread at a time.
final class FLACStream {
    private let decoder: UnsafeMutablePointer<FLAC__StreamDecoder>
    private let path: String
    private let channels: Int
    private let sampleRate: Int
    /// Frames the header declares; libsndfile never reads past them, and neither do we.
    private var remaining: Int64
    /// STREAMINFO's sample size, once the metadata has been read.
    private var bitsPerSample = 0
    /// The current frame, already mono; `pending[pendingStart..<pendingEnd]` is not handed out yet.
    private var pending: [Float] = []
    private var pendingStart = 0
    private var pendingEnd = 0
    /// Why decoding cannot go on (libFLAC's error callback, or a frame that breaks the stream's parameters).
    private var failure: String?
    /// STREAMINFO, for our decoder.
    private var streamInfo = ffd_stream_info()
    /// Our decoder while it keeps going; nil before `make` opens it and after it hands over to libFLAC.
    private var fast: OpaquePointer?
    /// Frames our decoder has handed out, which libFLAC skips after a hand-over.
    private var fastFrames: Int64 = 0
    /// Frames libFLAC still has to drop (see the type's comment).
    private var discard: Int64 = 0

    /// Opens `path` for direct decoding, or returns nil when libsndfile should decode it. `fast: false` keeps
    /// every frame in libFLAC (for tests comparing the two decoders).
    static func make(path: String, info: AudioFileInfo, fast: Bool = true) -> FLACStream? {
        guard info.format == "FLAC", info.frames > 0, (1...8).contains(info.channels) else { return nil }
        guard let decoder = FLAC__stream_decoder_new() else { return nil }
        let stream = FLACStream(decoder: decoder, path: path, info: info)
        let status = FLAC__stream_decoder_init_file(
            decoder, path, flacWrite, flacMetadata, flacError, Unmanaged.passUnretained(stream).toOpaque())
        guard status == FLAC__STREAM_DECODER_INIT_STATUS_OK,
            FLAC__stream_decoder_process_until_end_of_metadata(decoder) != 0,
            stream.failure == nil, (1...24).contains(stream.bitsPerSample)
        else { return nil }
        var offset: UInt64 = 0
        if fast, stream.streamInfo.total_samples == UInt64(info.frames),
            FLAC__stream_decoder_get_decode_position(decoder, &offset) != 0
        {
            var error: Int32 = 0
            stream.fast = ffd_open_file(path, offset, &stream.streamInfo, &error)
        }
        return stream
    }

    private init(decoder: UnsafeMutablePointer<FLAC__StreamDecoder>, path: String, info: AudioFileInfo) {
        self.decoder = decoder
        self.path = path
        channels = info.channels
        sampleRate = info.sampleRate
        remaining = info.frames
    }

    /// Whether our decoder is (still) decoding this file; for tests.
    var decodesWithFastDecoder: Bool { fast != nil }

    deinit {
        ffd_close(fast)
        FLAC__stream_decoder_finish(decoder)
        FLAC__stream_decoder_delete(decoder)
    }

    /// Fills `output` with up to `count` mono samples; returns how many (fewer only at the end of the stream).
    /// Throws `readFailed` with `atSecond` counted from `startFrame`, the frames already delivered.
    func read(into output: UnsafeMutablePointer<Float>, count: Int, startFrame: Int64) throws(AudioDecodingError)
        -> Int
    {
        var written = 0
        while written < count {
            if pendingStart < pendingEnd {
                let n = min(count - written, pendingEnd - pendingStart)
                pending.withUnsafeBufferPointer { p in
                    (output + written).update(from: p.baseAddress! + pendingStart, count: n)
                }
                pendingStart += n
                written += n
                continue
            }
            if remaining <= 0 { break }
            if let fast {
                let blockSize = ffd_decode_frame(fast)
                guard blockSize > 0 else {
                    // Not certain of this frame (or, impossibly, an early end): libFLAC takes over from here.
                    ffd_close(fast)
                    self.fast = nil
                    discard = fastFrames
                    remaining += fastFrames
                    continue
                }
                let frames = Int(min(Int64(blockSize), remaining))
                remaining -= Int64(frames)
                fastFrames += Int64(frames)
                if count - written >= frames {
                    ffd_mix_mono(fast, output + written, frames)
                    written += frames
                } else {
                    if pending.count < frames { pending = [Float](repeating: 0, count: max(frames, 4_608)) }
                    pending.withUnsafeMutableBufferPointer { ffd_mix_mono(fast, $0.baseAddress!, frames) }
                    pendingStart = 0
                    pendingEnd = frames
                }
                continue
            }
            let ok = FLAC__stream_decoder_process_single(decoder) != 0
            let state = FLAC__stream_decoder_get_state(decoder)
            if failure == nil && (!ok || state.rawValue > FLAC__STREAM_DECODER_END_OF_STREAM.rawValue) {
                failure = "decoder stopped in state \(String(cString: FLAC__stream_decoder_get_resolved_state_string(decoder)))"
            }
            if let failure {
                throw .readFailed(path: path, atSecond: Double(startFrame + Int64(written)) / Double(sampleRate),
                                  reason: "FLAC: \(failure)")
            }
            if pendingStart == pendingEnd && state == FLAC__STREAM_DECODER_END_OF_STREAM { break }
        }
        return written
    }

    fileprivate func metadata(_ block: UnsafePointer<FLAC__StreamMetadata>) {
        guard block.pointee.type == FLAC__METADATA_TYPE_STREAMINFO else { return }
        let streamInfo = block.pointee.data.stream_info
        bitsPerSample = Int(streamInfo.bits_per_sample)
        self.streamInfo = ffd_stream_info(
            sample_rate: streamInfo.sample_rate, channels: streamInfo.channels,
            bits_per_sample: streamInfo.bits_per_sample, min_blocksize: streamInfo.min_blocksize,
            max_blocksize: streamInfo.max_blocksize, total_samples: streamInfo.total_samples)
        if Int(streamInfo.channels) != channels || Int(streamInfo.sample_rate) != sampleRate {
            failure = "STREAMINFO disagrees with the header libsndfile read"
        }
    }

    fileprivate func error(_ status: FLAC__StreamDecoderErrorStatus) {
        guard failure == nil else { return }
        switch status {
        case FLAC__STREAM_DECODER_ERROR_STATUS_LOST_SYNC: failure = "lost sync"
        case FLAC__STREAM_DECODER_ERROR_STATUS_BAD_HEADER: failure = "corrupt frame header"
        case FLAC__STREAM_DECODER_ERROR_STATUS_FRAME_CRC_MISMATCH: failure = "frame CRC mismatch"
        case FLAC__STREAM_DECODER_ERROR_STATUS_UNPARSEABLE_STREAM: failure = "reserved fields in use"
        case FLAC__STREAM_DECODER_ERROR_STATUS_BAD_METADATA: failure = "corrupt metadata block"
        default: failure = "decoder error \(status.rawValue)"
        }
    }

    /// Mixes one decoded frame to mono into `pending`. Returns false to abort decoding.
    fileprivate func write(_ header: FLAC__FrameHeader, _ buffer: UnsafePointer<UnsafePointer<FLAC__int32>?>) -> Bool {
        guard failure == nil else { return false }
        guard Int(header.channels) == channels, Int(header.bits_per_sample) == bitsPerSample,
            Int(header.sample_rate) == sampleRate
        else {
            failure = "a frame changes the channels, sample size or rate of the stream"
            return false
        }
        let frames = Int(min(Int64(header.blocksize), remaining))
        remaining -= Int64(frames)
        if pending.count < frames { pending = [Float](repeating: 0, count: max(frames, 4_608)) }
        var planes: [UnsafePointer<FLAC__int32>?] = []
        for c in 0..<channels {
            guard let plane = buffer[c] else {
                failure = "libFLAC returned no samples for channel \(c)"
                return false
            }
            planes.append(plane)
        }
        planes.withUnsafeBufferPointer { planes in
            pending.withUnsafeMutableBufferPointer { y in
                ffd_mix_planes(planes.baseAddress, UInt32(channels), UInt32(bitsPerSample), y.baseAddress, frames)
            }
        }
        // After a hand-over, drop what our decoder already handed out: whole frames, so this ends on a boundary.
        let dropped = Int(min(discard, Int64(frames)))
        discard -= Int64(dropped)
        pendingStart = dropped
        pendingEnd = frames
        return true
    }
}

private func stream(_ clientData: UnsafeMutableRawPointer?) -> FLACStream {
    Unmanaged<FLACStream>.fromOpaque(clientData!).takeUnretainedValue()
}

private let flacWrite: FLAC__StreamDecoderWriteCallback = { _, frame, buffer, clientData in
    guard let frame, let buffer, stream(clientData).write(frame.pointee.header, buffer) else {
        return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT
    }
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
}

private let flacMetadata: FLAC__StreamDecoderMetadataCallback = { _, block, clientData in
    if let block { stream(clientData).metadata(block) }
}

private let flacError: FLAC__StreamDecoderErrorCallback = { _, status, clientData in
    stream(clientData).error(status)
}
