// Fused LSTM inference steps: for each step and each block of batch rows, one register-blocked pass computes
// all four gates of a block of hidden units from [x_t ‖ h_{t−1}], then applies σ/tanh and the cell update while
// the tile is still in registers. The AVX-512F and AVX2+FMA kernels are chosen at run time (no global -m
// flags), so the package still runs on any x86-64 and builds on aarch64, where the caller uses BLAS instead.
#ifndef LSTM_KERNELS_H
#define LSTM_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Which kernel `lstm_forward_direction` runs. The packed weights depend on it (`lstm_kernel_lanes`).
typedef enum {
    /// 16 hidden units per block, 24 zmm accumulators (6 rows × 4 gates). Needs AVX-512F.
    LSTM_KERNEL_AVX512 = 1,
    /// 8 hidden units per block, 12 ymm accumulators (3 rows × 4 gates). Needs AVX2 and FMA.
    LSTM_KERNEL_AVX2 = 2,
} lstm_kernel;

/// 1 if this CPU (and OS) can run `kernel`, else 0.
int lstm_kernel_supported(lstm_kernel kernel);

/// Hidden units per block of `kernel`: the packed layout's lane count.
size_t lstm_kernel_lanes(lstm_kernel kernel);

/// Floats in the packed weights of one layer and direction: ⌈hidden / lanes⌉ blocks of
/// (input + hidden) × 4 × lanes weights followed by 4 × lanes summed biases.
size_t lstm_packed_count(size_t input, size_t hidden, lstm_kernel kernel);

/// Packs PyTorch's weight_ih (4H × input), weight_hh (4H × H), bias_ih and bias_hh (4H each), gate order
/// i, f, g, o, into `packed` (`lstm_packed_count` floats): per block of `lanes` units, row k of
/// [W_ih ‖ W_hh]ᵀ as 4 gates × lanes, then b_ih + b_hh likewise. Units past `hidden` are zero.
void lstm_pack(const float *weight_ih, const float *weight_hh, const float *bias_ih, const float *bias_hh,
               size_t input, size_t hidden, lstm_kernel kernel, float *packed);

/// Runs one direction of one LSTM layer over `steps` time-major steps for rows [first_row, first_row + row_count)
/// of a batch of `batch` rows: input row (t, b) is `input + (t · batch + b) · input_size`; h_t of row b is
/// written to `output + (t · batch + b) · output_stride` (`hidden` floats) and h_{t−1} is read back from there,
/// so the two directions interleave into [forward ‖ backward]. `reverse` runs t = steps − 1 … 0. `cell` is
/// scratch of `batch · ⌈hidden / lanes⌉ · lanes` floats, of which the call uses its rows' part only, so calls
/// on disjoint row ranges may run concurrently. Rows are independent and each row's sums run in one fixed
/// order (bias, then k = 0 … input + hidden − 1) whatever the batch, the range or the row's place in it, so a
/// row's result does not depend on the batch it is in.
///
/// For training, `gates` (`[steps][batch][4 · hidden]`, activated i, f, g, o), `cells` and `tanh_cells`
/// (`[steps][batch][hidden]`) keep what the backward pass needs; for inference all three are NULL.
void lstm_forward_direction(const float *input, size_t input_size, size_t steps, size_t batch, size_t first_row,
                            size_t row_count, size_t hidden, const float *packed, int reverse, float *cell,
                            float *output, size_t output_stride, float *gates, float *cells, float *tanh_cells,
                            lstm_kernel kernel);

#ifdef __cplusplus
}
#endif

#endif
