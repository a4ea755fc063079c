#!/usr/bin/env bash
# LSTM encoder throughput, ours vs PyTorch CPU, in one run (called by `bench/run lstm [THREADS] [SECONDS]`).
# Shape: input 128, hidden 256, 128 steps, batch 32, 1 layer, unidirectional, mean pooling, 128-d embedding,
# 10 classes; training step = forward + CE + backward + AdamW. Threads: OpenBLAS threads for us,
# torch.set_num_threads for PyTorch. GFLOP/s counts the LSTM's 2·T·4H·(In+H) per sequence (×3 for training)
# and is compared with a single-thread 1024³ sgemm measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1,2}"
seconds="${2:-3}"
ours=$("$RETRIEVE_BENCH" lstm --threads "$threads" --seconds "$seconds")
peer=$(.venv/bin/python bench/lstm.py "$threads" "$seconds")
printf '%s\n%s\n' "$ours" "$peer" | .venv/bin/python -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
peak = next(r["gflops"] for r in rows if r["what"] == "sgemm_peak_1thread")
print(f"single-thread sgemm peak (1024^3): {peak:.1f} GFLOP/s")
print(f"{\"task\":<10} {\"threads\":>7} {\"swift seq/s\":>12} {\"torch seq/s\":>12} {\"ratio\":>6} {\"swift GF/s\":>11} {\"torch GF/s\":>11} {\"swift %peak\":>11}")
for what in ("inference", "training"):
    for r in [r for r in rows if r.get("side") == "swift" and r["what"] == what]:
        p = next(q for q in rows if q.get("side") == "pytorch" and q["what"] == what and q["threads"] == r["threads"])
        print(f"{what:<10} {r[\"threads\"]:>7} {r[\"seq_per_s\"]:>12.1f} {p[\"seq_per_s\"]:>12.1f} {r[\"seq_per_s\"]/p[\"seq_per_s\"]:>5.2f}x {r[\"gflops\"]:>11.1f} {p[\"gflops\"]:>11.1f} {100*r[\"gflops\"]/peak/r[\"threads\"]:>10.0f}%")
'
