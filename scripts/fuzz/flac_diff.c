// Differential check of our FLAC frame decoder (Sources/CFLACDecoder) against libFLAC, used three ways:
//   * libFuzzer target (scripts/fuzz/build-flac.sh): every input is decoded by both, the way FLACStream uses
//     them (libFLAC reads the metadata and says where the first frame starts; frames until STREAMINFO's
//     total or libFLAC's first error), and every frame ours accepts must equal libFLAC's frame, which libFLAC
//     must have delivered without error. Inputs whose frames fail a CRC are repaired (CRC recomputed) and
//     tried again, so that mutations reach the subframe and residual decoders instead of stopping at CRCs.
//   * check: flac-diff check FILE…    — the same comparison on whole files, prints frames compared.
//   * bench: flac-diff bench FILE…    — decode-only CPU time, libFLAC vs ours, best of 5.
#include <FLAC/stream_decoder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flac_decoder.h"

typedef struct {
    const uint8_t *data;
    size_t size, at;
    // libFLAC's frames as FLACStream takes them
    unsigned channels, bps, rate, min_bs, max_bs;
    uint64_t total;
    int failed;
    int status;                      // libFLAC's first error status, or -1
    size_t frames, samples;          // frames delivered, samples per channel
    int32_t *planes[8];              // concatenated frames per channel (when keep)
    uint32_t *sizes;                 // block size of each delivered frame
    size_t capacity, frame_capacity; // samples / frames
    int keep;
    uint64_t remaining;
} lib_run;

static FLAC__StreamDecoderReadStatus rd(const FLAC__StreamDecoder *d, FLAC__byte *buf, size_t *bytes, void *cd) {
    (void)d;
    lib_run *r = cd;
    size_t n = r->size - r->at < *bytes ? r->size - r->at : *bytes;
    memcpy(buf, r->data + r->at, n);
    r->at += n;
    *bytes = n;
    return n == 0 ? FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM : FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
}

static FLAC__StreamDecoderTellStatus tl(const FLAC__StreamDecoder *d, FLAC__uint64 *off, void *cd) {
    (void)d;
    *off = ((lib_run *)cd)->at;
    return FLAC__STREAM_DECODER_TELL_STATUS_OK;
}

static FLAC__StreamDecoderWriteStatus wr(const FLAC__StreamDecoder *d, const FLAC__Frame *frame,
                                         const FLAC__int32 *const buffer[], void *cd) {
    (void)d;
    lib_run *r = cd;
    if (r->failed) return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    if (frame->header.channels != r->channels || frame->header.bits_per_sample != r->bps ||
        frame->header.sample_rate != r->rate) {
        r->failed = 1;
        return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    size_t n = frame->header.blocksize < r->remaining ? frame->header.blocksize : r->remaining;
    r->remaining -= n;
    if (r->keep) {
        if (r->samples + n > r->capacity) {
            r->capacity = (r->samples + n) * 2;
            for (unsigned c = 0; c < r->channels; c++) r->planes[c] = realloc(r->planes[c], r->capacity * 4);
        }
        if (r->frames + 1 > r->frame_capacity) {
            r->frame_capacity = r->frame_capacity * 2 + 16;
            r->sizes = realloc(r->sizes, r->frame_capacity * 4);
        }
        for (unsigned c = 0; c < r->channels; c++) memcpy(r->planes[c] + r->samples, buffer[c], n * 4);
        r->sizes[r->frames] = frame->header.blocksize;
    }
    r->frames++;
    r->samples += n;
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
}

static void md(const FLAC__StreamDecoder *d, const FLAC__StreamMetadata *m, void *cd) {
    (void)d;
    lib_run *r = cd;
    if (m->type != FLAC__METADATA_TYPE_STREAMINFO) return;
    r->channels = m->data.stream_info.channels;
    r->bps = m->data.stream_info.bits_per_sample;
    r->rate = m->data.stream_info.sample_rate;
    r->min_bs = m->data.stream_info.min_blocksize;
    r->max_bs = m->data.stream_info.max_blocksize;
    r->total = m->data.stream_info.total_samples;
}

static void er(const FLAC__StreamDecoder *d, FLAC__StreamDecoderErrorStatus s, void *cd) {
    (void)d;
    lib_run *r = cd;
    if (!r->failed) r->status = (int)s;
    r->failed = 1;
}

// Runs libFLAC as FLACStream does. Returns the offset of the first frame, or 0 if FLACStream would not use
// libFLAC directly for this input.
static size_t run_libflac(lib_run *r, const uint8_t *data, size_t size, int keep) {
    memset(r, 0, sizeof *r);
    r->data = data;
    r->size = size;
    r->keep = keep;
    r->status = -1;
    FLAC__StreamDecoder *dec = FLAC__stream_decoder_new();
    size_t offset = 0;
    if (FLAC__stream_decoder_init_stream(dec, rd, NULL, tl, NULL, NULL, wr, md, er, r) ==
            FLAC__STREAM_DECODER_INIT_STATUS_OK &&
        FLAC__stream_decoder_process_until_end_of_metadata(dec) && !r->failed && r->bps >= 1 && r->bps <= 24 &&
        r->channels >= 1 && r->channels <= 8 && r->total > 0) {
        FLAC__uint64 pos = 0;
        if (FLAC__stream_decoder_get_decode_position(dec, &pos)) offset = (size_t)pos;
        r->remaining = r->total;
        while (r->remaining > 0 && !r->failed) {
            int ok = FLAC__stream_decoder_process_single(dec);
            FLAC__StreamDecoderState st = FLAC__stream_decoder_get_state(dec);
            if (!ok || st > FLAC__STREAM_DECODER_END_OF_STREAM) r->failed = 1;
            if (st == FLAC__STREAM_DECODER_END_OF_STREAM) break;
        }
    }
    FLAC__stream_decoder_delete(dec);
    return offset;
}

static void free_run(lib_run *r) {
    for (int c = 0; c < 8; c++) free(r->planes[c]);
    free(r->sizes);
}

static ffd_stream_info info_of(const lib_run *r) {
    ffd_stream_info info = {r->rate, r->channels, r->bps, r->min_bs, r->max_bs, r->total};
    return info;
}

// Compares ours with libFLAC on one input. Returns frames ours decoded; aborts on a disagreement. With
// `repair`, a CRC failure of ours is patched in `data` and 1 is returned in *repaired.
static long compare(uint8_t *data, size_t size, int repair, int *repaired, int verbose) {
    *repaired = 0;
    lib_run lib;
    size_t offset = run_libflac(&lib, data, size, 1);
    long frames = 0;
    if (offset > 0 && offset <= size) {
        ffd_stream_info info = info_of(&lib);
        int err = 0;
        ffd_decoder *d = ffd_open_memory(data + offset, size - offset, &info, &err);
        if (d) {
            size_t sample = 0;
            int r;
            while ((r = ffd_decode_frame(d)) > 0) {
                if ((size_t)frames >= lib.frames || lib.sizes[frames] != (uint32_t)r) {
                    fprintf(stderr, "frame %ld: ours decoded %d samples, libFLAC delivered %zu frames%s (status %d)\n",
                            frames, r, lib.frames, lib.failed ? " then failed" : "", lib.status);
                    abort();
                }
                size_t n = (size_t)r < info.total_samples - sample ? (size_t)r : info.total_samples - sample;
                for (unsigned c = 0; c < info.channels; c++)
                    if (memcmp(ffd_channel(d, c), lib.planes[c] + sample, n * 4) != 0) {
                        fprintf(stderr, "frame %ld channel %u differs\n", frames, c);
                        abort();
                    }
                sample += n;
                frames++;
            }
            if (r == 0 && ((size_t)frames != lib.frames || sample != lib.samples)) {
                fprintf(stderr, "ours ended after %ld frames, libFLAC delivered %zu\n", frames, lib.frames);
                abort();
            }
            if (verbose)
                printf("%ld frames equal; ours %s; libFLAC %zu frames%s\n", frames, r == 0 ? "complete" : ffd_error_string(r),
                       lib.frames, lib.failed ? ", then an error" : "");
            if (repair && (r == FFD_ERR_CRC || r == FFD_ERR_HEADER_CRC)) {
                size_t s, e;
                ffd_crc_failure(d, &s, &e);
                uint8_t *f = data + offset;
                if (r == FFD_ERR_CRC && e >= s + 2) {
                    uint16_t c = ffd_crc16(f + s, e - s - 2);
                    f[e - 2] = (uint8_t)(c >> 8);
                    f[e - 1] = (uint8_t)c;
                } else if (e >= s + 1) {
                    f[e - 1] = ffd_crc8(f + s, e - s - 1);
                }
                *repaired = 1;
            }
            ffd_close(d);
        }
    }
    free_run(&lib);
    return frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    int repaired = 1;
    for (int round = 0; round < 16 && repaired; round++) compare(copy, size, 1, &repaired, 0);
    free(copy);
    return 0;
}

#ifdef FLAC_DIFF_MAIN
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint8_t *load(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*size);
    if (fread(b, 1, *size, f) != *size) exit(1);
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: flac-diff check|bench FILE…\n"); return 2; }
    int bench = strcmp(argv[1], "bench") == 0;
    double lib_best_total = 0, ours_best_total = 0;
    for (int i = 2; i < argc; i++) {
        size_t size;
        uint8_t *data = load(argv[i], &size);
        if (!bench) {
            int repaired = 1;
            for (int round = 0; round < 16 && repaired; round++) {
                if (strcmp(argv[1], "repair") == 0) {  // what the next round decodes
                    FILE *out = fopen("repaired.flac", "wb");
                    fwrite(data, 1, size, out);
                    fclose(out);
                }
                printf("%s: ", argv[i]);
                fflush(stdout);
                compare(data, size, strcmp(argv[1], "repair") == 0, &repaired, 1);
            }
            free(data);
            continue;
        }
        double lib_best = 1e9, ours_best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            lib_run lib;
            double t0 = cpu_now();
            size_t offset = run_libflac(&lib, data, size, 0);
            double t1 = cpu_now();
            if (t1 - t0 < lib_best) lib_best = t1 - t0;
            ffd_stream_info info = info_of(&lib);
            free_run(&lib);
            // ours, from the first frame libFLAC found (metadata not timed; libFLAC's time above includes it)
            t0 = cpu_now();
            int err;
            ffd_decoder *d = ffd_open_memory(data + offset, size - offset, &info, &err);
            float mono[65536];
            int r;
            while ((r = ffd_decode_frame(d)) > 0) ffd_mix_mono(d, mono, (size_t)r);
            t1 = cpu_now();
            if (r != 0) { fprintf(stderr, "%s: ours failed: %s\n", argv[i], ffd_error_string(r)); return 1; }
            ffd_close(d);
            if (t1 - t0 < ours_best) ours_best = t1 - t0;
        }
        printf("%s: libFLAC %.2f ms, ours %.2f ms (incl. mono mix), %.2fx\n", argv[i], lib_best * 1e3, ours_best * 1e3,
               lib_best / ours_best);
        lib_best_total += lib_best;
        ours_best_total += ours_best;
        free(data);
    }
    if (bench) printf("total: libFLAC %.1f ms, ours %.1f ms, %.2fx\n", lib_best_total * 1e3, ours_best_total * 1e3,
                      lib_best_total / ours_best_total);
    return 0;
}
#endif
