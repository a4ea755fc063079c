#!/usr/bin/env bash
# LSTM encoder throughput, ours vs PyTorch CPU, in one run (called by `bench/run lstm [THREADS] [SECONDS]`).
# Shapes: input 128, hidden 256, 128 steps, batch 32, 1 layer, unidirectional, mean pooling, 128-d embedding,
# 10 classes; then the shipped model's hidden size, segment frames and classes (read from its file), without and
# with a convolutional front end (LSTM_CONV=C,F,T,P; default 16,7,3,8: 16 channels, kernel 7 mels x 3 frames,
# max-pooling 8 mels, so the LSTM reads 256 features a frame).
# Training step = forward + CE + backward + AdamW. Threads: OpenBLAS threads for us (the fused
# inference kernel splits batch rows over as many), torch.set_num_threads for PyTorch. GFLOP/s counts the
# LSTM's 2·T·4H·(In+H) per sequence (×3 for training) and is compared with a single-thread 1024³ sgemm
# measured in the same run. RETRIEVE_LSTM_KERNEL=avx2|blas measures another inference path than the best.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1,2}"
seconds="${2:-3}"
ours=$("$RETRIEVE_BENCH" lstm --threads "$threads" --seconds "$seconds")
peer=$(.venv/bin/python bench/lstm.py "$threads" "$seconds")
echo "== shape: input 128, hidden 256, 128 steps, batch 32, 10 classes"
printf '%s\n%s\n' "$ours" "$peer" | .venv/bin/python bench/lstm.py --report
# The shipped model's own shape: its hidden size, segment frames and classes, read from the model file.
read -r hidden steps classes < <(.venv/bin/python - <<'PY'
import json, struct
raw = open("Index/default-model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
c = json.loads(json.loads(raw[8:8 + n])["__metadata__"]["configuration"])
print(c["hiddenSize"], c["segmentFrames"], len(c["classNames"]))
PY
)
ours=$("$RETRIEVE_BENCH" lstm --threads "$threads" --seconds "$seconds" --hidden "$hidden" --steps "$steps" --classes "$classes" | grep -v blas_core)
peer=$(LSTM_HIDDEN=$hidden LSTM_STEPS=$steps LSTM_CLASSES=$classes .venv/bin/python bench/lstm.py "$threads" "$seconds" | grep -v blas_core)
echo "== the shipped model's shape: input 128, hidden $hidden, $steps steps, batch 32, $classes classes"
printf '%s\n%s\n' "$ours" "$peer" | .venv/bin/python bench/lstm.py --report
# The same shape with the convolutional front end before the LSTM (retrieve train --conv-channels C --conv-kernel FxT
# --conv-pool P); its seq/s against the section above is the front end's cost.
conv="${LSTM_CONV:-16,7,3,8}"
ours=$("$RETRIEVE_BENCH" lstm --threads "$threads" --seconds "$seconds" --hidden "$hidden" --steps "$steps" --classes "$classes" --conv "$conv" | grep -v blas_core)
peer=$(LSTM_CONV=$conv LSTM_HIDDEN=$hidden LSTM_STEPS=$steps LSTM_CLASSES=$classes .venv/bin/python bench/lstm.py "$threads" "$seconds" | grep -v blas_core)
echo "== the shipped model's shape with a front end (C,F,T,P = $conv): input 128, hidden $hidden, $steps steps, batch 32"
printf '%s\n%s\n' "$ours" "$peer" | .venv/bin/python bench/lstm.py --report
