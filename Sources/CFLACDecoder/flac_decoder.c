// A FLAC frame decoder tuned for the analysis path. Design notes (the why; the what is the FLAC format):
//
// * Bits are read MSB-first through a 64-bit cache refilled branch-free from an 8-byte big-endian load
//   ("variant 4" of the classic bit-reader designs): after a refill at least 56 bits are valid, so a rice code
//   whose unary part and low bits fit (nearly all of them) costs one count-leading-zeros and two shifts, and
//   no function call per residual, which is where libFLAC spends a fifth of its time.
// * Every read is bounded: the input buffer carries FFD_PAD zero bytes past its data, the refill pointer is
//   checked against that slack, unary runs are bounded, and every count taken from the stream (block size,
//   partition sizes, predictor order, bits per sample) is checked before it sizes a loop. A frame that runs
//   past the data read so far is retried with more data; past the end of the file it is an error.
// * Only what this decoder can decode exactly as libFLAC does is accepted; anything else is an error, and the
//   caller gives the file to libFLAC. In particular every decoded sample must fit its subframe's bits per
//   sample: for such samples neither libFLAC's 32-bit nor its 64-bit LPC accumulation can overflow, so the
//   choice between them cannot change a result, and ours is free (32-bit when bps + bit length of Σ|coeff|
//   ≤ 32, 64-bit otherwise).
// * Frame numbers must be exactly the next expected ones (samples decoded so far), so that where libFLAC
//   would stop (at STREAMINFO's total_samples, counted from frame numbers) we stop too.
#include "flac_decoder.h"

#include <errno.h>
#include <pthread.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#pragma STDC FP_CONTRACT OFF

#define FFD_PAD 64
#define FFD_CHUNK (1u << 18)
#define FFD_MAX_BUFFER (64u << 20)

struct ffd_decoder {
    ffd_stream_info info;
    int fd;
    int eof;
    int error;
    uint8_t *buf;
    size_t cap;   // bytes of data buf can hold (plus FFD_PAD)
    size_t pos;   // start of the next frame
    size_t len;   // bytes of data in buf
    uint64_t decoded;
    uint32_t blocksize;  // of the last decoded frame
    int32_t *channel[8];
    size_t fail_start, fail_end;  // the bytes a failed CRC covered (and the CRC), for the fuzzer
};

// ---------------------------------------------------------------------------------------------------------
// CRC-8 (poly 0x07) for frame headers, CRC-16 (poly 0x8005, MSB first) slice-by-16 for whole frames.

static uint8_t crc8_table[256];
static uint16_t crc16_table[16][256];

#if defined(__x86_64__)
static int have_clmul, have_avx512dq;
static uint64_t fold_hi, fold_lo, fold4_hi, fold4_lo;
static uint32_t x_pow_mod(int n);
#endif

static void init_tables(void) {
    for (int i = 0; i < 256; i++) {
        uint8_t c = (uint8_t)i;
        for (int b = 0; b < 8; b++) c = (uint8_t)((c & 0x80) ? (c << 1) ^ 0x07 : c << 1);
        crc8_table[i] = c;
        uint16_t d = (uint16_t)(i << 8);
        for (int b = 0; b < 8; b++) d = (uint16_t)((d & 0x8000) ? (d << 1) ^ 0x8005 : d << 1);
        crc16_table[0][i] = d;
    }
#if defined(__x86_64__)
    have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("ssse3");
    have_avx512dq = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    fold_hi = x_pow_mod(192);
    fold_lo = x_pow_mod(128);
    fold4_hi = x_pow_mod(576);
    fold4_lo = x_pow_mod(512);
#endif
    for (int k = 1; k < 16; k++)
        for (int i = 0; i < 256; i++) {
            uint16_t prev = crc16_table[k - 1][i];
            crc16_table[k][i] = (uint16_t)((prev << 8) ^ crc16_table[0][prev >> 8]);
        }
}



static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

// CRC-16 by carry-less multiplication (PCLMULQDQ, chosen at run time): 16-byte blocks are folded into a
// 128-bit remainder R ≡ the bytes so far (mod P), R·x¹²⁸ ≡ hi(R)·(x¹⁹² mod P) + lo(R)·(x¹²⁸ mod P); at the end
// the table CRC of R's own 16 bytes is the CRC of everything folded (the two are congruent mod P), and the
// table goes on over the tail. A fraction of a cycle per byte against slice-by-16's ~1.
// Four remainders fold 64-byte blocks side by side (each by x⁵¹², constants x⁵⁷⁶ and x⁵¹² mod P): one chain of
// multiply + xor per 16 bytes was the limit (about 6 cycles, 2.7 bytes a cycle); four chains overlap. They are
// combined at the end as ((R₀·x¹²⁸ + R₁)·x¹²⁸ + R₂)·x¹²⁸ + R₃.
#if defined(__x86_64__)
#include <immintrin.h>
// fold_hi = x^192 mod P, fold_lo = x^128 mod P, fold4_hi = x^576 mod P, fold4_lo = x^512 mod P (set with
// have_clmul in init_tables)

static uint32_t x_pow_mod(int n) {
    uint32_t r = 1;
    while (n--) {
        r <<= 1;
        if (r & 0x10000) r ^= 0x18005;
    }
    return r;
}

static uint16_t crc16_tail(uint32_t c, const uint8_t *p, size_t n);

__attribute__((target("pclmul,ssse3"))) static inline __m128i fold(__m128i r, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(r, k, 0x11), _mm_clmulepi64_si128(r, k, 0x00)), next);
}

// n ≥ 64.
__attribute__((target("pclmul,ssse3")))
static uint16_t crc16_clmul(const uint8_t *p, size_t n) {
    const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i k = _mm_set_epi64x((long long)fold_hi, (long long)fold_lo);
#define LOAD(q) _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(q)), reverse)
    __m128i r0 = LOAD(p), r1 = LOAD(p + 16), r2 = LOAD(p + 32), r3 = LOAD(p + 48);
    p += 64;
    n -= 64;
    const __m128i k4 = _mm_set_epi64x((long long)fold4_hi, (long long)fold4_lo);
    while (n >= 64) {
        r0 = fold(r0, k4, LOAD(p));
        r1 = fold(r1, k4, LOAD(p + 16));
        r2 = fold(r2, k4, LOAD(p + 32));
        r3 = fold(r3, k4, LOAD(p + 48));
        p += 64;
        n -= 64;
    }
    __m128i r = fold(fold(fold(r0, k, r1), k, r2), k, r3);
    while (n >= 16) {
        r = fold(r, k, LOAD(p));
        p += 16;
        n -= 16;
    }
#undef LOAD
    uint8_t bytes[16];
    _mm_storeu_si128((__m128i *)bytes, _mm_shuffle_epi8(r, reverse));
    uint32_t c = crc16_tail(0, bytes, 16);
    return crc16_tail(c, p, n);
}
#endif

static uint8_t crc8(const uint8_t *p, size_t n) {
    uint8_t c = 0;
    for (size_t i = 0; i < n; i++) c = crc8_table[c ^ p[i]];
    return c;
}

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

// Slice-by-16: the CRC state enters only the first two of 16 independent table lookups per 16 bytes, so the
// loop-carried dependency (lookups → xor tree → next state) is paid once per 16 bytes.
static uint16_t crc16_tail(uint32_t c, const uint8_t *p, size_t n) {
    while (n >= 16) {
        uint64_t v = load_be64(p) ^ ((uint64_t)c << 48), w = load_be64(p + 8);
        c = crc16_table[15][v >> 56] ^ crc16_table[14][(v >> 48) & 255] ^ crc16_table[13][(v >> 40) & 255] ^
            crc16_table[12][(v >> 32) & 255] ^ crc16_table[11][(v >> 24) & 255] ^ crc16_table[10][(v >> 16) & 255] ^
            crc16_table[9][(v >> 8) & 255] ^ crc16_table[8][v & 255] ^ crc16_table[7][w >> 56] ^
            crc16_table[6][(w >> 48) & 255] ^ crc16_table[5][(w >> 40) & 255] ^ crc16_table[4][(w >> 32) & 255] ^
            crc16_table[3][(w >> 24) & 255] ^ crc16_table[2][(w >> 16) & 255] ^ crc16_table[1][(w >> 8) & 255] ^
            crc16_table[0][w & 255];
        p += 16;
        n -= 16;
    }
    while (n >= 8) {
        uint64_t v = load_be64(p) ^ ((uint64_t)c << 48);
        c = crc16_table[7][v >> 56] ^ crc16_table[6][(v >> 48) & 255] ^ crc16_table[5][(v >> 40) & 255] ^
            crc16_table[4][(v >> 32) & 255] ^ crc16_table[3][(v >> 24) & 255] ^ crc16_table[2][(v >> 16) & 255] ^
            crc16_table[1][(v >> 8) & 255] ^ crc16_table[0][v & 255];
        p += 8;
        n -= 8;
    }
    while (n--) c = ((c << 8) ^ crc16_table[0][((c >> 8) ^ *p++) & 255]) & 0xFFFF;
    return (uint16_t)c;
}

static uint16_t crc16(const uint8_t *p, size_t n) {
#if defined(__x86_64__)
    if (have_clmul && n >= 64) return crc16_clmul(p, n);
#endif
    return crc16_tail(0, p, n);
}

// ---------------------------------------------------------------------------------------------------------
// Bit reader. Invariant: cache bits [0, count) are the next unread bits (MSB first); any set bit below them
// is the true stream bit at that place; stream bit `count` of the cache is the first bit of byte *p.

typedef struct {
    uint64_t cache;
    uint32_t count;
    int bad;  // read past the slack; results are garbage and the frame is rejected
    const uint8_t *p;
    const uint8_t *limit;  // p may not pass this (data end + 8): loads at p stay within the padding
} bitreader;

static inline void br_refill(bitreader *b) {
    if (__builtin_expect(b->p > b->limit, 0)) {
        b->bad = 1;
        b->p = b->limit;
    }
    b->cache |= load_be64(b->p) >> b->count;
    b->p += (63 - b->count) >> 3;
    b->count |= 56;
}

// 1 ≤ n ≤ 32
static inline uint32_t br_bits(bitreader *b, uint32_t n) {
    if (b->count < n) br_refill(b);
    uint32_t v = (uint32_t)(b->cache >> (64 - n));
    b->cache <<= n;
    b->count -= n;
    return v;
}

static inline int32_t br_sbits(bitreader *b, uint32_t n) {
    uint32_t v = br_bits(b, n);
    return (int32_t)(v << (32 - n)) >> (32 - n);
}

// Zeros before the next 1 (the 1 is consumed); returns -1 past `max` zeros or past the data.
static int64_t br_unary(bitreader *b, uint64_t max) {
    uint64_t zeros = 0;
    for (;;) {
        if (b->count == 0) br_refill(b);
        if (b->bad) return -1;
        uint64_t valid = b->cache >> (64 - b->count);  // count ≥ 1
        if (valid) {
            uint32_t z = (uint32_t)__builtin_clzll(b->cache);
            zeros += z;
            if (zeros > max) return -1;
            b->cache <<= z;
            b->cache <<= 1;
            b->count -= z + 1;
            return (int64_t)zeros;
        }
        zeros += b->count;
        if (zeros > max) return -1;
        b->cache = 0;
        b->count = 0;
    }
}

// Bits consumed since `start`.
static inline uint64_t br_position(const bitreader *b, const uint8_t *start) {
    return (uint64_t)(b->p - start) * 8 - b->count;
}

// ---------------------------------------------------------------------------------------------------------
// Residuals

// Rice codes, n of them with parameter k ≤ 30, into out. Returns 0 or FFD_ERR_RESIDUAL.
// After each refill (≥ 56 valid bits) a fixed number of codes is decoded, as many as typically fit (so the
// only data-dependent branch, "this code does not fit", is almost never taken and the loop runs without
// mispredictions); a code that does not fit takes the general path, which refills as often as it needs.
// Cloned for x86-64-v3 on Linux (chosen at load time by an ifunc): LZCNT and BMI2's flag-free shifts shorten the
// per-code dependency chain; the portable clone stays for older CPUs.
#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
static int rice_block(bitreader *br, int32_t *out, uint32_t n, uint32_t k) {
    uint64_t cache = br->cache;
    uint32_t count = br->count;
    const uint8_t *p = br->p;
    const uint8_t *limit = br->limit;
    uint64_t wide = 0;  // OR of every code value: one above 32 bits is an error
    uint32_t per = 48 / (k + 4);
    if (per > 8) per = 8;
    if (per < 1) per = 1;
    uint32_t i = 0;
    while (i < n) {
        if (__builtin_expect(p > limit, 0)) goto bad;
        cache |= load_be64(p) >> count;
        p += (63 - count) >> 3;
        count |= 56;
        uint32_t group = n - i < per ? n - i : per;
        for (uint32_t m = 0; m < group; m++) {
            // LZCNT on the v3 clone (64 for an empty cache, which then does not fit); BSR + CMOV elsewhere.
            uint32_t z = (uint32_t)__builtin_clzg(cache, 64);
            if (__builtin_expect(z + 1 + k > count, 0)) {
                br->cache = cache;
                br->count = count;
                br->p = p;
                int64_t zeros = br_unary(br, 0xFFFFFFFFu >> k);
                if (zeros < 0) goto bad_synced;
                uint32_t low = k ? br_bits(br, k) : 0;
                if (br->bad) goto bad_synced;
                out[i++] = (int32_t)(((uint32_t)zeros << k) | low);  // folded to signed below
                cache = br->cache;
                count = br->count;
                p = br->p;
                break;
            }
            // The loop-carried chain is LZCNT → add → shift (3 cycles); the value comes off it. The shift is
            // below 64: the code fits, so z + 1 + k ≤ count ≤ 63.
            uint64_t t = cache << z;  // MSB: the unary terminator; then the k low bits
            uint64_t u = (((uint64_t)z - 1) << k) + (t >> (63 - k));
            uint32_t used = z + 1 + k;
            cache <<= used & 63;
            count -= used;
            wide |= u;
            out[i++] = (int32_t)(uint32_t)u;
        }
    }
    br->cache = cache;
    br->count = count;
    br->p = p;
    // Zigzag to signed in one vectorised pass, off the decoding chain.
    for (uint32_t j = 0; j < n; j++) {
        uint32_t u = (uint32_t)out[j];
        out[j] = (int32_t)(u >> 1) ^ -(int32_t)(u & 1);
    }
    return (wide >> 32) ? FFD_ERR_RESIDUAL : 0;
bad:
    br->cache = cache;
    br->count = count;
    br->p = p;
bad_synced:
    br->bad |= br->p > br->limit;
    return FFD_ERR_RESIDUAL;
}

static int read_residual(bitreader *br, int32_t *out, uint32_t blocksize, uint32_t order) {
    uint32_t method = br_bits(br, 2);
    if (method > 1) return FFD_ERR_RESIDUAL;
    uint32_t param_bits = method ? 5 : 4, escape = method ? 31 : 15;
    uint32_t partition_order = br_bits(br, 4);
    uint32_t partitions = 1u << partition_order;
    uint32_t size = blocksize >> partition_order;
    // libFLAC 1.4 refuses an empty first partition (size = order), which its encoder never writes.
    if ((blocksize & (partitions - 1)) || size <= order) return FFD_ERR_RESIDUAL;
    int32_t *r = out + order;
    for (uint32_t part = 0; part < partitions; part++) {
        uint32_t n = part == 0 ? size - order : size;
        uint32_t k = br_bits(br, param_bits);
        if (k == escape) {
            uint32_t raw = br_bits(br, 5);
            if (raw == 0) {
                memset(r, 0, sizeof(int32_t) * n);
            } else {
                for (uint32_t i = 0; i < n; i++) r[i] = br_sbits(br, raw);
            }
        } else {
            int e = rice_block(br, r, n, k);
            if (e) return e;
        }
        if (br->bad) return FFD_ERR_TRUNCATED;
        r += n;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Prediction. x[0..<order] are warm-up samples, x[order..<n] hold residuals and become samples.

#define U32(v) ((uint32_t)(v))

static void restore_fixed(int32_t *x, uint32_t n, uint32_t order) {
    switch (order) {
    case 0: break;
    case 1:
        for (uint32_t i = 1; i < n; i++) x[i] = (int32_t)(U32(x[i]) + U32(x[i - 1]));
        break;
    case 2:
        for (uint32_t i = 2; i < n; i++) x[i] = (int32_t)(U32(x[i]) + 2 * U32(x[i - 1]) - U32(x[i - 2]));
        break;
    case 3:
        for (uint32_t i = 3; i < n; i++)
            x[i] = (int32_t)(U32(x[i]) + 3 * (U32(x[i - 1]) - U32(x[i - 2])) + U32(x[i - 3]));
        break;
    case 4:
        for (uint32_t i = 4; i < n; i++)
            x[i] = (int32_t)(U32(x[i]) + 4 * (U32(x[i - 1]) + U32(x[i - 3])) - 6 * U32(x[i - 2]) - U32(x[i - 4]));
        break;
    }
}

// 32-bit accumulation (wrapping: only reached when in-range samples cannot overflow it).
#define LPC32_ORDER(ORDER)                                                                                   \
    static void lpc32_##ORDER(int32_t *x, uint32_t n, const int32_t *c, int shift) {                        \
        for (uint32_t i = ORDER; i < n; i++) {                                                               \
            uint32_t sum = 0;                                                                                \
            for (int j = 0; j < ORDER; j++) sum += U32(c[j]) * U32(x[i - 1 - j]);                            \
            x[i] = (int32_t)(U32(x[i]) + U32((int32_t)sum >> shift));                                        \
        }                                                                                                    \
    }
LPC32_ORDER(1) LPC32_ORDER(2)

// Orders 3…32, two outputs per step: the terms of lags ≥ 3 are computed for outputs i and i + 1 at once, one
// 64-bit multiply per coefficient on the packed pair (x[i−j], x[i+1−j]) = lo + hi·2³², whose sum is
// A + B·2³² with A and B the two 32-bit sums (|A|, |B| < 2³¹ under the 32-bit rule, so A is the low half read
// as signed and B what remains). One scalar multiply per cycle was the limit (order multiplies per sample);
// this needs (order + 2) / 2. Lags 1 and 2 stay scalar so the newest samples never wait inside a packed
// product, and the packed pairs rotate through registers (generated code: written as loops over arrays, the
// compiler kept them in memory and lost the gain).
static inline uint64_t pack2(uint32_t lo, uint32_t hi) { return (uint64_t)(int64_t)(int32_t)lo + ((uint64_t)hi << 32); }

#include "lpc_paired_generated.h"  // lpc32p_3 … lpc32p_32, written by scripts/generate-lpc-paired

// 64-bit sums (24-bit audio with fine coefficients), one function per order so that the loop over the
// coefficients unrolls with them in registers: the generic loop was slower than libFLAC on 24-bit files.
#define LPC64_ORDER(ORDER)                                                                                   \
    static void lpc64_##ORDER(int32_t *x, uint32_t n, const int32_t *c, int shift) {                        \
        for (uint32_t i = ORDER; i < n; i++) {                                                               \
            int64_t sum = 0;                                                                                 \
            for (int j = 0; j < ORDER; j++) sum += (int64_t)c[j] * x[i - 1 - j];                             \
            x[i] = (int32_t)(U32(x[i]) + U32((uint64_t)(sum >> shift)));                                     \
        }                                                                                                    \
    }
LPC64_ORDER(1) LPC64_ORDER(2) LPC64_ORDER(3) LPC64_ORDER(4) LPC64_ORDER(5) LPC64_ORDER(6) LPC64_ORDER(7) LPC64_ORDER(8) LPC64_ORDER(9) LPC64_ORDER(10) LPC64_ORDER(11) LPC64_ORDER(12) LPC64_ORDER(13) LPC64_ORDER(14) LPC64_ORDER(15) LPC64_ORDER(16) LPC64_ORDER(17) LPC64_ORDER(18) LPC64_ORDER(19) LPC64_ORDER(20) LPC64_ORDER(21) LPC64_ORDER(22) LPC64_ORDER(23) LPC64_ORDER(24) LPC64_ORDER(25) LPC64_ORDER(26) LPC64_ORDER(27) LPC64_ORDER(28) LPC64_ORDER(29) LPC64_ORDER(30) LPC64_ORDER(31) LPC64_ORDER(32)

static void lpc64(int32_t *x, uint32_t n, const int32_t *c, uint32_t order, int shift) {
    typedef void (*lpc64_fn)(int32_t *, uint32_t, const int32_t *, int);
    static const lpc64_fn by_order[33] = {NULL, lpc64_1, lpc64_2, lpc64_3, lpc64_4, lpc64_5, lpc64_6, lpc64_7, lpc64_8, lpc64_9, lpc64_10, lpc64_11, lpc64_12, lpc64_13, lpc64_14, lpc64_15, lpc64_16, lpc64_17, lpc64_18, lpc64_19, lpc64_20, lpc64_21, lpc64_22, lpc64_23, lpc64_24, lpc64_25, lpc64_26, lpc64_27, lpc64_28, lpc64_29, lpc64_30, lpc64_31, lpc64_32};
    by_order[order](x, n, c, shift);
}

static void restore_lpc(int32_t *x, uint32_t n, const int32_t *c, uint32_t order, int shift, int wide) {
    if (wide) {
        lpc64(x, n, c, order, shift);
        return;
    }
    typedef void (*lpc32_fn)(int32_t *, uint32_t, const int32_t *, int);
    static const lpc32_fn paired[33] = {NULL, lpc32_1, lpc32_2, lpc32p_3, lpc32p_4, lpc32p_5, lpc32p_6, lpc32p_7, lpc32p_8, lpc32p_9, lpc32p_10, lpc32p_11, lpc32p_12, lpc32p_13, lpc32p_14, lpc32p_15, lpc32p_16, lpc32p_17, lpc32p_18, lpc32p_19, lpc32p_20, lpc32p_21, lpc32p_22, lpc32p_23, lpc32p_24, lpc32p_25, lpc32p_26, lpc32p_27, lpc32p_28, lpc32p_29, lpc32p_30, lpc32p_31, lpc32p_32};
    paired[order](x, n, c, shift);
}

// Two channels' LPC restore in one loop (orders 1…12, 32-bit sums, AVX-512F+DQ). One channel's loop is bound
// by its own chain (multiply → add → shift → add per sample) and, next to it, by the one scalar multiplier;
// two independent chains side by side only pay if the multiplier has room, so the lags 5…12 of each pair of
// outputs go to the vector unit: eight packed pairs (x[i−j], x[i+1−j]) in one register, one VPMULLQ by the
// sign-extended coefficients and a lane sum give the same 64-bit sum the scalar packed products give (all
// arithmetic mod 2⁶⁴, see pack2). Lags 1…4 stay scalar, so the vector work only ever waits on samples at least
// one step old. A channel of lower order has zero coefficients in the lags it lacks and first computes its
// samples up to the common order on its own.
typedef struct {
    int32_t *x;
    const int32_t *c;  // `order` coefficients
    uint32_t order;
    int shift;
} lpc_job;

// Sample i of one job, on its own (32-bit sums, like lpc32_*): the samples before the common start and an odd
// last one.
static inline void lpc32_sample(lpc_job job, uint32_t i) {
    uint32_t sum = 0;
    for (uint32_t j = 0; j < job.order; j++) sum += U32(job.c[j]) * U32(job.x[i - 1 - j]);
    job.x[i] = (int32_t)(U32(job.x[i]) + U32((int32_t)sum >> job.shift));
}

#if defined(__x86_64__)
// BMI2 (every AVX-512 CPU has it) for shifts by a register other than CL: two channels, two shift counts.
__attribute__((target("avx512f,avx512dq,bmi2"))) static void lpc32_two(lpc_job a, lpc_job b, uint32_t n) {
    // The common start: both orders (1…12), and at least 5 so that lags 1…4 have samples.
    uint32_t p = a.order > b.order ? a.order : b.order;
    if (p < 5) p = 5;  // p + 2 ≤ n (blocksize ≥ 16)
    for (uint32_t i = a.order; i < p; i++) lpc32_sample(a, i);  // before the common start, each on its own
    for (uint32_t i = b.order; i < p; i++) lpc32_sample(b, i);
    int64_t ka[8], kb[8], fa[8], fb[8];
    for (int l = 0; l < 8; l++) {
        const uint32_t lag = 5 + (uint32_t)l;
        ka[l] = lag <= a.order ? a.c[lag - 1] : 0;
        kb[l] = lag <= b.order ? b.c[lag - 1] : 0;
        // The packed pair for lag `lag` at i = p; samples before the block never meet a non-zero coefficient.
        fa[l] = lag <= p ? (int64_t)pack2(U32(a.x[p - lag]), U32(a.x[p + 1 - lag])) : 0;
        fb[l] = lag <= p ? (int64_t)pack2(U32(b.x[p - lag]), U32(b.x[p + 1 - lag])) : 0;
    }
    const __m512i Ka = _mm512_loadu_si512(ka), Kb = _mm512_loadu_si512(kb);
    __m512i Fa = _mm512_loadu_si512(fa), Fb = _mm512_loadu_si512(fb);
    // Lanes 0, 1 of the first operand, then lanes 0…5 of the second: this step's lags 3, 4 become the next's 5, 6.
    const __m512i shift_in = _mm512_set_epi64(13, 12, 11, 10, 9, 8, 1, 0);
    int32_t *xa = a.x, *xb = b.x;
#define COEFF(job, lag) ((job).order >= (lag) ? (job).c[(lag) - 1] : 0)  // zero past the channel's order
    const uint64_t k3a = (uint64_t)(int64_t)COEFF(a, 3), k4a = (uint64_t)(int64_t)COEFF(a, 4);
    const uint64_t k3b = (uint64_t)(int64_t)COEFF(b, 3), k4b = (uint64_t)(int64_t)COEFF(b, 4);
    const uint32_t c0a = U32(a.c[0]), c1a = U32(COEFF(a, 2)), c0b = U32(b.c[0]), c1b = U32(COEFF(b, 2));
#undef COEFF
    const int sa = a.shift, sb = b.shift;
    uint64_t q3a = pack2(U32(xa[p - 3]), U32(xa[p - 2])), q4a = pack2(U32(xa[p - 4]), U32(xa[p - 3]));
    uint64_t q3b = pack2(U32(xb[p - 3]), U32(xb[p - 2])), q4b = pack2(U32(xb[p - 4]), U32(xb[p - 3]));
    uint32_t preva = U32(xa[p - 1]), prev2a = U32(xa[p - 2]), prevb = U32(xb[p - 1]), prev2b = U32(xb[p - 2]);
    uint32_t i = p;
    for (; i + 1 < n; i += 2) {
        // Both channels' eight products summed together: halves, then quarters, then the two words of each.
        const __m512i pa = _mm512_mullo_epi64(Fa, Ka), pb = _mm512_mullo_epi64(Fb, Kb);
        __m512i t = _mm512_add_epi64(_mm512_shuffle_i64x2(pa, pb, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_i64x2(pa, pb, _MM_SHUFFLE(3, 2, 3, 2)));
        t = _mm512_add_epi64(t, _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(2, 3, 0, 1)));
        t = _mm512_add_epi64(t, _mm512_shuffle_epi32(t, (_MM_PERM_ENUM)0x4E));
        const uint64_t suma = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(t)) + k3a * q3a + k4a * q4a;
        const uint64_t sumb = (uint64_t)_mm_cvtsi128_si64(_mm512_extracti64x2_epi64(t, 2)) + k3b * q3b + k4b * q4b;
        // Next step's lags 5 and 6 are this step's 3 and 4: shift them in.
        Fa = _mm512_permutex2var_epi64(_mm512_castsi128_si512(_mm_set_epi64x((long long)q4a, (long long)q3a)), shift_in, Fa);
        Fb = _mm512_permutex2var_epi64(_mm512_castsi128_si512(_mm_set_epi64x((long long)q4b, (long long)q3b)), shift_in, Fb);
        const uint32_t aa = (uint32_t)suma, ab = (uint32_t)sumb;
        const uint32_t ba = (uint32_t)((suma - (uint64_t)(int64_t)(int32_t)aa) >> 32);
        const uint32_t bb = (uint32_t)((sumb - (uint64_t)(int64_t)(int32_t)ab) >> 32);
        const uint32_t y0a = U32(xa[i]) + U32((int32_t)(aa + c1a * prev2a + c0a * preva) >> sa);
        const uint32_t y0b = U32(xb[i]) + U32((int32_t)(ab + c1b * prev2b + c0b * prevb) >> sb);
        const uint32_t y1a = U32(xa[i + 1]) + U32((int32_t)(ba + c1a * preva + c0a * y0a) >> sa);
        const uint32_t y1b = U32(xb[i + 1]) + U32((int32_t)(bb + c1b * prevb + c0b * y0b) >> sb);
        xa[i] = (int32_t)y0a;
        xa[i + 1] = (int32_t)y1a;
        xb[i] = (int32_t)y0b;
        xb[i + 1] = (int32_t)y1b;
        q4a = pack2(prev2a, preva);
        q3a = pack2(preva, y0a);
        q4b = pack2(prev2b, prevb);
        q3b = pack2(prevb, y0b);
        prev2a = y0a;
        preva = y1a;
        prev2b = y0b;
        prevb = y1b;
    }
    if (i < n) {  // an odd last sample
        lpc32_sample(a, i);
        lpc32_sample(b, i);
    }
}
#endif

// Puts back the `wasted` low zero bits a subframe was coded without.
static void restore_wasted_bits(int32_t *x, uint32_t n, uint32_t wasted) {
    if (wasted)
        for (uint32_t i = 0; i < n; i++) x[i] = (int32_t)(U32(x[i]) << wasted);
}

// 1 when every sample fits `bits` bits (two's complement).
static int in_range(const int32_t *x, uint32_t n, uint32_t bits) {
    uint32_t acc = 0;
    for (uint32_t i = 0; i < n; i++) acc |= U32(x[i] ^ (x[i] >> 31));
    return (acc >> (bits - 1)) == 0;
}


// An LPC subframe read but not yet restored, for the two-channel kernel (see lpc32_two).
typedef struct {
    int active;
    uint32_t order, bps, wasted;
    int shift;
    int32_t coeff[32];
} deferred_lpc;

// Reads one subframe into x. With `defer` (AVX-512DQ present), an LPC subframe of order ≤ 12 on 32-bit sums is
// left unrestored and described in *defer; finish_deferred completes it.
static int read_subframe(bitreader *br, int32_t *x, uint32_t blocksize, uint32_t bps, deferred_lpc *defer) {
    uint32_t head = br_bits(br, 8);
    if (head & 0x80) return FFD_ERR_SUBFRAME;
    uint32_t type = (head >> 1) & 0x3F;
    uint32_t wasted = 0;
    if (head & 1) {
        int64_t u = br_unary(br, 32);
        if (u < 0) return br->bad ? FFD_ERR_TRUNCATED : FFD_ERR_SUBFRAME;
        wasted = (uint32_t)u + 1;
        if (wasted >= bps) return FFD_ERR_SUBFRAME;
        bps -= wasted;
    }
    if (type == 0) {
        int32_t v = br_sbits(br, bps);
        for (uint32_t i = 0; i < blocksize; i++) x[i] = v;
    } else if (type == 1) {
        for (uint32_t i = 0; i < blocksize; i++) x[i] = br_sbits(br, bps);
    } else if (type >= 8 && type <= 12) {
        uint32_t order = type - 8;
        if (order > blocksize) return FFD_ERR_SUBFRAME;
        for (uint32_t i = 0; i < order; i++) x[i] = br_sbits(br, bps);
        int e = read_residual(br, x, blocksize, order);
        if (e) return e;
        restore_fixed(x, blocksize, order);
        if (!in_range(x + order, blocksize - order, bps)) return FFD_ERR_RANGE;
    } else if (type >= 32) {
        uint32_t order = type - 31;
        if (order > blocksize) return FFD_ERR_SUBFRAME;
        for (uint32_t i = 0; i < order; i++) x[i] = br_sbits(br, bps);
        uint32_t precision = br_bits(br, 4) + 1;
        if (precision == 16) return FFD_ERR_SUBFRAME;
        int32_t shift = br_sbits(br, 5);
        if (shift < 0) return FFD_ERR_SUBFRAME;
        int32_t coeff[32];
        for (uint32_t i = 0; i < order; i++) coeff[i] = br_sbits(br, precision);
        int e = read_residual(br, x, blocksize, order);
        if (e) return e;
        // 32-bit sums cannot overflow when |Σ c·x| ≤ Σ|c| · 2^(bps−1) < 2^31: bps + bit length of Σ|c| ≤ 32
        // (libFLAC 1.4's own test; looser than bps + precision + ⌈log2 order⌉ ≤ 32, which order-32 files fail).
        uint64_t magnitude = 0;
        for (uint32_t i = 0; i < order; i++) magnitude += coeff[i] < 0 ? -(int64_t)coeff[i] : coeff[i];
        uint32_t width = magnitude ? 64 - (uint32_t)__builtin_clzll(magnitude) : 0;
        if (defer && bps + width <= 32 && order <= 12 && blocksize >= 16) {
            defer->active = 1;
            defer->order = order;
            defer->shift = shift;
            defer->bps = bps;
            defer->wasted = wasted;
            memcpy(defer->coeff, coeff, sizeof(int32_t) * order);
            return br->bad ? FFD_ERR_TRUNCATED : 0;
        }
        restore_lpc(x, blocksize, coeff, order, shift, bps + width > 32);
        if (!in_range(x + order, blocksize - order, bps)) return FFD_ERR_RANGE;
    } else {
        return FFD_ERR_SUBFRAME;
    }
    if (br->bad) return FFD_ERR_TRUNCATED;
    restore_wasted_bits(x, blocksize, wasted);
    return 0;
}

// The checks read_subframe makes after restoring, for a deferred subframe whose samples are now restored.
static int finish_deferred(int32_t *x, uint32_t blocksize, const deferred_lpc *d) {
    if (!in_range(x + d->order, blocksize - d->order, d->bps)) return FFD_ERR_RANGE;
    restore_wasted_bits(x, blocksize, d->wasted);
    return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Frames

// FLAC's UTF-8-like number coding, canonical lead bytes only (libFLAC's decoder reads the same values and
// lengths for these; anything else is left to it). Returns bytes used, 0 if invalid, -1 if past `end`.
static int read_utf8(const uint8_t *p, const uint8_t *end, int max_bytes, uint64_t *value) {
    if (p >= end) return -1;
    uint32_t b = p[0];
    int extra;
    uint64_t v;
    if (b < 0x80) { v = b; extra = 0; }
    else if ((b & 0xE0) == 0xC0) { v = b & 0x1F; extra = 1; }
    else if ((b & 0xF0) == 0xE0) { v = b & 0x0F; extra = 2; }
    else if ((b & 0xF8) == 0xF0) { v = b & 0x07; extra = 3; }
    else if ((b & 0xFC) == 0xF8) { v = b & 0x03; extra = 4; }
    else if ((b & 0xFE) == 0xFC) { v = b & 0x01; extra = 5; }
    else if (b == 0xFE) { v = 0; extra = 6; }
    else return 0;
    if (extra + 1 > max_bytes) return 0;
    for (int i = 1; i <= extra; i++) {
        if (p + i >= end) return -1;
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    *value = v;
    return extra + 1;
}

static const uint32_t rate_table[12] = {0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000};

// Decodes the frame at buf + pos. Returns the block size, or an error; *next = offset after the frame.
static int decode_at(ffd_decoder *d, size_t *next) {
    const uint8_t *f = d->buf + d->pos;
    const uint8_t *end = d->buf + d->len;
    const ffd_stream_info *info = &d->info;
    if (end - f < 2) return FFD_ERR_TRUNCATED;
    if (f[0] != 0xFF || (f[1] & 0xFE) != 0xF8) return FFD_ERR_SYNC;
    int variable = f[1] & 1;
    if (end - f < 4) return FFD_ERR_TRUNCATED;
    uint32_t bs_code = f[2] >> 4, sr_code = f[2] & 15, ch_code = f[3] >> 4, bps_code = (f[3] >> 1) & 7;
    if (bs_code == 0 || sr_code == 15 || ch_code > 10 || bps_code == 3 || bps_code == 7 || (f[3] & 1))
        return FFD_ERR_HEADER;
    const uint8_t *h = f + 4;
    uint64_t number;
    int used = read_utf8(h, end, variable ? 7 : 6, &number);
    if (used < 0) return FFD_ERR_TRUNCATED;
    if (used == 0) return FFD_ERR_HEADER;
    h += used;
    uint32_t blocksize;
    if (bs_code == 1) blocksize = 192;
    else if (bs_code <= 5) blocksize = 576u << (bs_code - 2);
    else if (bs_code == 6) {
        if (h + 1 > end) return FFD_ERR_TRUNCATED;
        blocksize = (uint32_t)h[0] + 1;
        h += 1;
    } else if (bs_code == 7) {
        if (h + 2 > end) return FFD_ERR_TRUNCATED;
        blocksize = ((uint32_t)h[0] << 8 | h[1]) + 1;
        h += 2;
    } else blocksize = 256u << (bs_code - 8);
    uint32_t rate;
    if (sr_code == 0) rate = info->sample_rate;
    else if (sr_code <= 11) rate = rate_table[sr_code];
    else {
        uint32_t n = sr_code == 12 ? 1 : 2;
        if (h + n > end) return FFD_ERR_TRUNCATED;
        uint32_t v = n == 1 ? h[0] : ((uint32_t)h[0] << 8 | h[1]);
        h += n;
        rate = sr_code == 12 ? v * 1000 : sr_code == 13 ? v : v * 10;
    }
    if (h + 1 > end) return FFD_ERR_TRUNCATED;
    if (crc8(f, (size_t)(h - f)) != *h) {
        d->fail_start = d->pos;
        d->fail_end = d->pos + (size_t)(h - f) + 1;
        return FFD_ERR_HEADER_CRC;
    }
    h += 1;
    static const uint32_t bps_table[8] = {0, 8, 12, 0, 16, 20, 24, 0};
    uint32_t bps = bps_code == 0 ? info->bits_per_sample : bps_table[bps_code];
    uint32_t channels = ch_code < 8 ? ch_code + 1 : 2;
    if (rate != info->sample_rate || bps != info->bits_per_sample || channels != info->channels)
        return FFD_ERR_HEADER;
    if (blocksize > info->max_blocksize) return FFD_ERR_HEADER;
    if (blocksize < info->min_blocksize && d->decoded + blocksize < info->total_samples) return FFD_ERR_HEADER;
    if (variable) {
        if (number != d->decoded) return FFD_ERR_NUMBERING;
    } else {
        // libFLAC counts samples from frame numbers × STREAMINFO's block size when min = max, and reads the
        // number differently otherwise; only the first case is ours.
        if (info->min_blocksize != info->max_blocksize) return FFD_ERR_UNSUPPORTED;
        if (number * info->max_blocksize != d->decoded) return FFD_ERR_NUMBERING;
    }

    bitreader br = {0, 0, 0, h, end + 8};
    // Stereo LPC subframes are restored together (lpc32_two) once both are read; the bitstream of the second
    // does not depend on the first's samples, and any error, whichever is found first, hands the frame over.
    deferred_lpc deferred[2] = {{0}, {0}};
#if defined(__x86_64__)
    const int pair = channels == 2 && have_avx512dq;
#else
    const int pair = 0;
#endif
    for (uint32_t c = 0; c < channels; c++) {
        uint32_t sbps = bps + ((ch_code == 8 && c == 1) || (ch_code == 9 && c == 0) || (ch_code == 10 && c == 1));
        int e = read_subframe(&br, d->channel[c], blocksize, sbps, pair ? &deferred[c] : NULL);
        // An error after reading past the data so far may only mean the rest of the frame is not read yet.
        if (e) return br.bad || br_position(&br, f) > (uint64_t)(end - f) * 8 ? FFD_ERR_TRUNCATED : e;
    }
#if defined(__x86_64__)
    if (deferred[0].active && deferred[1].active) {
        lpc32_two((lpc_job){d->channel[0], deferred[0].coeff, deferred[0].order, deferred[0].shift},
                  (lpc_job){d->channel[1], deferred[1].coeff, deferred[1].order, deferred[1].shift}, blocksize);
    } else
#endif
    {
        for (uint32_t c = 0; c < 2; c++)
            if (deferred[c].active)
                restore_lpc(d->channel[c], blocksize, deferred[c].coeff, deferred[c].order, deferred[c].shift, 0);
    }
    for (uint32_t c = 0; c < 2; c++) {
        if (!deferred[c].active) continue;
        int e = finish_deferred(d->channel[c], blocksize, &deferred[c]);
        if (e) return br.bad || br_position(&br, f) > (uint64_t)(end - f) * 8 ? FFD_ERR_TRUNCATED : e;
    }
    // Zero padding to the byte boundary, then the CRC-16 of everything before it.
    uint32_t pad = br.count & 7;
    if (pad && br_bits(&br, pad) != 0)
        return br.bad || br_position(&br, f) > (uint64_t)(end - f) * 8 ? FFD_ERR_TRUNCATED : FFD_ERR_PADDING;
    uint32_t crc = br_bits(&br, 16);
    uint64_t consumed = br_position(&br, f);
    if (br.bad || consumed > (uint64_t)(end - f) * 8) return FFD_ERR_TRUNCATED;
    size_t bytes = (size_t)(consumed / 8);
    if (crc16(f, bytes - 2) != crc) {
        d->fail_start = d->pos;
        d->fail_end = d->pos + bytes;
        return FFD_ERR_CRC;
    }

    int32_t *a = d->channel[0], *b = d->channel[1];
    switch (ch_code) {
    case 8:  // left, side
        for (uint32_t i = 0; i < blocksize; i++) b[i] = (int32_t)(U32(a[i]) - U32(b[i]));
        break;
    case 9:  // side, right
        for (uint32_t i = 0; i < blocksize; i++) a[i] = (int32_t)(U32(a[i]) + U32(b[i]));
        break;
    case 10:  // mid, side
        for (uint32_t i = 0; i < blocksize; i++) {
            int32_t side = b[i];
            int32_t mid = (int32_t)((U32(a[i]) << 1) | (U32(side) & 1));
            a[i] = (int32_t)(U32(mid) + U32(side)) >> 1;
            b[i] = (int32_t)(U32(mid) - U32(side)) >> 1;
        }
        break;
    }
    // libFLAC 1.4 rejects a frame whose output samples do not fit the sample size (as a CRC error); for
    // independent channels the subframe check above already ensured it.
    if (ch_code >= 8 && !(in_range(a, blocksize, bps) && in_range(b, blocksize, bps))) return FFD_ERR_RANGE;
    *next = d->pos + bytes;
    return (int)blocksize;
}

// Makes at least `want` bytes from pos available unless the file ends first. Returns 0 or an error.
static int ensure(ffd_decoder *d, size_t want) {
    if (d->len - d->pos >= want || d->eof) return 0;
    if (d->pos > 0) {
        memmove(d->buf, d->buf + d->pos, d->len - d->pos);
        d->len -= d->pos;
        d->pos = 0;
    }
    if (want > d->cap) {
        if (want > FFD_MAX_BUFFER) return FFD_ERR_UNSUPPORTED;
        size_t cap = d->cap;
        while (cap < want) cap *= 2;
        uint8_t *grown = realloc(d->buf, cap + FFD_PAD);
        if (!grown) return FFD_ERR_MEMORY;
        d->buf = grown;
        d->cap = cap;
    }
    while (d->len < d->cap && d->len < want) {
        ssize_t got = read(d->fd, d->buf + d->len, d->cap - d->len);
        if (got < 0) {
            if (errno == EINTR) continue;
            return FFD_ERR_IO;
        }
        if (got == 0) {
            d->eof = 1;
            break;
        }
        d->len += (size_t)got;
    }
    memset(d->buf + d->len, 0, FFD_PAD);
    return 0;
}

int ffd_decode_frame(ffd_decoder *d) {
    if (d->error) return d->error;
    if (d->decoded >= d->info.total_samples) return 0;
    int r = ensure(d, 1u << 16);
    while (r == 0) {
        size_t next = 0;
        r = decode_at(d, &next);
        if (r > 0) {
            d->pos = next;
            d->blocksize = (uint32_t)r;
            d->decoded += (uint32_t)r;
            return r;
        }
        if (r != FFD_ERR_TRUNCATED || d->eof) break;
        // The frame runs past the data read so far: read more and try again.
        r = ensure(d, (d->len - d->pos) * 2 + FFD_CHUNK);
    }
    d->error = r;
    return r;
}

// ---------------------------------------------------------------------------------------------------------
// Setup

static ffd_decoder *make(const ffd_stream_info *info, size_t capacity, int *error) {
    pthread_once(&tables_once, init_tables);
    *error = FFD_ERR_UNSUPPORTED;
    if (info->channels < 1 || info->channels > 8 || info->bits_per_sample < 4 || info->bits_per_sample > 24 ||
        info->max_blocksize < 16 || info->max_blocksize > 65535 || info->min_blocksize > info->max_blocksize ||
        info->total_samples == 0 || info->sample_rate == 0)
        return NULL;
    *error = FFD_ERR_MEMORY;
    ffd_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->info = *info;
    d->fd = -1;
    d->cap = capacity;
    d->buf = malloc(capacity + FFD_PAD);
    int ok = d->buf != NULL;
    for (uint32_t c = 0; c < info->channels && ok; c++) {
        d->channel[c] = malloc(sizeof(int32_t) * info->max_blocksize);
        ok = d->channel[c] != NULL;
    }
    if (!ok) {
        ffd_close(d);
        return NULL;
    }
    memset(d->buf, 0, FFD_PAD);
    *error = FFD_OK;
    return d;
}

ffd_decoder *ffd_open_file(const char *path, uint64_t first_frame_offset, const ffd_stream_info *info, int *error) {
    ffd_decoder *d = make(info, FFD_CHUNK, error);
    if (!d) return NULL;
    d->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->fd < 0 || lseek(d->fd, (off_t)first_frame_offset, SEEK_SET) < 0) {
        *error = FFD_ERR_IO;
        ffd_close(d);
        return NULL;
    }
    return d;
}

ffd_decoder *ffd_open_memory(const uint8_t *data, size_t size, const ffd_stream_info *info, int *error) {
    ffd_decoder *d = make(info, size > 0 ? size : 1, error);
    if (!d) return NULL;
    memcpy(d->buf, data, size);
    d->len = size;
    d->eof = 1;
    memset(d->buf + size, 0, FFD_PAD);
    return d;
}

void ffd_close(ffd_decoder *d) {
    if (!d) return;
    if (d->fd >= 0) close(d->fd);
    for (int c = 0; c < 8; c++) free(d->channel[c]);
    free(d->buf);
    free(d);
}

int ffd_parse_metadata(const uint8_t *data, size_t size, ffd_stream_info *info, size_t *first_frame_offset) {
    if (size < 8 || memcmp(data, "fLaC", 4) != 0) return FFD_ERR_HEADER;
    size_t at = 4;
    int first = 1;
    for (;;) {
        if (size - at < 4) return FFD_ERR_TRUNCATED;
        uint32_t type = data[at] & 0x7F, last = data[at] >> 7;
        size_t length = (size_t)data[at + 1] << 16 | (size_t)data[at + 2] << 8 | data[at + 3];
        at += 4;
        if (size - at < length) return FFD_ERR_TRUNCATED;
        if (first) {
            if (type != 0 || length != 34) return FFD_ERR_HEADER;
            const uint8_t *s = data + at;
            info->min_blocksize = (uint32_t)s[0] << 8 | s[1];
            info->max_blocksize = (uint32_t)s[2] << 8 | s[3];
            info->sample_rate = (uint32_t)s[10] << 12 | (uint32_t)s[11] << 4 | s[12] >> 4;
            info->channels = ((s[12] >> 1) & 7) + 1;
            info->bits_per_sample = (((uint32_t)s[12] & 1) << 4 | s[13] >> 4) + 1;
            info->total_samples = ((uint64_t)s[13] & 15) << 32 | (uint64_t)s[14] << 24 | (uint64_t)s[15] << 16 |
                                  (uint64_t)s[16] << 8 | s[17];
            first = 0;
        }
        at += length;
        if (last) break;
    }
    *first_frame_offset = at;
    return FFD_OK;
}

const int32_t *ffd_channel(const ffd_decoder *d, uint32_t channel) {
    return channel < d->info.channels ? d->channel[channel] : NULL;
}

uint64_t ffd_samples_decoded(const ffd_decoder *d) { return d->decoded; }

int ffd_at_end(ffd_decoder *d) {
    if (d->error || ensure(d, 1) != 0) return 0;
    return d->eof && d->pos >= d->len;
}

void ffd_crc_failure(const ffd_decoder *d, size_t *start, size_t *end) {
    *start = d->fail_start;
    *end = d->fail_end;
}

uint16_t ffd_crc16(const uint8_t *data, size_t size) {
    pthread_once(&tables_once, init_tables);
    return crc16(data, size);
}

uint8_t ffd_crc8(const uint8_t *data, size_t size) {
    pthread_once(&tables_once, init_tables);
    return crc8(data, size);
}

void ffd_mix_planes(const int32_t *const *x, uint32_t channels, uint32_t bps, float *y, size_t count) {
    const float unit = 1.0f / (float)(1u << (bps - 1));
    if (channels == 1) {
        const int32_t *a = x[0];
        for (size_t i = 0; i < count; i++) y[i] = (float)a[i] * unit;
    } else if (channels == 2) {
        // Both conversions are exact (≤ 24 bits) and an IEEE sum is the exact sum correctly rounded, so this
        // equals both of libsndfile's mixes (the 16-bit integer sum converted once, and the Float sum); unit · ½
        // is a power of two, hence exact. Float lanes cannot overflow, whatever a corrupt stream decodes to.
        const int32_t *a = x[0], *b = x[1];
        const float half = unit * 0.5f;
        for (size_t i = 0; i < count; i++) y[i] = ((float)a[i] + (float)b[i]) * half;
    } else {
        const float scale = 1.0f / (float)channels;
        if (bps <= 16) {
            // As the libsndfile path's 16-bit mix: exact integer sum, one conversion.
            for (size_t i = 0; i < count; i++) {
                int64_t s = 0;
                for (uint32_t c = 0; c < channels; c++) s += x[c][i];
                y[i] = (float)s * unit * scale;
            }
        } else {
            // As its float mix: channel by channel in Float, rounding after each addition.
            for (size_t i = 0; i < count; i++) {
                float s = 0;
                for (uint32_t c = 0; c < channels; c++) s += (float)x[c][i] * unit;
                y[i] = s * scale;
            }
        }
    }
}

void ffd_mix_mono(const ffd_decoder *d, float *y, size_t count) {
    if (count > d->blocksize) count = d->blocksize;
    ffd_mix_planes((const int32_t *const *)d->channel, d->info.channels, d->info.bits_per_sample, y, count);
}

const char *ffd_error_string(int code) {
    switch (code) {
    case FFD_OK: return "ok";
    case FFD_ERR_UNSUPPORTED: return "stream parameters outside the fast decoder's scope";
    case FFD_ERR_IO: return "read error";
    case FFD_ERR_TRUNCATED: return "stream ends inside a frame";
    case FFD_ERR_SYNC: return "no frame sync code";
    case FFD_ERR_HEADER: return "bad frame header";
    case FFD_ERR_SUBFRAME: return "bad subframe";
    case FFD_ERR_RESIDUAL: return "bad residual coding";
    case FFD_ERR_RANGE: return "sample outside the bits per sample";
    case FFD_ERR_PADDING: return "nonzero frame padding";
    case FFD_ERR_CRC: return "frame CRC mismatch";
    case FFD_ERR_NUMBERING: return "unexpected frame number";
    case FFD_ERR_MEMORY: return "out of memory";
    case FFD_ERR_HEADER_CRC: return "frame header CRC mismatch";
    default: return "unknown error";
    }
}
