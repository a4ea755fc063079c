#!/usr/bin/env bash
# bench/run serve [SIZES…]: `retrieve serve` over HTTP vs FAISS IndexFlatIP in-process — latency, throughput
# (wrk), memory after load and around a reload, startup time. Default sizes 100 000 and 1 000 000 tracks.
#   bench/run serve 100000
#   ROUNDS=3 QUERIES=500 WRK_SECONDS=10 SERVER_CPU=1 CLIENT_CPU=0 bench/run serve
# Indexes are made once by `retrieve-bench make-index` (6 min for 10⁶) and kept in bench/results/serve/
# (git-ignored; SERVE_FRESH=1 remakes them); each run serves a copy, since the reload writes to it.
# Prints the markdown tables that go under `## serve` in bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RETRIEVE_BENCH:?run through bench/run}"
command -v wrk >/dev/null || { echo "serve: needs wrk (apt-get install -y wrk)" >&2; exit 2; }
swift build -c release --product retrieve >&2
export RETRIEVE="$(swift build -c release --show-bin-path)/retrieve"
py=.venv/bin/python
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
data=bench/results/serve
mkdir -p "$data"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for n in "${sizes[@]}"; do
    if [ "${SERVE_FRESH:-0}" = 1 ] || [ ! -f "$data/index-$n.sqlite" ]; then
        rm -f "$data/index-$n.sqlite"* "$data/base-$n.npy"
        "$py" bench/serve.py generate "$data" "$n"
        "$RETRIEVE_BENCH" make-index "$n" "$data/index-$n.sqlite" "$data/base-$n.npy"
    fi
    for f in "$data/index-$n.sqlite"*; do cp "$f" "$tmp/serve-$n.sqlite${f##*.sqlite}"; done
    "$py" bench/serve.py measure "$tmp/serve-$n.json" "$n" "$tmp/serve-$n.sqlite" "$data/base-$n.npy"
    rm -f "$tmp/serve-$n.sqlite"*
    cp "$tmp/serve-$n.json" "$data/serve-$n-$(date -u +%Y%m%dT%H%M%S).json"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
jsons=()
for n in "${sizes[@]}"; do jsons+=("$tmp/serve-$n.json"); done
"$py" bench/serve.py report "${jsons[@]}"
