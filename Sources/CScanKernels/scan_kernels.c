// Dot-product scans; see include/scan_kernels.h. Only the functions marked target("avx512f") or
// target("avx2,fma") use those instructions: the rest of the file is compiled for the baseline target and picks
// a kernel once per process via cpuid flags.
#include "scan_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// Four partial sums per row: independent chains the compiler can keep in one SSE/NEON register without
/// reassociating (no -ffast-math needed), and rounding comparable to the vector kernel's.
static void scan_portable(const float *v, size_t rows, size_t d, const float *q, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = v + r * d;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t c = 0;
        for (; c + 4 <= d; c += 4) {
            s0 += row[c] * q[c];
            s1 += row[c + 1] * q[c + 1];
            s2 += row[c + 2] * q[c + 2];
            s3 += row[c + 3] * q[c + 3];
        }
        for (; c < d; c++) s0 += row[c] * q[c];
        out[r] = (s0 + s1) + (s2 + s3);
    }
}

#if defined(__x86_64__)

/// Masks for the last d % 8 floats of a row: lanes < n set.
static const int tail_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// One row at a time, front to back, with four accumulators (four independent FMA chains per row; the
/// out-of-order core overlaps consecutive rows). Strictly sequential reads keep the hardware prefetchers
/// streaming: an eight-rows-in-flight variant (loads 512 bytes apart, interleaved) measured 2.5× slower at
/// 10⁶ × 128 (41 vs 16 ms), and software prefetch did not help the sequential loop. A row's last d % 8
/// floats use a masked load (masked lanes are never read, so no overrun past the end of the matrix).
__attribute__((target("avx2,fma"))) static void scan_avx2(const float *v, size_t rows, size_t d, const float *q,
                                                          float *out) {
    const size_t whole = d & ~(size_t)7, tail = d & 7;
    const __m256i mask = _mm256_loadu_si256((const __m256i *)(tail_masks + 8 - tail));
    const __m256 qt = _mm256_maskload_ps(q + whole, mask);
    for (size_t r = 0; r < rows; r++) {
        const float *p = v + r * d;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
               a3 = _mm256_setzero_ps();
        size_t c = 0;
        for (; c + 32 <= whole; c += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + c), _mm256_loadu_ps(q + c), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + c + 8), _mm256_loadu_ps(q + c + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + c + 16), _mm256_loadu_ps(q + c + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + c + 24), _mm256_loadu_ps(q + c + 24), a3);
        }
        for (; c < whole; c += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + c), _mm256_loadu_ps(q + c), a0);
        if (tail) a1 = _mm256_fmadd_ps(_mm256_maskload_ps(p + whole, mask), qt, a1);
        out[r] = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
}

/// The AVX2 kernel's loop with 16-lane registers: two accumulators (a 128-d row is 8 loads, four per chain)
/// and a masked load for the last d % 16 floats. On Intel Sapphire/Emerald Rapids it scanned 10⁵ × 128 in
/// about 25 % less time than the AVX2 kernel (bench/README.md, "serve"); same sequential order of rows.
__attribute__((target("avx512f"))) static void scan_avx512(const float *v, size_t rows, size_t d, const float *q,
                                                          float *out) {
    const size_t whole = d & ~(size_t)15, tail = d & 15;
    const __mmask16 mask = (__mmask16)((1u << tail) - 1);
    const __m512 qt = _mm512_maskz_loadu_ps(mask, q + whole);
    for (size_t r = 0; r < rows; r++) {
        const float *p = v + r * d;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        size_t c = 0;
        for (; c + 32 <= whole; c += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(p + c), _mm512_loadu_ps(q + c), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(p + c + 16), _mm512_loadu_ps(q + c + 16), a1);
        }
        if (c < whole) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(p + c), _mm512_loadu_ps(q + c), a0);
        if (tail) a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, p + whole), qt, a1);
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

int scan_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

int scan_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#else

int scan_has_avx512(void) { return 0; }
int scan_has_avx2_fma(void) { return 0; }

#endif

void scan_dot_scores(const float *vectors, size_t rows, size_t dims, const float *query, float *scores,
                     scan_kernel_choice choice) {
    if (rows == 0) return;
#if defined(__x86_64__)
    // Resolved once; a racing first call computes the same value twice, which is harmless.
    // 0 portable, 1 AVX2+FMA, 2 AVX-512F.
    static int best = -1;
    int has = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (has < 0) {
        has = scan_has_avx512() ? 2 : scan_has_avx2_fma() ? 1 : 0;
        __atomic_store_n(&best, has, __ATOMIC_RELAXED);
    }
    if (choice == SCAN_KERNEL_AUTOMATIC && has == 2) {
        scan_avx512(vectors, rows, dims, query, scores);
        return;
    }
    if ((choice == SCAN_KERNEL_AUTOMATIC && has == 1) || (choice == SCAN_KERNEL_AVX2 && has >= 1)) {
        scan_avx2(vectors, rows, dims, query, scores);
        return;
    }
#endif
    (void)choice;
    scan_portable(vectors, rows, dims, query, scores);
}
