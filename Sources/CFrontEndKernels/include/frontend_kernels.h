// The convolutional front end's forward passes (Conv2d 1 → C channels with 'same' zero padding, max-pooling over
// P mel bands, bias, ReLU; and the optional second stage, Conv2d C₁ → C₂ over the pooled bands) for a batch of
// segments, fused so that no im2col copy is written.
// AVX-512F, AVX2+FMA or baseline code is chosen at run time (no global -m flags).
#ifndef FRONTEND_KERNELS_H
#define FRONTEND_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Which code `frontend_forward` runs; every choice computes the same values up to rounding.
typedef enum {
    /// The widest the CPU supports: AVX-512F, else AVX2+FMA, else the baseline.
    FRONTEND_KERNEL_AUTOMATIC = 0,
    /// AVX2+FMA where the CPU has it, else the baseline; for tests.
    FRONTEND_KERNEL_AVX2 = 1,
    /// The baseline x86-64 (SSE2) or generic code; for tests.
    FRONTEND_KERNEL_BASELINE = 2,
} frontend_kernel_choice;

/// Floats of scratch `frontend_forward` needs: steps × (pool + kernel_bands − 1) × (mels / pool rounded up to 16).
size_t frontend_scratch_count(size_t steps, size_t mels, size_t kernel_bands, size_t pool);

/// Runs the front end over `x` (time-major [steps][batch][mels], normalised log-mel) into `output`
/// ([steps][batch][channels · mels / pool], channel-major per frame):
///   output[t][b][c · Q + q] = max(0, bias[c] + max_{r < pool} Σ_{f, k} weight[c][f][k] · x[t + k − ⌊(T−1)/2⌋][b][q · pool + r + f − ⌊(F−1)/2⌋])
/// with x zero outside the segment, F = kernel_bands, T = kernel_frames, Q = mels / pool (`pool` divides `mels`).
/// `weight` is [channels][kernel_bands][kernel_frames]. With `choice` non-NULL, also writes for each output
/// the r (0 ..< pool, as a float) of the maximum, the first one on ties, for the backward pass.
/// `scratch` holds `frontend_scratch_count` floats. `kernel` picks the instruction set (tests cover each).
void frontend_forward(const float *x, size_t steps, size_t batch, size_t mels, size_t channels, size_t kernel_bands,
                      size_t kernel_frames, size_t pool, const float *weight, const float *bias, float *scratch,
                      float *output, float *choice, frontend_kernel_choice kernel);

/// Floats of scratch `frontend_second_forward` needs: steps × c1 × (bands + kernel_bands − 1 rounded up to 16),
/// plus one row of 16-padded bands per output channel.
size_t frontend_second_scratch_count(size_t steps, size_t bands, size_t c1, size_t c2, size_t kernel_bands);

/// The front end's second stage (`ConvolutionalStage`) over `h`, the first stage's output (time-major
/// [steps][batch][c1 · bands], channel-major per frame), into `output` ([steps][batch][c2 · bands / pool]):
///   output[t][b][c · Q + q] = max(0, bias[c] + max_{r < pool} Σ_{i, f, k} weight[c][i][f][k] · h[t + k − ⌊(T−1)/2⌋][b][i · bands + q · pool + r + f − ⌊(F−1)/2⌋])
/// with h zero outside the segment and outside 0 ..< bands in each channel, F = kernel_bands, T = kernel_frames,
/// Q = bands / pool (`pool` divides `bands`). `weight` is [c2][c1][kernel_bands][kernel_frames]. With `choice`
/// non-NULL, also writes the r of each maximum (the first on ties). `scratch` holds
/// `frontend_second_scratch_count` floats; `kernel` picks the instruction set.
void frontend_second_forward(const float *h, size_t steps, size_t batch, size_t bands, size_t c1, size_t c2,
                             size_t kernel_bands, size_t kernel_frames, size_t pool, const float *weight,
                             const float *bias, float *scratch, float *output, float *choice,
                             frontend_kernel_choice kernel);

#ifdef __cplusplus
}
#endif

#endif
