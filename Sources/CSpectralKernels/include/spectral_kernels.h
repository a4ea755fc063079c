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
/// the DFTs of the even and odd samples. `twiddles` holds (cos 2πk/n, sin 2πk/n) for k in [0, m), interleaved.
/// `z` holds 2m floats (re, im interleaved); `power` receives m + 1 values. m ≥ 1.
void spk_power_from_half_spectrum(const float *z, const float *twiddles, size_t m, float *power);

/// Sparse mel filterbank: out[m] = Σ_j weights[offsets[m] + j] · power[starts[m] + j] over j in
/// [0, offsets[m + 1] − offsets[m]), for m in [0, bands). Every run length is a multiple of 8 (zero-padded), and
/// each band is summed in 8 lanes combined in one fixed order, whatever the instruction set.
void spk_mel(const float *power, const int32_t *starts, const int32_t *offsets, const float *weights, size_t bands,
             float *out);

#ifdef __cplusplus
}
#endif

#endif
