#!/usr/bin/env bash
# Indexing throughput on real music, and where the time goes (decode, log-mel, encoder, SQLite).
#   bench/run index [DIR] [JOBS]     DIR defaults to corpus-quick/ (scripts/corpus --quick makes it)
# No peer runs here: the peers (Musly, bliss-rs) are not installable from this machine's registries.
set -euo pipefail
: "${RETRIEVE_BENCH:?run through bench/run}"
dir="${1:-corpus-quick}"
[ -d "$dir" ] || scripts/corpus --quick "$dir" >&2
# One BLAS thread per worker: the pipeline's own workers use the cores.
OPENBLAS_NUM_THREADS=1 "$RETRIEVE_BENCH" index "$dir" Index/default-model.safetensors "${2:-2}"
