// See spectral_kernels.h. Built with -ffp-contract=off (Package.swift) so that every clone computes the same
// bits: the loops are element-wise, and only the vector width differs between clones.
#include "spectral_kernels.h"

#include <string.h>

/// Eight floats; on baseline x86-64 two SSE registers, with AVX one: the same lane arithmetic either way.
typedef float v8f __attribute__((vector_size(32)));

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CLONES void spk_window(const float *restrict frame, const float *restrict window, size_t n, float *restrict out) {
    for (size_t i = 0; i < n; i++) out[i] = frame[i] * window[i];
}

CLONES void spk_power_from_half_spectrum(const float *restrict z, const float *restrict twiddles, size_t m,
                                         float *restrict power) {
    // k = 0 and k = m: E = Re Z[0], O = Im Z[0], twiddle 1 and −1.
    const float r0 = z[0], i0 = z[1];
    power[0] = (r0 + i0) * (r0 + i0);
    power[m] = (r0 - i0) * (r0 - i0);
    for (size_t k = 1; k < m; k++) {
        const float ar = z[2 * k], ai = z[2 * k + 1];
        const float br = z[2 * (m - k)], bi = -z[2 * (m - k) + 1];  // conj Z[m − k]
        const float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
        const float dr = 0.5f * (ar - br), di = 0.5f * (ai - bi);
        const float orr = di, oi = -dr;  // O = D / i
        const float c = twiddles[2 * k], s = twiddles[2 * k + 1];
        // X = E + (c − i s) · O
        const float xr = er + (c * orr + s * oi);
        const float xi = ei + (c * oi - s * orr);
        power[k] = xr * xr + xi * xi;
    }
}

CLONES void spk_mel(const float *restrict power, const int32_t *restrict starts, const int32_t *restrict offsets,
                    const float *restrict weights, size_t bands, float *restrict out) {
    for (size_t m = 0; m < bands; m++) {
        const float *p = power + starts[m], *w = weights + offsets[m];
        const size_t count = (size_t)(offsets[m + 1] - offsets[m]);
        v8f acc = {0};
        for (size_t j = 0; j < count; j += 8) {
            v8f pv, wv;
            memcpy(&pv, p + j, sizeof pv);  // unaligned loads
            memcpy(&wv, w + j, sizeof wv);
            acc += pv * wv;
        }
        out[m] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
}
