// Fused LSTM inference steps; see include/lstm_kernels.h. Only functions marked target("avx512f") or
// target("avx2,fma") use those instructions; the dispatching code is compiled for the baseline target.
//
// Why a kernel of our own: each step's recurrent product is a small GEMM (batch 32 × 256 · 256 × 1024 for the
// benchmark shape) that OpenBLAS runs at 30–60 % of its large-GEMM speed, and the gate pass after it rereads
// the 4H gate pre-activations from memory. Here the weights are packed once per model, [unit block][k][gate]
// [lane], so one pass over k accumulates i, f, g and o of `lanes` units for a few batch rows at once, in
// registers; the input projection rides in the same pass (k over [x_t ‖ h_{t−1}]), so no T × B × 4H gate
// buffer is written or read, and the cell update happens while the tile is in registers. The packed weights
// of a layer (4H × (input + H) floats, 1.5 MB for the benchmark shape) stay in the core's L2 across steps.
#include "lstm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// Where a training forward pass keeps the activations its backward pass needs (NULL members: inference).
typedef struct {
    float *gates, *cells, *tanh_cells;
    size_t hidden;
} kept_activations;

size_t lstm_kernel_lanes(lstm_kernel kernel) { return kernel == LSTM_KERNEL_AVX2 ? 8 : 16; }

static size_t unit_blocks(size_t hidden, size_t lanes) { return (hidden + lanes - 1) / lanes; }

/// Floats per unit block: the weights of every k, then the biases.
static size_t block_stride(size_t input, size_t hidden, size_t lanes) {
    return (input + hidden) * 4 * lanes + 4 * lanes;
}

size_t lstm_packed_count(size_t input, size_t hidden, lstm_kernel kernel) {
    size_t lanes = lstm_kernel_lanes(kernel);
    return unit_blocks(hidden, lanes) * block_stride(input, hidden, lanes);
}

void lstm_pack(const float *weight_ih, const float *weight_hh, const float *bias_ih, const float *bias_hh,
               size_t input, size_t hidden, lstm_kernel kernel, float *packed) {
    size_t lanes = lstm_kernel_lanes(kernel), blocks = unit_blocks(hidden, lanes), k_total = input + hidden;
    for (size_t jb = 0; jb < blocks; jb++) {
        float *block = packed + jb * block_stride(input, hidden, lanes);
        for (size_t k = 0; k < k_total; k++) {
            for (size_t g = 0; g < 4; g++) {
                for (size_t l = 0; l < lanes; l++) {
                    size_t u = jb * lanes + l;
                    float w = 0;
                    if (u < hidden) {
                        size_t row = g * hidden + u;
                        w = k < input ? weight_ih[row * input + k] : weight_hh[row * hidden + (k - input)];
                    }
                    block[(k * 4 + g) * lanes + l] = w;
                }
            }
        }
        float *bias = block + k_total * 4 * lanes;
        for (size_t g = 0; g < 4; g++) {
            for (size_t l = 0; l < lanes; l++) {
                size_t u = jb * lanes + l;
                bias[g * lanes + l] = u < hidden ? bias_ih[g * hidden + u] + bias_hh[g * hidden + u] : 0;
            }
        }
    }
}

#if defined(__x86_64__)

/// Splits `batch` rows into ⌈batch / max_rows⌉ blocks of nearly equal size (the first `batch % blocks` get one
/// more row), so no block is a lone row. Block sizes only change which rows share a pass over the weights,
/// never the order of any row's sums.
static void row_block(size_t batch, size_t max_rows, size_t index, size_t *first, size_t *rows) {
    size_t blocks = (batch + max_rows - 1) / max_rows, base = batch / blocks, extra = batch % blocks;
    *rows = base + (index < extra);
    *first = index * base + (index < extra ? index : extra);
}

// MARK: AVX-512F, 16 lanes

#define T512 __attribute__((target("avx512f"), always_inline)) static inline

/// e^x by Cephes' single-precision scheme (the same as FastMath.exp): x clamped to [−87.3, 88.3], n = round(x
/// log2 e) by the 1.5·2²³ trick, r = x − n ln 2 in two parts, a degree-6 polynomial, 2ⁿ from the bits.
/// Relative error below 2e-7.
T512 __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), magic);
    __m512 fx = _mm512_sub_ps(shifted, magic);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_add_ps(_mm512_fmadd_ps(y, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
}

T512 __m512 sigmoid512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/// tanh(x) = 1 − 2 / (1 + e^{2x}): absolute error below 3e-7.
T512 __m512 tanh512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(one, exp512(_mm512_add_ps(x, x)))));
}

/// One tile: `rows` batch rows × 16 units × 4 gates, k over x (and h unless `first`), then the cell update.
/// `rows` is a constant after inlining, so `acc` lives in (up to 24) zmm registers.
T512 void tile512(const size_t rows, const int keep, const float *const *x, size_t input, const float *const *h,
                  size_t hidden, int first, const float *w, float *const *cell, float *const *out, __mmask16 mask,
                  const kept_activations *kept, size_t row0, size_t unit0) {
    __m512 acc[6][4];
    const float *bias = w + (input + hidden) * 64;
    _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < 4; g++) acc[r][g] = _mm512_loadu_ps(bias + 16 * g);
    for (size_t k = 0; k < input; k++) {
        const float *wk = w + k * 64;
        __m512 w0 = _mm512_loadu_ps(wk), w1 = _mm512_loadu_ps(wk + 16), w2 = _mm512_loadu_ps(wk + 32),
               w3 = _mm512_loadu_ps(wk + 48);
        _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++) {
            __m512 a = _mm512_set1_ps(x[r][k]);
            acc[r][0] = _mm512_fmadd_ps(a, w0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, w1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(a, w2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(a, w3, acc[r][3]);
        }
    }
    if (!first) {
        const float *wh = w + input * 64;
        for (size_t k = 0; k < hidden; k++) {
            const float *wk = wh + k * 64;
            __m512 w0 = _mm512_loadu_ps(wk), w1 = _mm512_loadu_ps(wk + 16), w2 = _mm512_loadu_ps(wk + 32),
                   w3 = _mm512_loadu_ps(wk + 48);
            _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++) {
                __m512 a = _mm512_set1_ps(h[r][k]);
                acc[r][0] = _mm512_fmadd_ps(a, w0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(a, w1, acc[r][1]);
                acc[r][2] = _mm512_fmadd_ps(a, w2, acc[r][2]);
                acc[r][3] = _mm512_fmadd_ps(a, w3, acc[r][3]);
            }
        }
    }
    _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++) {
        __m512 i = sigmoid512(acc[r][0]), g = tanh512(acc[r][2]), o = sigmoid512(acc[r][3]);
        __m512 c = _mm512_mul_ps(i, g);
        __m512 f = _mm512_setzero_ps();
        if (!first || keep) f = sigmoid512(acc[r][1]);
        if (!first) c = _mm512_fmadd_ps(f, _mm512_loadu_ps(cell[r]), c);
        _mm512_storeu_ps(cell[r], c);
        __m512 tc = tanh512(c);
        _mm512_mask_storeu_ps(out[r], mask, _mm512_mul_ps(o, tc));
        if (keep) {
            const size_t hid = kept->hidden, row = row0 + r;
            float *gates = kept->gates + row * 4 * hid + unit0;
            _mm512_mask_storeu_ps(gates, mask, i);
            _mm512_mask_storeu_ps(gates + hid, mask, f);
            _mm512_mask_storeu_ps(gates + 2 * hid, mask, g);
            _mm512_mask_storeu_ps(gates + 3 * hid, mask, o);
            _mm512_mask_storeu_ps(kept->cells + row * hid + unit0, mask, c);
            _mm512_mask_storeu_ps(kept->tanh_cells + row * hid + unit0, mask, tc);
        }
    }
}

__attribute__((target("avx512f"))) static void direction512(const float *input, size_t input_size, size_t steps,
                                                            size_t batch, size_t first_row, size_t row_count,
                                                            size_t hidden, const float *packed, int reverse,
                                                            float *cell, float *output, size_t stride,
                                                            const kept_activations *kept) {
    const size_t lanes = 16, blocks = unit_blocks(hidden, lanes), padded = blocks * lanes, max_rows = 6;
    const size_t bstride = block_stride(input_size, hidden, lanes);
    const size_t row_blocks = (row_count + max_rows - 1) / max_rows;
    for (size_t s = 0; s < steps; s++) {
        const size_t t = reverse ? steps - 1 - s : s, prev = reverse ? t + 1 : t - 1;
        const int first = s == 0;
        for (size_t rb = 0; rb < row_blocks; rb++) {
            size_t r0, rows;
            row_block(row_count, max_rows, rb, &r0, &rows);
            r0 += first_row;
            const float *x[6], *h[6];
            float *c[6], *o[6];
            for (size_t r = 0; r < rows; r++) {
                x[r] = input + (t * batch + r0 + r) * input_size;
                h[r] = first ? x[r] : output + (prev * batch + r0 + r) * stride;
            }
            for (size_t jb = 0; jb < blocks; jb++) {
                const size_t valid = hidden - jb * lanes < lanes ? hidden - jb * lanes : lanes;
                const __mmask16 mask = (__mmask16)((1u << valid) - 1);
                for (size_t r = 0; r < rows; r++) {
                    c[r] = cell + (r0 + r) * padded + jb * lanes;
                    o[r] = output + (t * batch + r0 + r) * stride + jb * lanes;
                }
                const float *w = packed + jb * bstride;
                const size_t row0 = t * batch + r0, unit0 = jb * lanes;
#define TILE512(n)                                                                                             \
    (kept ? tile512(n, 1, x, input_size, h, hidden, first, w, c, o, mask, kept, row0, unit0)                   \
          : tile512(n, 0, x, input_size, h, hidden, first, w, c, o, mask, kept, row0, unit0))
                switch (rows) {
                case 1: TILE512(1); break;
                case 2: TILE512(2); break;
                case 3: TILE512(3); break;
                case 4: TILE512(4); break;
                case 5: TILE512(5); break;
                default: TILE512(6); break;
                }
            }
        }
    }
}

// MARK: AVX2 + FMA, 8 lanes

#define T256 __attribute__((target("avx2,fma"), always_inline)) static inline

T256 __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), magic);
    __m256 fx = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fmadd_ps(fx, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

T256 __m256 sigmoid256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

T256 __m256 tanh256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(one, exp256(_mm256_add_ps(x, x)))));
}

/// Lanes < n set, for the last block's masked store.
static const int tail_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/// As tile512 with 8 lanes and at most 3 rows (12 ymm accumulators of 16 registers).
T256 void tile256(const size_t rows, const int keep, const float *const *x, size_t input, const float *const *h,
                  size_t hidden, int first, const float *w, float *const *cell, float *const *out, __m256i mask,
                  const kept_activations *kept, size_t row0, size_t unit0) {
    __m256 acc[3][4];
    const float *bias = w + (input + hidden) * 32;
    _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < 4; g++) acc[r][g] = _mm256_loadu_ps(bias + 8 * g);
    for (size_t k = 0; k < input; k++) {
        const float *wk = w + k * 32;
        __m256 a[3];
        _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++) a[r] = _mm256_broadcast_ss(x[r] + k);
        _Pragma("clang loop unroll(full)") for (size_t g = 0; g < 4; g++) {
            const __m256 wg = _mm256_loadu_ps(wk + 8 * g);
            _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++)
                acc[r][g] = _mm256_fmadd_ps(a[r], wg, acc[r][g]);
        }
    }
    if (!first) {
        const float *wh = w + input * 32;
        for (size_t k = 0; k < hidden; k++) {
            const float *wk = wh + k * 32;
            __m256 a[3];
            _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++) a[r] = _mm256_broadcast_ss(h[r] + k);
            _Pragma("clang loop unroll(full)") for (size_t g = 0; g < 4; g++) {
                const __m256 wg = _mm256_loadu_ps(wk + 8 * g);
                _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++)
                    acc[r][g] = _mm256_fmadd_ps(a[r], wg, acc[r][g]);
            }
        }
    }
    _Pragma("clang loop unroll(full)") for (size_t r = 0; r < rows; r++) {
        __m256 i = sigmoid256(acc[r][0]), g = tanh256(acc[r][2]), o = sigmoid256(acc[r][3]);
        __m256 c = _mm256_mul_ps(i, g);
        __m256 f = _mm256_setzero_ps();
        if (!first || keep) f = sigmoid256(acc[r][1]);
        if (!first) c = _mm256_fmadd_ps(f, _mm256_loadu_ps(cell[r]), c);
        _mm256_storeu_ps(cell[r], c);
        __m256 tc = tanh256(c);
        _mm256_maskstore_ps(out[r], mask, _mm256_mul_ps(o, tc));
        if (keep) {
            const size_t hid = kept->hidden, row = row0 + r;
            float *gates = kept->gates + row * 4 * hid + unit0;
            _mm256_maskstore_ps(gates, mask, i);
            _mm256_maskstore_ps(gates + hid, mask, f);
            _mm256_maskstore_ps(gates + 2 * hid, mask, g);
            _mm256_maskstore_ps(gates + 3 * hid, mask, o);
            _mm256_maskstore_ps(kept->cells + row * hid + unit0, mask, c);
            _mm256_maskstore_ps(kept->tanh_cells + row * hid + unit0, mask, tc);
        }
    }
}

__attribute__((target("avx2,fma"))) static void direction256(const float *input, size_t input_size, size_t steps,
                                                             size_t batch, size_t first_row, size_t row_count,
                                                             size_t hidden, const float *packed, int reverse,
                                                             float *cell, float *output, size_t stride,
                                                            const kept_activations *kept) {
    const size_t lanes = 8, blocks = unit_blocks(hidden, lanes), padded = blocks * lanes, max_rows = 3;
    const size_t bstride = block_stride(input_size, hidden, lanes);
    const size_t row_blocks = (row_count + max_rows - 1) / max_rows;
    for (size_t s = 0; s < steps; s++) {
        const size_t t = reverse ? steps - 1 - s : s, prev = reverse ? t + 1 : t - 1;
        const int first = s == 0;
        for (size_t rb = 0; rb < row_blocks; rb++) {
            size_t r0, rows;
            row_block(row_count, max_rows, rb, &r0, &rows);
            r0 += first_row;
            const float *x[3], *h[3];
            float *c[3], *o[3];
            for (size_t r = 0; r < rows; r++) {
                x[r] = input + (t * batch + r0 + r) * input_size;
                h[r] = first ? x[r] : output + (prev * batch + r0 + r) * stride;
            }
            for (size_t jb = 0; jb < blocks; jb++) {
                const size_t valid = hidden - jb * lanes < lanes ? hidden - jb * lanes : lanes;
                const __m256i mask = _mm256_loadu_si256((const __m256i *)(tail_masks + 8 - valid));
                for (size_t r = 0; r < rows; r++) {
                    c[r] = cell + (r0 + r) * padded + jb * lanes;
                    o[r] = output + (t * batch + r0 + r) * stride + jb * lanes;
                }
                const float *w = packed + jb * bstride;
                const size_t row0 = t * batch + r0, unit0 = jb * lanes;
#define TILE256(n)                                                                                             \
    (kept ? tile256(n, 1, x, input_size, h, hidden, first, w, c, o, mask, kept, row0, unit0)                   \
          : tile256(n, 0, x, input_size, h, hidden, first, w, c, o, mask, kept, row0, unit0))
                switch (rows) {
                case 1: TILE256(1); break;
                case 2: TILE256(2); break;
                default: TILE256(3); break;
                }
            }
        }
    }
}

int lstm_kernel_supported(lstm_kernel kernel) {
    __builtin_cpu_init();
    switch (kernel) {
    case LSTM_KERNEL_AVX512: return __builtin_cpu_supports("avx512f");
    case LSTM_KERNEL_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return 0;
}

void lstm_forward_direction(const float *input, size_t input_size, size_t steps, size_t batch, size_t first_row,
                            size_t row_count, size_t hidden, const float *packed, int reverse, float *cell,
                            float *output, size_t output_stride, float *gates, float *cells, float *tanh_cells,
                            lstm_kernel kernel) {
    if (steps == 0 || row_count == 0 || hidden == 0) return;
    const kept_activations keep = {gates, cells, tanh_cells, hidden};
    const kept_activations *kept = gates ? &keep : NULL;
    if (kernel == LSTM_KERNEL_AVX512)
        direction512(input, input_size, steps, batch, first_row, row_count, hidden, packed, reverse, cell, output,
                     output_stride, kept);
    else
        direction256(input, input_size, steps, batch, first_row, row_count, hidden, packed, reverse, cell, output,
                     output_stride, kept);
}

#else

int lstm_kernel_supported(lstm_kernel kernel) {
    (void)kernel;
    return 0;
}

void lstm_forward_direction(const float *input, size_t input_size, size_t steps, size_t batch, size_t first_row,
                            size_t row_count, size_t hidden, const float *packed, int reverse, float *cell,
                            float *output, size_t output_stride, float *gates, float *cells, float *tanh_cells,
                            lstm_kernel kernel) {
    (void)input, (void)input_size, (void)steps, (void)batch, (void)first_row, (void)row_count, (void)hidden;
    (void)packed, (void)reverse, (void)gates, (void)cells, (void)tanh_cells;
    (void)cell, (void)output, (void)output_stride, (void)kernel;
    __builtin_trap();  // callers check lstm_kernel_supported first
}

#endif
