internal import CFLAC
internal import CFLACDecoder
import Foundation

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
/// Decoding runs until the frames really end, never to STREAMINFO's total, which a damaged or crafted header can
/// set to anything (days for a few seconds, or fewer samples than the file holds): libFLAC reads the file
/// through `read` below, which hides that total from it (libFLAC would otherwise stop there, as libsndfile
/// does), and our decoder, which stops at the total, hands over to libFLAC when bytes follow it. Bytes after
/// the last frame that are no frame (an ID3v1 tag, junk, a cut-off frame) end the stream quietly, as they did
/// when the total was trusted; damage followed by more frames is still `readFailed`.
///
/// Used by one thread at a time.
final class FLACStream {
    private let decoder: UnsafeMutablePointer<FLAC__StreamDecoder>
    private let path: String
    private let channels: Int
    private let sampleRate: Int
    /// The file libFLAC reads through `flacRead`.
    private let file: UnsafeMutablePointer<FILE>
    /// Where STREAMINFO's 36-bit total-samples field starts in the file (its low nibble, then 4 bytes), which
    /// `flacRead` zeroes ("unknown") so that libFLAC decodes to the end; nil when the scan did not find it.
    private let totalField: Int64?
    /// Bytes `flacRead` has handed libFLAC.
    private var offset: Int64 = 0
    /// An error libFLAC reported that becomes a failure only if another frame follows (else it was trailing bytes).
    private var pendingFailure: String?
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
        guard info.format == "FLAC", (1...8).contains(info.channels) else { return nil }
        guard let file = fopen(path, "rb") else { return nil }
        let (totalField, total) = Self.streamInfoTotal(file)
        guard fseek(file, 0, SEEK_SET) == 0, let decoder = FLAC__stream_decoder_new() else {
            fclose(file)
            return nil
        }
        let stream = FLACStream(decoder: decoder, file: file, totalField: totalField, path: path, info: info)
        let status = FLAC__stream_decoder_init_stream(
            decoder, flacRead, nil, flacTell, nil, flacEOF, flacWrite, flacMetadata, flacError,
            Unmanaged.passUnretained(stream).toOpaque())
        guard status == FLAC__STREAM_DECODER_INIT_STATUS_OK,
            FLAC__stream_decoder_process_until_end_of_metadata(decoder) != 0,
            stream.failure == nil, stream.pendingFailure == nil, (1...24).contains(stream.bitsPerSample)
        else { return nil }
        // Our decoder needs the real total (it stops where libFLAC would stop with it, see the type's comment).
        stream.streamInfo.total_samples = total
        var offset: UInt64 = 0
        if fast, total > 0, FLAC__stream_decoder_get_decode_position(decoder, &offset) != 0 {
            var error: Int32 = 0
            stream.fast = ffd_open_file(path, offset, &stream.streamInfo, &error)
        }
        return stream
    }

    private init(
        decoder: UnsafeMutablePointer<FLAC__StreamDecoder>, file: UnsafeMutablePointer<FILE>,
        totalField: Int64?, path: String, info: AudioFileInfo
    ) {
        self.decoder = decoder
        self.file = file
        self.totalField = totalField
        self.path = path
        channels = info.channels
        sampleRate = info.sampleRate
    }

    /// Finds STREAMINFO's total-samples field: after any ID3v2 tags (libFLAC skips them too), "fLaC", then the
    /// first metadata block, which must be a 34-byte STREAMINFO; the field starts at its byte 13. Returns the
    /// field's file offset and value, or (nil, 0) when the head is not laid out so (libFLAC then decides).
    private static func streamInfoTotal(_ file: UnsafeMutablePointer<FILE>) -> (Int64?, UInt64) {
        var head = [UInt8](repeating: 0, count: 10)
        var at: Int64 = 0
        func read(_ count: Int, at position: Int64) -> Bool {
            head = [UInt8](repeating: 0, count: count)
            return fseeko(file, off_t(position), SEEK_SET) == 0 && fread(&head, 1, count, file) == count
        }
        // ID3v2: "ID3", version, flags, a 28-bit syncsafe size, and a 10-byte footer when flag 0x10 is set.
        while read(10, at: at), head[0] == 0x49, head[1] == 0x44, head[2] == 0x33 {
            let size = head[6..<10].reduce(Int64(0)) { $0 << 7 | Int64($1 & 0x7F) }
            at += 10 + size + (head[5] & 0x10 != 0 ? 10 : 0)
        }
        guard read(26, at: at), head[0..<4].elementsEqual("fLaC".utf8), head[4] & 0x7F == 0,
            head[5] == 0, head[6] == 0, head[7] == 34
        else { return (nil, 0) }
        let total = head[22...25].reduce(UInt64(head[21] & 0x0F)) { $0 << 8 | UInt64($1) }
        return (at + 8 + 13, total)
    }

    /// Whether our decoder is (still) decoding this file; for tests.
    var decodesWithFastDecoder: Bool { fast != nil }

    deinit {
        ffd_close(fast)
        FLAC__stream_decoder_finish(decoder)
        FLAC__stream_decoder_delete(decoder)
        fclose(file)
    }

    /// libFLAC's read callback: the file's bytes, with STREAMINFO's total samples zeroed (see the type's comment).
    fileprivate func read(_ buffer: UnsafeMutablePointer<FLAC__byte>, _ bytes: UnsafeMutablePointer<Int>) -> Bool {
        let got = fread(buffer, 1, bytes.pointee, file)
        bytes.pointee = got
        if let field = totalField, offset < field + 5, offset + Int64(got) > field {
            for i in max(field, offset)..<min(field + 5, offset + Int64(got)) {
                buffer[Int(i - offset)] &= i == field ? 0xF0 : 0
            }
        }
        offset += Int64(got)
        return got > 0
    }

    fileprivate var position: UInt64 { UInt64(offset) }
    fileprivate var atEnd: Bool { feof(file) != 0 }

    /// Fills `output` with up to `count` mono samples; returns how many (fewer only at the end of the stream).
    /// Throws `readFailed` with `atSecond` counted from `startFrame`, the frames already delivered.
    func read(
        into output: UnsafeMutablePointer<Float>, count: Int, startFrame: Int64
    ) throws(AudioDecodingError)
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
            if let fast {
                let blockSize = ffd_decode_frame(fast)
                guard blockSize > 0 else {
                    // STREAMINFO's total reached with nothing after it: the true end.
                    if blockSize == 0 && ffd_at_end(fast) != 0 { break }
                    // Not certain of this frame, or bytes after the declared total (more frames, a tag, junk):
                    // libFLAC takes over from here.
                    ffd_close(fast)
                    self.fast = nil
                    discard = fastFrames
                    continue
                }
                let frames = Int(blockSize)
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
                failure =
                    "decoder stopped in state \(String(cString: FLAC__stream_decoder_get_resolved_state_string(decoder)))"
            }
            if let failure {
                throw .readFailed(
                    path: path, atSecond: Double(startFrame + Int64(written)) / Double(sampleRate),
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
        guard failure == nil, pendingFailure == nil else { return }
        switch status {
        case FLAC__STREAM_DECODER_ERROR_STATUS_LOST_SYNC: failure = "lost sync"
        case FLAC__STREAM_DECODER_ERROR_STATUS_BAD_HEADER: failure = "corrupt frame header"
        case FLAC__STREAM_DECODER_ERROR_STATUS_FRAME_CRC_MISMATCH: failure = "frame CRC mismatch"
        case FLAC__STREAM_DECODER_ERROR_STATUS_UNPARSEABLE_STREAM: failure = "reserved fields in use"
        case FLAC__STREAM_DECODER_ERROR_STATUS_BAD_METADATA: failure = "corrupt metadata block"
        default: failure = "decoder error \(status.rawValue)"
        }
        // Only a frame after the damage makes it a failure (see `write`); at the end it was trailing bytes.
        pendingFailure = failure
        failure = nil
    }

    /// Mixes one decoded frame to mono into `pending`. Returns false to abort decoding.
    fileprivate func write(_ header: FLAC__FrameHeader, _ buffer: UnsafePointer<UnsafePointer<FLAC__int32>?>) -> Bool {
        if failure == nil, let pendingFailure { failure = pendingFailure }
        guard failure == nil else { return false }
        guard Int(header.channels) == channels, Int(header.bits_per_sample) == bitsPerSample,
            Int(header.sample_rate) == sampleRate
        else {
            failure = "a frame changes the channels, sample size or rate of the stream"
            return false
        }
        let frames = Int(header.blocksize)
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

private let flacRead: FLAC__StreamDecoderReadCallback = { _, buffer, bytes, clientData in
    guard let buffer, let bytes else { return FLAC__STREAM_DECODER_READ_STATUS_ABORT }
    if bytes.pointee == 0 { return FLAC__STREAM_DECODER_READ_STATUS_ABORT }
    return stream(clientData).read(buffer, bytes)
        ? FLAC__STREAM_DECODER_READ_STATUS_CONTINUE : FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM
}

private let flacTell: FLAC__StreamDecoderTellCallback = { _, offset, clientData in
    offset?.pointee = stream(clientData).position
    return FLAC__STREAM_DECODER_TELL_STATUS_OK
}

private let flacEOF: FLAC__StreamDecoderEofCallback = { _, clientData in
    stream(clientData).atEnd ? 1 : 0
}

private let flacMetadata: FLAC__StreamDecoderMetadataCallback = { _, block, clientData in
    if let block { stream(clientData).metadata(block) }
}

private let flacError: FLAC__StreamDecoderErrorCallback = { _, status, clientData in
    stream(clientData).error(status)
}
