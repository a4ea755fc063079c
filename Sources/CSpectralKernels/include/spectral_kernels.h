// Per-frame kernels of the spectral front end that Swift's baseline x86-64 target cannot vectorise well.
// Each function is compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time; all three give the
// same bits (element-wise arithmetic only, no contraction into FMA, no reordered sums).
#ifndef SPECTRAL_KERNELS_H
#define SPECTRAL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// out[i] = frame[i] * window[i] for i in [0, n).
void spk_window(const float *frame, const float *window, size_t n, float *out);

/// The power spectrum |X[k]|², k in [0, m], of a real frame x of n = 2m samples, from `z`, the complex DFT of
/// length m (FFTW's forward c2c, unnormalised) of x read as m complex numbers x[2j] + i·x[2j+1].
///
/// Uses X[k] = E[k] + e^{-2πik/n}·O[k] with E[k] = (Z[k] + conj Z[m−k]) / 2 and O[k] = (Z[k] − conj Z[m−k]) / 2i,
/// the DFTs of the even and odd samples. `twiddles` holds (cos 2πk/n, sin 2πk/n) for k in [0, m/2], interleaved.
/// `z` holds 2m floats (re, im interleaved); `power` receives m + 1 values. m ≥ 1.
void spk_power_from_half_spectrum(const float *z, const float *twiddles, size_t m, float *power);

/// Sparse mel filterbank: out[m] = Σ_j weights[offsets[m] + j] · power[starts[m] + j] over j in
/// [0, offsets[m + 1] − offsets[m]), for m in [0, bands). Every run length is a multiple of 8 (zero-padded), and
/// each band is summed in 8 lanes combined in one fixed order, whatever the instruction set.
void spk_mel(const float *power, const int32_t *starts, const int32_t *offsets, const float *weights, size_t bands,
             float *out);

/// x[i] ← 10 · log10(max(amin, x[i])) for i in [0, n), with values not above `amin` (and NaN) set to
/// `floor_db` (what the formula gives at `amin`, computed once by the caller).
///
/// The logarithm is Cephes' `logf` scheme: x = m · 2ᵉ with m ∈ [√½, √2), ln(1 + f) for f = m − 1 by a degree-9
/// polynomial, e · ln 2 added in two parts. Relative error about 1e-7 (a few ulps), at most 2e-5 dB at ±100 dB.
/// The split uses integer arithmetic only: adding 0x3F80_0000 − bits(√½) to x's bits carries into the exponent
/// exactly when the mantissa is at least √½'s, which yields Cephes' m and e without its branch. Valid for
/// positive, finite, normal inputs, which the clamp to `amin` guarantees.
void spk_decibels(float *x, size_t n, float amin, float floor_db);

/// Row-wise DCT: y[t·count + k] = Σ_i x[t·bands + i] · basis[i·stride + k] for k in [0, count), every row t in
/// [0, rows). `stride` is a multiple of 8 and at least `count` (the basis is zero-padded); each y[k] is summed
/// in the order i = 0, 1, … (one product, then one add: the same bits on every instruction set).
void spk_dct_rows(const float *x, size_t rows, size_t bands, const float *basis, size_t stride, size_t count,
                  float *y);

/// The largest of x[0..<n) (n ≥ 1; values must not be NaN).
float spk_max(const float *x, size_t n);

/// x[i] ← max(x[i], floor) for i in [0, n).
void spk_clamp_below(float *x, size_t n, float floor);

#ifdef __cplusplus
}
#endif

#endif
