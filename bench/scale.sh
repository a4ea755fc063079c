#!/usr/bin/env bash
# bench/run scale: libraries of 10⁵ and 10⁶ tracks (issue 13), ours and the peer in one run.
#   - cold `retrieve similar ID --k 10` (fresh process, index in the page cache) vs sqlite-vec vec0 top-10 in a
#     fresh Python process on the same vectors (its database file in the page cache too);
#   - `retrieve export --k 10` (all against all, CSV) vs FAISS IndexFlatIP batched exact search, k = 11.
#   bench/run scale                                      N = 100 000 and 1 000 000
#   SCALE_SIZES=100000 SCALE_DIR=/tmp/scale bench/run scale   SCALE_DIR keeps the indexes between runs
#   SCALE_FAISS_MAX=100000 (largest N FAISS exports), SCALE_EXPORT_MAX=1000000, SCALE_RUNS=5 (cold runs),
#   RETRIEVE=path (a prebuilt retrieve; RETRIEVE_BENCH is then needed only to make missing indexes)
# Prints the markdown tables for `## scale` in bench/README.md, with the CPU and load they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RETRIEVE_BENCH:?run through bench/run}"
py=.venv/bin/python
# RETRIEVE=path/to/retrieve uses a binary built earlier (e.g. while another build holds .build).
[ -n "${RETRIEVE:-}" ] || swift build -c release --product retrieve >&2
retrieve="${RETRIEVE:-$(swift build -c release --show-bin-path)/retrieve}"
sizes=(${SCALE_SIZES:-100000 1000000})
runs=${SCALE_RUNS:-5}
dir="${SCALE_DIR:-$(mktemp -d)}"
mkdir -p "$dir"
[ -n "${SCALE_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
: > "$dir/results.jsonl"
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for n in "${sizes[@]}"; do
    [ -f "$dir/base-$n.npy" ] || "$py" bench/search.py generate "$dir" "$n"
    [ -f "$dir/lib-$n.sqlite" ] || "$RETRIEVE_BENCH" make-index "$n" "$dir/lib-$n.sqlite" "$dir/base-$n.npy" >&2
    "$py" bench/scale.py vec-build "$dir" "$n"
    cat "$dir/lib-$n.sqlite"* "$dir/vec-$n.db" > /dev/null   # both files in the page cache
    id=$((n / 2 + 1))
    ours="" ours_rss=0 peer="" peer_query=""
    for i in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$dir/time" "$retrieve" similar "$id" --k 10 --db "$dir/lib-$n.sqlite" --csv \
            > "$dir/ours.csv"
        read -r wall rss < "$dir/time"
        ours="$ours $wall"
        [ "$rss" -gt "$ours_rss" ] && ours_rss=$rss
        /usr/bin/time -f "%e %M" -o "$dir/time" "$py" bench/scale.py vec-query "$dir" "$n" "$id" > "$dir/peer.json"
        read -r wall rss < "$dir/time"
        peer="$peer $wall"
        peer_query="$peer_query $("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["query_s"])' "$dir/peer.json")"
    done
    agree=$("$py" - "$dir/ours.csv" "$dir/peer.json" <<'PY'
import csv, json, sys
ours = [int(r["id"]) for r in csv.DictReader(open(sys.argv[1]))]
peer = json.load(open(sys.argv[2]))["ids"]
print(len(set(ours) & set(peer)) / 10)
PY
)
    printf '{"kind": "cold", "n": %d, "ours_s": %s, "ours_runs": [%s], "ours_rss_mb": %s, "vec_s": %s, "vec_query_s": %s, "agree": %s}\n' \
        "$n" "$(echo $ours | median)" "$(echo $ours | tr ' ' ',')" "$((ours_rss / 1024))" "$(echo $peer | median)" \
        "$(echo $peer_query | median)" "$agree" >> "$dir/results.jsonl"
    echo "cold n=$n: ours $ours s (RSS $((ours_rss / 1024)) MB), sqlite-vec $peer s" >&2

    [ "$n" -le "${SCALE_EXPORT_MAX:-1000000}" ] || continue
    rm -f "$dir/export-$n.csv" "$dir/export-$n.csv.progress"
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$retrieve" export --db "$dir/lib-$n.sqlite" --k 10 \
        --out "$dir/export-$n.csv" -q
    read -r wall user sys rss < "$dir/time"
    faiss=null
    if [ "$n" -le "${SCALE_FAISS_MAX:-100000}" ]; then
        faiss=$("$py" bench/scale.py faiss-all "$dir" "$n")
    fi
    printf '{"kind": "export", "n": %d, "s": %s, "cpu_s": %s, "rss_mb": %s, "faiss": %s}\n' \
        "$n" "$wall" "$(echo "$user + $sys" | bc)" "$((rss / 1024))" "$faiss" >> "$dir/results.jsonl"
    echo "export n=$n: ours $wall s wall, $user + $sys s CPU, RSS $((rss / 1024)) MB" >&2
    rm -f "$dir/export-$n.csv"
done

echo "## scale ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), family $(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)" \
    "model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"
echo
"$py" bench/scale.py report "$dir"
