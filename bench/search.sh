#!/usr/bin/env bash
# bench/run search: exact top-k search, ours (VectorCollection) vs FAISS IndexFlatIP and sqlite-vec vec0.
#   bench/run search                    N = 10 000, 100 000, 1 000 000; 1 and 2 threads
#   SEARCH_SIZES="10000 100000" SEARCH_THREADS=1 bench/run search
# Prints the markdown table that goes under `## search` in bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RETRIEVE_BENCH:?run through bench/run}"
py=.venv/bin/python
sizes=(${SEARCH_SIZES:-10000 100000 1000000})
threads=(${SEARCH_THREADS:-1 2})
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "generating ${sizes[*]} × 128 unit vectors in $tmp" >&2
"$py" bench/search.py generate "$tmp" "${sizes[@]}"
for t in "${threads[@]}"; do
    echo "--- $t thread(s)" >&2
    # Both sides read the same variables: OpenBLAS (ours, and FAISS's bundled BLAS) and OpenMP (FAISS).
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$RETRIEVE_BENCH" search "$tmp" "${sizes[@]}" > "$tmp/ours-$t.json"
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$py" bench/search.py peers "$tmp" "$t" "${sizes[@]}" > "$tmp/peers-$t.json"
done
"$py" bench/search.py report "$tmp"
