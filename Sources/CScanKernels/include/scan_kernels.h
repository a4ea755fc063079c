// Fused dot-product scans for exact single-query search: stream the stored vectors once, score them against
// one query. The AVX-512F or AVX2+FMA kernel is chosen at run time, so the package still runs on any x86-64 (and builds
// on aarch64), without global -mavx2 flags.
#ifndef SCAN_KERNELS_H
#define SCAN_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Which implementation `scan_dot_scores` runs.
typedef enum {
    /// The fastest the CPU supports (AVX-512F, else AVX2+FMA, else the portable loop).
    SCAN_KERNEL_AUTOMATIC = 0,
    /// The portable C loop (what a CPU without AVX2/FMA runs); for tests.
    SCAN_KERNEL_PORTABLE = 1,
    /// The AVX2+FMA kernel where the CPU has it (what a CPU without AVX-512 runs), else the portable loop.
    SCAN_KERNEL_AVX2 = 2,
} scan_kernel_choice;

/// scores[r] = sum_c vectors[r * dims + c] * query[c] for r in [0, rows). Row-major, rows packed (stride dims).
/// Float accumulation in an unspecified order (several partial sums per row).
void scan_dot_scores(const float *vectors, size_t rows, size_t dims, const float *query, float *scores,
                     scan_kernel_choice choice);

/// 1 if this CPU can run the AVX2+FMA kernel, else 0.
int scan_has_avx2_fma(void);

/// 1 if `SCAN_KERNEL_AUTOMATIC` runs the AVX-512F kernel on this CPU, else 0.
int scan_has_avx512(void);

#ifdef __cplusplus
}
#endif

#endif
