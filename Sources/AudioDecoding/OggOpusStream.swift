internal import COpusFile
import Foundation

/// A mono or stereo Ogg Opus file (channel mapping family 0, the only one for one or two channels that encoders
/// write) decoded by libopus's single-stream decoder at 48 kHz, to the end of its pages: the samples libopusfile
/// gives (`OpusStream`; pre-skip dropped, header gain applied, the last page trimmed to its granule position),
/// read through libogg.
///
/// Why not libopusfile: it decodes every stream with libopus's multistream decoder, which in libopus 1.3 runs
/// the CPUID instruction on every packet. Under a hypervisor each CPUID is a VM exit; on a KVM guest
/// (Intel Xeon, family 6 model 207) that made decoding 2.3× slower than the single-stream decoder (2.29 s
/// against 0.98 s of CPU for 360 s of 128 kb/s stereo) and Opus files the costliest part of `retrieve index`.
///
/// `make` returns nil (libopusfile or libsndfile keeps the file) for anything else: another mapping family, a
/// stream whose first audio page says samples before it were cut off (a start offset, which libopusfile
/// handles), or a file libogg cannot parse. Chained files (one stream after another) are decoded link by link,
/// each with its own pre-skip and gain; a link with another channel count is an error, as in `OpusStream`.
///
/// Used by one thread at a time.
final class OggOpusStream: InterleavedFloatStream {
    private let path: String
    private let channels: Int
    private let file: UnsafeMutablePointer<FILE>
    private var sync = ogg_sync_state()
    private var stream = ogg_stream_state()
    private var streamReady = false
    private var decoder: OpaquePointer?
    /// Samples (per channel) still to drop at the start of the current link.
    private var toSkip = 0
    /// Samples (per channel) of the current link decoded so far, pre-skip included: what granule positions count.
    private var linkSamples: Int64 = 0
    /// Decoded samples not yet handed out, interleaved, from `pendingStart`.
    private var pending = [Float](repeating: 0, count: 5_760 * 2)
    private var pendingStart = 0
    private var pendingCount = 0
    private var ended = false

    static func make(path: String, info: AudioFileInfo) -> OggOpusStream? {
        guard info.format == "Opus", info.sampleRate == 48_000, (1...2).contains(info.channels) else { return nil }
        guard let stream = OggOpusStream(path: path, channels: info.channels), (try? stream.startIsPlain()) == true
        else { return nil }
        stream.rewind()
        return (try? stream.openLink()) == true ? stream : nil
    }

    private init?(path: String, channels: Int) {
        guard let file = fopen(path, "rb") else { return nil }
        self.path = path
        self.channels = channels
        self.file = file
        ogg_sync_init(&sync)
    }

    deinit {
        if let decoder { opus_decoder_destroy(decoder) }
        if streamReady { ogg_stream_clear(&stream) }
        ogg_sync_clear(&sync)
        fclose(file)
    }

    /// Back to the start of the file, as just opened (after `startIsPlain` looked at the first pages).
    private func rewind() {
        if streamReady { ogg_stream_clear(&stream) }
        streamReady = false
        ogg_sync_reset(&sync)
        Foundation.rewind(file)
    }

    /// The next page of the file, or nil at its end.
    private func nextPage() -> ogg_page? {
        var page = ogg_page()
        while true {
            let status = ogg_sync_pageout(&sync, &page)
            if status == 1 { return page }
            if status < 0 { continue }  // bytes skipped to the next capture pattern
            guard let buffer = ogg_sync_buffer(&sync, 65_536) else { return nil }
            let read = fread(buffer, 1, 65_536, file)
            guard read > 0 else { return nil }
            ogg_sync_wrote(&sync, read)
        }
    }

    /// A packet's bytes point into libogg's stream buffer: valid until the next `nextPacket` call, so each is used
    /// (decoded, parsed) before the next is asked for, and never copied.
    private enum Packet {
        case packet(data: UnsafeBufferPointer<UInt8>, granule: Int64, last: Bool)
        case hole
        case end
    }

    /// The next packet of the current logical stream; a page of another stream that begins (a chained link)
    /// starts a new stream state, and `newLink` tells the caller.
    private func nextPacket(newLink: inout Bool) -> Packet {
        var packet = ogg_packet()
        while true {
            if streamReady {
                let status = ogg_stream_packetout(&stream, &packet)
                if status == 1 {
                    let data = UnsafeBufferPointer(start: packet.packet, count: packet.bytes)
                    return .packet(data: data, granule: packet.granulepos, last: packet.e_o_s != 0)
                }
                if status < 0 { return .hole }
            }
            guard var page = nextPage() else { return .end }
            let serial = ogg_page_serialno(&page)
            if !streamReady || (ogg_page_bos(&page) != 0 && serial != stream.serialno) {
                guard ogg_page_bos(&page) != 0 else { continue }  // pages before the first stream begins
                if streamReady { ogg_stream_clear(&stream) }
                ogg_stream_init(&stream, serial)
                streamReady = true
                newLink = true
            }
            if serial == stream.serialno { ogg_stream_pagein(&stream, &page) }
        }
    }

    private struct Malformed: Error {}

    /// Reads the first link's OpusHead and OpusTags and sets up its decoder; false at the end of the file.
    private func openLink() throws -> Bool {
        var newLink = false
        guard case .packet(let head, _, _) = nextPacket(newLink: &newLink) else { return false }
        try setUpLink(head: head)
        return true
    }

    /// Sets up the link whose OpusHead packet is `head`: reads its OpusTags packet and makes a decoder with its
    /// gain; the link's first `pre-skip` samples will be dropped. `head` is read before the next packet is.
    private func setUpLink(head: UnsafeBufferPointer<UInt8>) throws {
        guard head.count >= 19, head.prefix(8).elementsEqual("OpusHead".utf8), head[8] & 0xF0 == 0, head[18] == 0,
            Int(head[9]) == channels
        else { throw Malformed() }
        let preSkip = Int(head[10]) | Int(head[11]) << 8
        let gain = Int(Int16(bitPattern: UInt16(head[16]) | UInt16(head[17]) << 8))
        var newLink = false
        guard case .packet(let tags, _, _) = nextPacket(newLink: &newLink), !newLink,
            tags.starts(with: Array("OpusTags".utf8))
        else { throw Malformed() }
        if let decoder { opus_decoder_destroy(decoder) }
        var error: Int32 = 0
        decoder = opus_decoder_create(48_000, Int32(channels), &error)
        guard let decoder, error == OPUS_OK, retrieve_opus_set_gain(decoder, Int32(gain)) == OPUS_OK else {
            throw Malformed()
        }
        toSkip = preSkip
        linkSamples = 0
    }

    /// Whether the first audio page's granule position is what its packets add up to (pre-skip included), i.e.
    /// the stream starts at its beginning; libopusfile handles the rest (a start offset).
    private func startIsPlain() throws -> Bool {
        guard try openLink(), let decoder else { return false }
        var samples: Int64 = 0
        var newLink = false
        while true {
            switch nextPacket(newLink: &newLink) {
            case .end, .hole: return false
            case .packet(let data, let granule, let last):
                guard !data.isEmpty else { return false }
                let n = opus_decoder_get_nb_samples(decoder, data.baseAddress!, Int32(data.count))
                guard n > 0 else { return false }
                samples += Int64(n)
                // A first page that is also the last may be trimmed at its end: that is the end rule, not a start.
                if granule >= 0 { return last || granule == samples }
            }
        }
    }

    /// Decodes the next packet into `pending`; false at the end of the file.
    private func decodeNext(startFrame: Int64) throws(AudioDecodingError) -> Bool {
        while true {
            var newLink = false
            let next = nextPacket(newLink: &newLink)
            if newLink {
                // Another link begins (a chained file): `next` is its OpusHead.
                do {
                    guard case .packet(let head, _, _) = next else { return false }
                    try setUpLink(head: head)
                } catch {
                    throw .readFailed(
                        path: path, atSecond: Double(startFrame) / 48_000,
                        reason: "Opus: a chained stream changes its channel count or has a bad header; "
                            + "split it into files")
                }
                continue
            }
            switch next {
            case .end: return false
            case .hole: continue
            case .packet(let data, let granule, let last):
                // An empty packet carries no samples (libopusfile skips it too).
                guard let decoder, !data.isEmpty else { continue }
                let n = pending.withUnsafeMutableBufferPointer { p in
                    opus_decode_float(decoder, data.baseAddress!, Int32(data.count), p.baseAddress!, 5_760, 0)
                }
                guard n >= 0 else {
                    throw .readFailed(
                        path: path, atSecond: Double(startFrame) / 48_000, reason: "Opus: libopus error \(n)")
                }
                var keep = Int(n)
                let before = linkSamples
                linkSamples += Int64(n)
                // The last page's granule position is the link's length (pre-skip included): trim this packet to it.
                if last && granule >= 0 { keep = Int(max(0, min(Int64(keep), granule - before))) }
                let dropped = min(toSkip, keep)
                toSkip -= dropped
                pendingStart = dropped * channels
                pendingCount = (keep - dropped) * channels
                if pendingCount > 0 { return true }
            }
        }
    }

    func read(
        into output: UnsafeMutablePointer<Float>, count: Int, startFrame: Int64
    ) throws(AudioDecodingError)
        -> Int
    {
        var filled = 0
        while filled < count {
            if pendingCount == 0 {
                if ended { break }
                if try !decodeNext(startFrame: startFrame + Int64(filled)) {
                    ended = true
                    break
                }
            }
            let take = min(pendingCount / channels, count - filled)
            pending.withUnsafeBufferPointer { p in
                (output + filled * channels).update(from: p.baseAddress! + pendingStart, count: take * channels)
            }
            pendingStart += take * channels
            pendingCount -= take * channels
            filled += take
        }
        return filled
    }
}
