// See spectral_kernels.h. Built with -ffp-contract=off (Package.swift) so that every clone computes the same
// bits: the loops are element-wise, and only the vector width differs between clones.
#include "spectral_kernels.h"

#include <string.h>

/// Eight floats; on baseline x86-64 two SSE registers, with AVX one: the same lane arithmetic either way.
typedef float v8f __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

CLONES void spk_window(const float *restrict frame, const float *restrict window, size_t n, float *restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = frame[i] * window[i];
}

// X[k] = E + P and X[m − k] = conj(E − P) for k in [1, m/2], P = e^{-iπk/m}·O[k] (see the caller). Written to
// `low[k]` and `high[m − k]`: two names for one buffer whose halves never meet (k < m − k), so that the
// compiler vectorises the reversed stores.
static inline __attribute__((always_inline)) void power_pairs(const float *restrict z, const float *restrict twiddles,
                                                              size_t m, size_t from, size_t to, float *restrict low,
                                                              float *restrict high) {
    for (size_t k = from; k < to; k++) {
        const float ar = z[2 * k], ai = z[2 * k + 1];
        const float br = z[2 * (m - k)], bi = -z[2 * (m - k) + 1];  // conj Z[m − k]
        const float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
        const float dr = 0.5f * (ar - br), di = 0.5f * (ai - bi);
        const float orr = di, oi = -dr;  // O = D / i
        const float c = twiddles[2 * k], s = twiddles[2 * k + 1];
        const float pr = c * orr + s * oi, pi = c * oi - s * orr;  // P = (c − i s) · O
        const float xr = er + pr, xi = ei + pi;
        const float yr = er - pr, yi = ei - pi;
        low[k] = xr * xr + xi * xi;
        high[m - k] = yr * yr + yi * yi;
    }
}

CLONES void spk_power_from_half_spectrum(const float *restrict z, const float *restrict twiddles, size_t m,
                                         float *restrict power) {
    // k = 0 and k = m: E = Re Z[0], O = Im Z[0], twiddle 1 and −1.
    const float r0 = z[0], i0 = z[1];
    power[0] = (r0 + i0) * (r0 + i0);
    power[m] = (r0 - i0) * (r0 - i0);
    // Bins k and m − k share their inputs: with P = e^{-iπk/m}·O[k], X[k] = E[k] + P and X[m − k] = conj(E[k] − P)
    // (E[m − k] = conj E[k], and the twiddle of m − k is −conj of k's), so one pass over k ≤ m/2 reads each Z
    // once and needs half the twiddles.
    power_pairs(z, twiddles, m, 1, (m + 1) / 2, power, power);  // k < m − k throughout
    // For even m, bin m/2 is its own partner: E = Re Z, O = Im Z, twiddle −i, so X[m/2] = conj Z[m/2].
    if (m % 2 == 0 && m >= 2) power[m / 2] = z[m] * z[m] + z[m + 1] * z[m + 1];
}

// One band's eight partial sums over its zero-padded run, into the v8f `ACC`.
#define BAND_LANES(ACC, M)                                                                                   \
    do {                                                                                                     \
        const float *p_ = power + starts[M], *w_ = weights + offsets[M];                                     \
        const size_t count_ = (size_t)(offsets[(M) + 1] - offsets[M]);                                       \
        ACC = (v8f){0};                                                                                      \
        for (size_t j = 0; j < count_; j += 8) {                                                             \
            v8f pv, wv;                                                                                      \
            memcpy(&pv, p_ + j, sizeof pv); /* unaligned loads */                                           \
            memcpy(&wv, w_ + j, sizeof wv);                                                                  \
            ACC += pv * wv;                                                                                  \
        }                                                                                                    \
    } while (0)

CLONES void spk_mel(const float *restrict power, const int32_t *restrict starts, const int32_t *restrict offsets,
                    const float *restrict weights, size_t bands, float *restrict out) {
    // Eight bands at a time, their lane sums transposed into one vector in three rounds of "pair up and add"
    // (12 shuffles and 7 adds per 8 bands, where summing each band's lanes on its own took about 10 operations).
#define PAIR(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#define EVEN 0, 8, 2, 10, 4, 12, 6, 14
#define ODD 1, 9, 3, 11, 5, 13, 7, 15
    size_t m = 0;
    for (; m + 8 <= bands; m += 8) {
        v8f a0, a1, a2, a3, a4, a5, a6, a7;
        BAND_LANES(a0, m);
        BAND_LANES(a1, m + 1);
        BAND_LANES(a2, m + 2);
        BAND_LANES(a3, m + 3);
        BAND_LANES(a4, m + 4);
        BAND_LANES(a5, m + 5);
        BAND_LANES(a6, m + 6);
        BAND_LANES(a7, m + 7);
        const v8f b01 = PAIR(a0, a1, EVEN) + PAIR(a0, a1, ODD), b23 = PAIR(a2, a3, EVEN) + PAIR(a2, a3, ODD);
        const v8f b45 = PAIR(a4, a5, EVEN) + PAIR(a4, a5, ODD), b67 = PAIR(a6, a7, EVEN) + PAIR(a6, a7, ODD);
        const v8f c03 = PAIR(b01, b23, 0, 1, 8, 9, 4, 5, 12, 13) + PAIR(b01, b23, 2, 3, 10, 11, 6, 7, 14, 15);
        const v8f c47 = PAIR(b45, b67, 0, 1, 8, 9, 4, 5, 12, 13) + PAIR(b45, b67, 2, 3, 10, 11, 6, 7, 14, 15);
        const v8f sums = PAIR(c03, c47, 0, 1, 2, 3, 8, 9, 10, 11) + PAIR(c03, c47, 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(out + m, &sums, sizeof sums);  // lane i is band m + i
    }
    for (; m < bands; m++) {  // the same pairing order for a band on its own
        v8f a;
        BAND_LANES(a, m);
        out[m] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
#undef EVEN
#undef ODD
#undef PAIR
}
#undef BAND_LANES

static inline float fast_ln(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    const int32_t shifted = bits + 0x004AFB0D;
    const float e = (float)((shifted >> 23) - 127);
    const uint32_t mantissa = (uint32_t)((shifted & 0x007FFFFF) + 0x3F3504F3);
    float m;
    memcpy(&m, &mantissa, sizeof m);
    const float f = m - 1, z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += e * -2.12194440e-4f;
    y -= z * 0.5f;
    return f + y + e * 0.693359375f;
}

CLONES void spk_decibels(float *restrict x, size_t n, float amin, float floor_db) {
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        const int above = v > amin;
        const float decibels = fast_ln(above ? v : amin) * 4.342944819032518f;
        x[i] = above ? decibels : floor_db;
    }
}

// One row, CHUNKS × 8 coefficients from `basis + k0` held in registers across the whole i loop.
#define DCT_CHUNKS(CHUNKS)                                                                                    \
    static inline __attribute__((always_inline)) void dct_chunks_##CHUNKS(                                   \
        const float *restrict row, size_t bands, const float *restrict basis, size_t stride, v8f *out) {    \
        v8f acc[CHUNKS];                                                                                     \
        for (int c = 0; c < CHUNKS; c++) acc[c] = (v8f){0};                                                  \
        for (size_t i = 0; i < bands; i++) {                                                                 \
            const v8f xi = (v8f){0} + row[i];                                                                \
            for (int c = 0; c < CHUNKS; c++) {                                                               \
                v8f b;                                                                                       \
                memcpy(&b, basis + i * stride + 8 * c, sizeof b);                                            \
                acc[c] += b * xi;                                                                            \
            }                                                                                                \
        }                                                                                                    \
        for (int c = 0; c < CHUNKS; c++) out[c] = acc[c];                                                    \
    }
DCT_CHUNKS(1) DCT_CHUNKS(2) DCT_CHUNKS(3) DCT_CHUNKS(4)

CLONES void spk_dct_rows(const float *restrict x, size_t rows, size_t bands, const float *restrict basis,
                         size_t stride, size_t count, float *restrict y) {
    for (size_t t = 0; t < rows; t++) {
        const float *row = x + t * bands;
        float *target = y + t * count;
        for (size_t k0 = 0; k0 < count; k0 += 32) {
            v8f acc[4];
            const size_t chunks = (stride - k0) / 8 < 4 ? (stride - k0) / 8 : 4;
            switch (chunks) {
            case 1: dct_chunks_1(row, bands, basis + k0, stride, acc); break;
            case 2: dct_chunks_2(row, bands, basis + k0, stride, acc); break;
            case 3: dct_chunks_3(row, bands, basis + k0, stride, acc); break;
            default: dct_chunks_4(row, bands, basis + k0, stride, acc); break;
            }
            for (size_t k = k0; k < count && k < k0 + 32; k++) target[k] = acc[(k - k0) / 8][(k - k0) % 8];
        }
    }
}

CLONES float spk_max(const float *restrict x, size_t n) {
    // Eight running maxima, then one: exact in any order for non-NaN values.
    v8f lanes = (v8f){0} + x[0];
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, x + i, sizeof v);
        lanes = __builtin_elementwise_max(v, lanes);
    }
    float m = lanes[0];
    for (int j = 1; j < 8; j++) m = lanes[j] > m ? lanes[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

CLONES void spk_clamp_below(float *restrict x, size_t n, float floor) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] < floor ? floor : x[i];
}
