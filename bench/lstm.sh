#!/usr/bin/env bash
# LSTM encoder throughput, ours vs PyTorch CPU, in one run (called by `bench/run lstm [THREADS] [SECONDS]`).
# Shape: input 128, hidden 256, 128 steps, batch 32, 1 layer, unidirectional, mean pooling, 128-d embedding,
# 10 classes; training step = forward + CE + backward + AdamW. Threads: OpenBLAS threads for us (the fused
# inference kernel splits batch rows over as many), torch.set_num_threads for PyTorch. GFLOP/s counts the
# LSTM's 2·T·4H·(In+H) per sequence (×3 for training) and is compared with a single-thread 1024³ sgemm
# measured in the same run. RETRIEVE_LSTM_KERNEL=avx2|blas measures another inference path than the best.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1,2}"
seconds="${2:-3}"
ours=$("$RETRIEVE_BENCH" lstm --threads "$threads" --seconds "$seconds")
peer=$(.venv/bin/python bench/lstm.py "$threads" "$seconds")
printf '%s\n%s\n' "$ours" "$peer" | .venv/bin/python bench/lstm.py --report
