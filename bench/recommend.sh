#!/usr/bin/env bash
# bench/run recommend: every track's K recommendations, from tracks already analysed — `retrieve export` by the
# mix of embedding and timbre then shared neighbours (what `retrieve similar` answers), on both cores and on
# one, and by the embedding's cosine alone; vs Musly's timbre method, one thread (bench/recommend.py: what
# `musly -k K -p` computes). The same clips; analysis is not timed (ours: `retrieve index` into a temporary
# index first; Musly: its models cached by bench/run quality, else made first).
#   bench/run recommend [CLIPS_DIR] [K]    (default bench/results/quality/clips, 20)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RETRIEVE_BENCH:?run through bench/run}"
clips="${1:-bench/results/quality/clips}"
k="${2:-20}"
[ -f "$clips/clips.csv" ] || { echo "bench/run recommend: no clip set at $clips (bench/run quality makes it)" >&2; exit 2; }
swift build -c release --product retrieve >&2
retrieve="$(swift build -c release --show-bin-path)/retrieve"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$retrieve" index "$clips" --db "$work/index.sqlite" >&2 2>"$work/index.log" || { cat "$work/index.log" >&2; exit 1; }
# Wall and CPU seconds of one export (the best of three: shared machines are noisy).
export_seconds() {
    local best=""
    for _ in 1 2 3; do
        /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" --db "$work/index.sqlite" --k "$k" --out "$work/out.csv" -q \
            2>"$work/export.log" || { cat "$work/export.log" >&2; exit 1; }
        read -r wall user sys < "$work/time"
        cpu=$(echo "$user + $sys" | bc)
        if [ -z "$best" ] || [ "$(echo "$wall < ${best%% *}" | bc)" = 1 ]; then best="$wall $cpu"; fi
    done
    echo "$best"
}
mix2=$(export_seconds "$retrieve" export)
mix1=$(export_seconds taskset -c 0 "$retrieve" export)
cosine=$(export_seconds "$retrieve" export --timbre-weight 0)
peer=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/recommend.py "$k" "$clips/clips.csv")
tracks=$("$retrieve" stats --db "$work/index.sqlite" | awk '/^tracks/ {print $2 + 0}')
.venv/bin/python - "$tracks" "$k" "$mix2" "$mix1" "$cosine" "$peer" <<'PY'
import json, sys
tracks, k = int(sys.argv[1]), int(sys.argv[2])
(mix2w, mix2c), (mix1w, mix1c), (cosw, cosc) = (map(float, a.split()) for a in sys.argv[3:6])
peer = json.loads(sys.argv[6])
print(f"{tracks} tracks (Musly {peer['tracks']}), k = {k}; wall / CPU seconds, best of three")
print(f"ours, by the mix, 2 cores:  {mix2w:7.2f} / {mix2c:7.2f}  ({mix2w / tracks * 1e3:.2f} ms wall per track)")
print(f"ours, by the mix, 1 core:   {mix1w:7.2f} / {mix1c:7.2f}  ({mix1w / tracks * 1e3:.2f} ms per track)")
print(f"ours, cosine alone, 2 cores:{cosw:7.2f} / {cosc:7.2f}")
print(f"Musly timbre, 1 thread:     {peer['seconds']:7.2f}            ({peer['seconds'] / peer['tracks'] * 1e3:.2f} ms per track)")
print(f"ratio Musly / ours by the mix: {peer['seconds'] / mix1w:.2f}x on one core each, "
      f"{peer['seconds'] / mix2w:.2f}x against our two cores")
PY
