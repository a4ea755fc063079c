#!/usr/bin/env bash
# bench/run timbre: the timbre half of a hybrid query, per candidate — ours (a stored TimbreProfile read and
# compared: two Jensen–Shannon divergences and mutual proximity) vs Musly's timbre method
# (pymusly compute_similarity: one divergence and mutual proximity), the same clips, one thread each.
#   bench/run timbre [CLIPS_CSV] [CANDIDATES]    (default bench/results/quality/clips/clips.csv, 10 000)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RETRIEVE_BENCH:?run through bench/run}"
csv="${1:-bench/results/quality/clips/clips.csv}"
count="${2:-10000}"
[ -f "$csv" ] || { echo "bench/run timbre: no clip list at $csv (bench/run quality makes it)" >&2; exit 2; }
# The first 64 clips of the list, as absolute paths.
mapfile -t clips < <(.venv/bin/python - "$csv" <<'PY'
import csv, os, sys
rows = list(csv.DictReader(open(sys.argv[1])))[:64]
print("\n".join(os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), r["path"]) for r in rows))
PY
)
ours="$(OPENBLAS_NUM_THREADS=1 "$RETRIEVE_BENCH" timbre Index/default-model.safetensors "$count" "${clips[@]}")"
peer="$(OMP_NUM_THREADS=1 .venv/bin/python bench/timbre.py "$count" "${clips[@]}")"
.venv/bin/python - "$ours" "$peer" <<'PY'
import json, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"candidates: {ours['candidates']} (cycled from {ours['files']} clips; Musly {peer['files']})")
print(f"ours, read + score:  {ours['read_and_score_s'] * 1e6:7.2f} µs per candidate")
print(f"ours, score only:    {ours['score_only_s'] * 1e6:7.2f} µs per candidate")
print(f"Musly timbre:        {peer['per_candidate_s'] * 1e6:7.2f} µs per candidate")
print(f"ratio Musly / ours (read + score): {peer['per_candidate_s'] / ours['read_and_score_s']:.2f}x")
PY
