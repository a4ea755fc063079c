// The convolutional front end's forward pass; see include/frontend_kernels.h.
//
// Why a kernel of our own: as an im2col of every frame (F · T shifted copies of the batch's mel rows) and one
// C × F·T · F·T × B·M sgemm per frame, followed by a pooling pass over the C × B·M pre-activations, the front end
// cost about 1.2 ms of a core per 3-s segment, more than the LSTM after it (0.8 ms): the copies and the
// pre-activations go through memory three times for 21 multiply-adds per value.
//
// Here each segment's frames are first regrouped by pooling residue: row j of frame t holds the bands
// q · P + j − ⌊(F−1)/2⌋ for q = 0 ..< Q (zero outside the spectrum), so the input of output band q · P + r under
// kernel row f is row r + f at position q: one contiguous vector of Q values. For each channel, every r then
// accumulates its Q pre-activations in one vector over the F · T taps, and the pooling is an element-wise
// maximum of P such vectors; bias and ReLU follow, and the Q results are stored once. The regrouped rows of a
// segment ((P + F − 1) × Q floats a frame) stay in L1/L2 while all channels read them.
#include "frontend_kernels.h"

#include <string.h>

/// Output lanes handled at once: one zmm, two ymm or four xmm of floats.
#define LANES 16
/// 16 floats as one vector value (GCC/Clang vector extension): one zmm under AVX-512F, two ymm under AVX2,
/// four xmm on the baseline; `vec_unaligned` loads one from any float address.
typedef float vec __attribute__((vector_size(LANES * sizeof(float))));
typedef float vec_unaligned __attribute__((vector_size(LANES * sizeof(float)), aligned(sizeof(float))));
typedef int ivec __attribute__((vector_size(LANES * sizeof(int))));

static size_t padded_q(size_t mels, size_t pool) { return (mels / pool + LANES - 1) / LANES * LANES; }

size_t frontend_scratch_count(size_t steps, size_t mels, size_t kernel_bands, size_t pool) {
    return steps * (pool + kernel_bands - 1) * padded_q(mels, pool);
}

/// Folds residue `r`'s pre-activations into the running maximum `best` and its residue `at` (r = 0 starts them;
/// a later residue wins only where it is strictly larger, so ties keep the first, as PyTorch's max-pooling does).
__attribute__((always_inline)) static inline void keep_maximum(const vec *pre, size_t r, vec *best, vec *at) {
    const vec acc = *pre;
    if (r == 0) {
        *best = acc;
        return;
    }
    const ivec more = acc > *best;
    const vec rv = (vec){0} + (float)r;
    *at = (vec)(((ivec)*at & ~more) | ((ivec)rv & more));
    *best = __builtin_elementwise_max(acc, *best);
}

/// The body, inlined into one function per instruction set so the fixed 16-lane loops vectorise for it.
__attribute__((always_inline)) static inline void forward_body(
    const float *x, size_t steps, size_t batch, size_t mels, size_t channels, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *y, float *output, float *choice) {
    const size_t q_count = mels / pool, qp = padded_q(mels, pool), rows = pool + kf - 1;
    const size_t pad_f = (kf - 1) / 2, pad_t = (kt - 1) / 2, width = channels * q_count;
    for (size_t bi = 0; bi < batch; bi++) {
        // Regroup the segment: y[t][j][q] = x[t][bi][q · pool + j − pad_f], zero outside 0 ..< mels.
        for (size_t t = 0; t < steps; t++) {
            const float *src = x + (t * batch + bi) * mels;
            float *dst = y + t * rows * qp;
            memset(dst, 0, rows * qp * sizeof(float));
            for (size_t j = 0; j < rows; j++)
                for (size_t q = 0; q < q_count; q++) {
                    const ptrdiff_t band = (ptrdiff_t)(q * pool + j) - (ptrdiff_t)pad_f;
                    if (band >= 0 && band < (ptrdiff_t)mels) dst[j * qp + q] = src[band];
                }
        }
        for (size_t t = 0; t < steps; t++) {
            // Kernel columns whose frame lies inside the segment (the others read zeros).
            const size_t k_lo = t < pad_t ? pad_t - t : 0;
            const size_t k_hi = t + kt - pad_t > steps ? steps + pad_t - t : kt;
            float *out = output + (t * batch + bi) * width;
            float *chosen = choice ? choice + (t * batch + bi) * width : NULL;
            for (size_t c = 0; c < channels; c++) {
                const float *w = weight + c * kf * kt;
                for (size_t q0 = 0; q0 < qp; q0 += LANES) {
                    const float *frames = y + q0;
                    vec best = {0}, at = {0};
                    size_t r = 0;
                    // Eight residues at once: eight independent accumulator chains keep both FMA ports busy
                    // (one chain of F · T dependent FMAs would wait out the FMA latency at every step).
                    for (; r + 8 <= pool; r += 8) {
                        vec acc[8] = {{0}};
                        for (size_t k = k_lo; k < k_hi; k++) {
                            const float *frame = frames + (t + k - pad_t) * rows * qp;
                            for (size_t f = 0; f < kf; f++) {
                                const float wv = w[f * kt + k];
                                const float *v = frame + (r + f) * qp;
                                for (size_t j = 0; j < 8; j++) acc[j] += wv * *(const vec_unaligned *)(v + j * qp);
                            }
                        }
                        for (size_t j = 0; j < 8; j++) keep_maximum(&acc[j], r + j, &best, &at);
                    }
                    for (; r < pool; r++) {
                        vec acc = {0};
                        for (size_t k = k_lo; k < k_hi; k++) {
                            const float *frame = frames + (t + k - pad_t) * rows * qp;
                            for (size_t f = 0; f < kf; f++)
                                acc += w[f * kt + k] * *(const vec_unaligned *)(frame + (r + f) * qp);
                        }
                        keep_maximum(&acc, r, &best, &at);
                    }
                    const vec relu = __builtin_elementwise_max(best + bias[c], (vec){0});
                    const size_t n = q_count - q0 < LANES ? q_count - q0 : LANES;
                    memcpy(out + c * q_count + q0, &relu, n * sizeof(float));
                    if (chosen) memcpy(chosen + c * q_count + q0, &at, n * sizeof(float));
                }
            }
        }
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void forward512(
    const float *x, size_t steps, size_t batch, size_t mels, size_t channels, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *y, float *output, float *choice) {
    forward_body(x, steps, batch, mels, channels, kf, kt, pool, weight, bias, y, output, choice);
}

__attribute__((target("avx2,fma"))) static void forward256(
    const float *x, size_t steps, size_t batch, size_t mels, size_t channels, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *y, float *output, float *choice) {
    forward_body(x, steps, batch, mels, channels, kf, kt, pool, weight, bias, y, output, choice);
}
#endif

static void forward_baseline(
    const float *x, size_t steps, size_t batch, size_t mels, size_t channels, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *y, float *output, float *choice) {
    forward_body(x, steps, batch, mels, channels, kf, kt, pool, weight, bias, y, output, choice);
}

void frontend_forward(const float *x, size_t steps, size_t batch, size_t mels, size_t channels, size_t kernel_bands,
                      size_t kernel_frames, size_t pool, const float *weight, const float *bias, float *scratch,
                      float *output, float *choice, frontend_kernel_choice kernel) {
    if (steps == 0 || batch == 0 || channels == 0) return;
#if defined(__x86_64__)
    if (kernel == FRONTEND_KERNEL_AUTOMATIC && __builtin_cpu_supports("avx512f")) {
        forward512(x, steps, batch, mels, channels, kernel_bands, kernel_frames, pool, weight, bias, scratch, output,
                   choice);
        return;
    }
    if (kernel != FRONTEND_KERNEL_BASELINE && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        forward256(x, steps, batch, mels, channels, kernel_bands, kernel_frames, pool, weight, bias, scratch, output,
                   choice);
        return;
    }
#endif
    (void)kernel;
    forward_baseline(x, steps, batch, mels, channels, kernel_bands, kernel_frames, pool, weight, bias, scratch,
                     output, choice);
}

// ---------------------------------------------------------------------------------------------------------------
// The second stage. As one im2col (C₁ · F · T copies of every step's bands) and one sgemm a step, followed by the
// pooling, it cost about 0.95 ms of a core per 3-s segment at C₁ = 16, C₂ = 32, 3 × 3 over 16 bands — two thirds
// of the rest of the encoder (1.36 ms; retrieve-bench lstm, 432 against 734 segments/s on one busy core): the
// copies dominate for 144 multiply-adds per output.
//
// Here each segment's input is first laid out channel by channel with its 'same' padding written as zeros: row
// (t, i) holds bands −⌊(F−1)/2⌋ … of channel i at frame t, so the input of output band q under kernel row f is
// row element q + f, and one output channel's 16 consecutive bands are one vector, accumulated over the
// C₁ · F · T taps by FMAs of a broadcast weight with an unaligned load. Eight output channels share each load.
// The pre-activations of a frame's channel land in a row, which is then pooled, biased and rectified.

/// Row length of the padded input: the bands plus the kernel's padding, rounded up to whole vectors.
static size_t second_row(size_t bands, size_t kernel_bands) {
    return (bands + kernel_bands - 1 + LANES - 1) / LANES * LANES + LANES;
}

size_t frontend_second_scratch_count(size_t steps, size_t bands, size_t c1, size_t c2, size_t kernel_bands) {
    const size_t out_row = (bands + LANES - 1) / LANES * LANES;
    return steps * c1 * second_row(bands, kernel_bands) + c2 * out_row;
}

__attribute__((always_inline)) static inline void second_body(
    const float *h, size_t steps, size_t batch, size_t bands, size_t c1, size_t c2, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *scratch, float *output, float *choice) {
    const size_t row = second_row(bands, kf), out_row = (bands + LANES - 1) / LANES * LANES;
    const size_t pad_f = (kf - 1) / 2, pad_t = (kt - 1) / 2, q_count = bands / pool, width = c2 * q_count;
    const size_t in_width = c1 * bands;
    float *padded = scratch, *pre = scratch + steps * c1 * row;
    for (size_t bi = 0; bi < batch; bi++) {
        // padded[t][i][j] = h[t][bi][i · bands + j − pad_f] for 0 ≤ j − pad_f < bands, else 0.
        memset(padded, 0, steps * c1 * row * sizeof(float));
        for (size_t t = 0; t < steps; t++)
            for (size_t i = 0; i < c1; i++)
                memcpy(padded + (t * c1 + i) * row + pad_f, h + (t * batch + bi) * in_width + i * bands,
                       bands * sizeof(float));
        for (size_t t = 0; t < steps; t++) {
            const size_t k_lo = t < pad_t ? pad_t - t : 0;
            const size_t k_hi = t + kt - pad_t > steps ? steps + pad_t - t : kt;
            const size_t taps = c1 * kf * kt;
            size_t c = 0;
            // Eight output channels at a time, their accumulators in registers (a fixed count, so the compiler
            // keeps them there, and eight independent FMA chains keep both FMA ports busy); the channels left
            // over one at a time.
            for (; c + 8 <= c2; c += 8) {
                const float *w = weight + c * taps;
                for (size_t q0 = 0; q0 < out_row; q0 += LANES) {
                    vec a[8] = {{0}};
                    for (size_t i = 0; i < c1; i++)
                        for (size_t k = k_lo; k < k_hi; k++) {
                            const float *in = padded + ((t + k - pad_t) * c1 + i) * row + q0;
                            for (size_t f = 0; f < kf; f++) {
                                const vec v = *(const vec_unaligned *)(in + f);
                                const float *wt = w + (i * kf + f) * kt + k;
                                for (size_t j = 0; j < 8; j++) a[j] += wt[j * taps] * v;
                            }
                        }
                    for (size_t j = 0; j < 8; j++) memcpy(pre + (c + j) * out_row + q0, &a[j], sizeof(vec));
                }
            }
            for (; c < c2; c++) {
                const float *w0 = weight + c * taps;
                for (size_t q0 = 0; q0 < out_row; q0 += LANES) {
                    vec a0 = {0};
                    for (size_t i = 0; i < c1; i++)
                        for (size_t k = k_lo; k < k_hi; k++) {
                            const float *in = padded + ((t + k - pad_t) * c1 + i) * row + q0;
                            for (size_t f = 0; f < kf; f++)
                                a0 += w0[(i * kf + f) * kt + k] * *(const vec_unaligned *)(in + f);
                        }
                    memcpy(pre + c * out_row + q0, &a0, sizeof(vec));
                }
            }
            float *out = output + (t * batch + bi) * width;
            float *chosen = choice ? choice + (t * batch + bi) * width : NULL;
            for (c = 0; c < c2; c++) {
                const float *p = pre + c * out_row;
                for (size_t q = 0; q < q_count; q++) {
                    float best = p[q * pool];
                    size_t at = 0;
                    for (size_t r = 1; r < pool; r++)
                        if (p[q * pool + r] > best) {
                            best = p[q * pool + r];
                            at = r;
                        }
                    const float v = best + bias[c];
                    out[c * q_count + q] = v > 0 ? v : 0;
                    if (chosen) chosen[c * q_count + q] = (float)at;
                }
            }
        }
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void second512(
    const float *h, size_t steps, size_t batch, size_t bands, size_t c1, size_t c2, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *scratch, float *output, float *choice) {
    second_body(h, steps, batch, bands, c1, c2, kf, kt, pool, weight, bias, scratch, output, choice);
}

__attribute__((target("avx2,fma"))) static void second256(
    const float *h, size_t steps, size_t batch, size_t bands, size_t c1, size_t c2, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *scratch, float *output, float *choice) {
    second_body(h, steps, batch, bands, c1, c2, kf, kt, pool, weight, bias, scratch, output, choice);
}
#endif

static void second_baseline(
    const float *h, size_t steps, size_t batch, size_t bands, size_t c1, size_t c2, size_t kf, size_t kt, size_t pool,
    const float *weight, const float *bias, float *scratch, float *output, float *choice) {
    second_body(h, steps, batch, bands, c1, c2, kf, kt, pool, weight, bias, scratch, output, choice);
}

void frontend_second_forward(const float *h, size_t steps, size_t batch, size_t bands, size_t c1, size_t c2,
                             size_t kernel_bands, size_t kernel_frames, size_t pool, const float *weight,
                             const float *bias, float *scratch, float *output, float *choice,
                             frontend_kernel_choice kernel) {
    if (steps == 0 || batch == 0 || c2 == 0) return;
#if defined(__x86_64__)
    if (kernel == FRONTEND_KERNEL_AUTOMATIC && __builtin_cpu_supports("avx512f")) {
        second512(h, steps, batch, bands, c1, c2, kernel_bands, kernel_frames, pool, weight, bias, scratch, output,
                  choice);
        return;
    }
    if (kernel != FRONTEND_KERNEL_BASELINE && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        second256(h, steps, batch, bands, c1, c2, kernel_bands, kernel_frames, pool, weight, bias, scratch, output,
                  choice);
        return;
    }
#endif
    (void)kernel;
    second_baseline(h, steps, batch, bands, c1, c2, kernel_bands, kernel_frames, pool, weight, bias, scratch, output,
                    choice);
}
