#pragma once
#include <stddef.h>
#include <stdint.h>

// A fast FLAC frame decoder for the analysis path: native FLAC frames → per-channel int32 samples, or straight
// to the mono Float mix FLACStream produces. It decodes only what it can decode exactly as libFLAC does, and
// reports anything else (malformed input, a feature outside its scope, a file cut short) as an error, so that
// the caller can hand the file to libFLAC, whose behaviour then stays the reference. See FLACStream.swift.

#ifdef __cplusplus
extern "C" {
#endif

/// STREAMINFO fields the frame decoder checks every frame against.
typedef struct ffd_stream_info {
    uint32_t sample_rate;
    uint32_t channels;          ///< 1…8
    uint32_t bits_per_sample;   ///< 4…24 (anything else is refused)
    uint32_t min_blocksize;
    uint32_t max_blocksize;     ///< ≤ 65535
    uint64_t total_samples;     ///< > 0: decoding ends after this many samples per channel
} ffd_stream_info;

typedef struct ffd_decoder ffd_decoder;

/// Error codes (negative). `ffd_error_string` names them.
enum {
    FFD_OK = 0,
    FFD_ERR_UNSUPPORTED = -1,   ///< stream parameters outside this decoder's scope
    FFD_ERR_IO = -2,            ///< open/read failed
    FFD_ERR_TRUNCATED = -3,     ///< the input ends inside a frame, or before total_samples
    FFD_ERR_SYNC = -4,          ///< no frame sync code where a frame must start
    FFD_ERR_HEADER = -5,        ///< reserved or inconsistent frame header field, or header CRC-8 mismatch
    FFD_ERR_SUBFRAME = -6,      ///< reserved subframe type, bad order, bad LPC fields, bad wasted bits
    FFD_ERR_RESIDUAL = -7,      ///< bad residual coding method, partition order, or rice code out of range
    FFD_ERR_RANGE = -8,         ///< a decoded sample outside the subframe's bits per sample
    FFD_ERR_PADDING = -9,       ///< nonzero frame padding bits
    FFD_ERR_CRC = -10,          ///< frame CRC-16 mismatch
    FFD_ERR_NUMBERING = -11,    ///< frame/sample number not the next one expected
    FFD_ERR_MEMORY = -12,
    FFD_ERR_HEADER_CRC = -13,   ///< frame header CRC-8 mismatch
};

/// Opens `path` and positions at byte `first_frame_offset` (the first audio frame, after the metadata).
/// Returns NULL (and sets *error) when the stream parameters are outside this decoder's scope or the file
/// cannot be opened.
ffd_decoder *ffd_open_file(const char *path, uint64_t first_frame_offset, const ffd_stream_info *info, int *error);

/// Decodes frames from a copy of `data[0..<size]`, which starts at the first audio frame.
ffd_decoder *ffd_open_memory(const uint8_t *data, size_t size, const ffd_stream_info *info, int *error);

/// Parses "fLaC" and the metadata blocks (no ID3 tags, STREAMINFO first) for tools that do not use libFLAC
/// for metadata (the benchmark driver and the fuzzer). Returns FFD_OK and the offset of the first frame.
int ffd_parse_metadata(const uint8_t *data, size_t size, ffd_stream_info *info, size_t *first_frame_offset);

void ffd_close(ffd_decoder *decoder);

/// Decodes the next frame. Returns its block size (> 0), 0 once total_samples have been decoded, or an error
/// code (< 0). After an error every later call returns the same error.
int ffd_decode_frame(ffd_decoder *decoder);

/// Channel `channel` of the last decoded frame (block-size samples), after inter-channel decorrelation.
const int32_t *ffd_channel(const ffd_decoder *decoder, uint32_t channel);

/// Writes the channel mean of `count` samples of `channels` planes as Float: x / 2^(bps − 1), summed as
/// libsndfile's own mono mixes sum (see the definition). Both FLAC paths mix through this one function (our
/// frames in `ffd_mix_mono`, libFLAC's in FLACStream's write callback), so their samples cannot drift apart.
void ffd_mix_planes(const int32_t *const *planes, uint32_t channels, uint32_t bits_per_sample, float *out,
                    size_t count);

/// `ffd_mix_planes` over the first `count` samples of the last decoded frame.
void ffd_mix_mono(const ffd_decoder *decoder, float *out, size_t count);

/// Samples per channel decoded so far (whole frames).
uint64_t ffd_samples_decoded(const ffd_decoder *decoder);

/// 1 when no byte follows the last decoded frame (the input is exhausted), else 0. After `ffd_decode_frame`
/// returned 0 (STREAMINFO's total reached) this tells a true end from a total that lies or trailing bytes.
int ffd_at_end(ffd_decoder *decoder);

const char *ffd_error_string(int code);

/// For the differential fuzzer, which repairs CRCs to reach deeper: after FFD_ERR_CRC or FFD_ERR_HEADER_CRC
/// from a memory decoder, the byte range [start, end) of the frame or header whose last bytes are its CRC.
void ffd_crc_failure(const ffd_decoder *decoder, size_t *start, size_t *end);
uint16_t ffd_crc16(const uint8_t *data, size_t size);
uint8_t ffd_crc8(const uint8_t *data, size_t size);

#ifdef __cplusplus
}
#endif
