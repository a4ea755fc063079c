#!/usr/bin/env bash
# Audio front end: decode + resample to 22 050 Hz (soxr HQ) + log-mel + MFCC, ours vs librosa 0.11, one core,
# on the same generated files (COUNT × SECONDS s of stereo 44.1 kHz, WAV and FLAC alternating). Then the peak
# RSS of streaming decode + log-mel over one long file (LONG_SECONDS, default 2 hours). Each comparison runs
# both sides REPEATS times, interleaved, and quotes the best CPU time of each (other jobs on a shared machine
# only ever add time), with every run's own ratio beside it.
#   bench/run features            COUNT=10 SECONDS=30 LONG_SECONDS=7200 REPEATS=5 by default
set -euo pipefail
: "${RETRIEVE_BENCH:?run through bench/run}"
count="${COUNT:-10}"
seconds="${SECONDS_PER_FILE:-30}"
long_seconds="${LONG_SECONDS:-7200}"
# One core for both sides: no BLAS/OpenMP thread pools (our code path is single-threaded anyway).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
dir="$(mktemp -d /tmp/retrieve-bench-features.XXXXXX)"
trap 'rm -rf "$dir"' EXIT

"$RETRIEVE_BENCH" features generate "$dir" "$count" "$seconds"
echo "inputs: $count × ${seconds} s stereo 44.1 kHz (WAV/FLAC) in $dir" >&2
repeats="${REPEATS:-5}"
compare() {  # compare LABEL [EXT]: REPEATS interleaved runs of each side; the best CPU time of each is quoted
    local ours theirs i best_ours="" best_theirs="" ratios=()
    for ((i = 0; i < repeats; i++)); do
        ours="$("$RETRIEVE_BENCH" features run "$dir" ${2:-})"
        theirs="$(.venv/bin/python bench/features.py "$dir" ${2:-})"
        read -r _ audio wall decode frames cpu dcpu <<<"$ours"
        read -r _ laudio lwall ldecode lframes lcpu ldcpu <<<"$theirs"
        ratios+=("$(awk -v a="$audio" -v c="$cpu" -v la="$laudio" -v lc="$lcpu" 'BEGIN { printf "%.2f", (a / c) / (la / lc) }')")
        if [ -z "$best_ours" ] || awk -v x="$cpu" -v y="${best_ours##* }" 'BEGIN { exit !(x < y) }'; then
            best_ours="$audio $wall $decode $frames $dcpu $cpu"
        fi
        if [ -z "$best_theirs" ] || awk -v x="$lcpu" -v y="${best_theirs##* }" 'BEGIN { exit !(x < y) }'; then
            best_theirs="$laudio $lwall $ldecode $lframes $ldcpu $lcpu"
        fi
    done
    read -r audio wall decode frames dcpu cpu <<<"$best_ours"
    read -r laudio lwall ldecode lframes ldcpu lcpu <<<"$best_theirs"
    awk -v label="$1" -v a="$audio" -v w="$wall" -v d="$decode" -v f="$frames" -v c="$cpu" -v dc="$dcpu" \
        -v la="$laudio" -v lw="$lwall" -v ld="$ldecode" -v lf="$lframes" -v lc="$lcpu" -v ldc="$ldcpu" \
        -v runs="${ratios[*]}" -v n="$repeats" 'BEGIN {
        printf "%-10s %-8s %8.1f s audio  %8.3f s wall  %8.1f audio-s/s  (decode %.3f s, %d frames; CPU %.3f s, decode %.3f s)\n", label, "retrieve", a, w, a / w, d, f, c, dc
        printf "%-10s %-8s %8.1f s audio  %8.3f s wall  %8.1f audio-s/s  (decode %.3f s, %d frames; CPU %.3f s, decode %.3f s)\n", label, "librosa", la, lw, la / lw, ld, lf, lc, ldc
        printf "%-10s CPU-time ratio, best of %d each: %.2fx (decode+resample %.2fx, features %.2fx); per run: %s\n", label, n, (a / c) / (la / lc), ldc / dc, (lc - ldc) / (c - dc), runs
    }'
}
compare "all files"
compare "WAV only" wav
compare "FLAC only" flac

if [ "$long_seconds" -gt 0 ]; then
    long="$dir/long.flac"
    "$RETRIEVE_BENCH" features generate-long "$long" "$long_seconds"
    echo "long file: ${long_seconds} s stereo 44.1 kHz FLAC, $(du -h "$long" | cut -f1)" >&2
    if [ -x /usr/bin/time ]; then
        out="$(/usr/bin/time -v "$RETRIEVE_BENCH" features stream "$long" 2>"$dir/time.txt")"
        rss="$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$dir/time.txt")"
    else
        out="$("$RETRIEVE_BENCH" features stream "$long")"
        rss="$(echo "$out" | awk '{print $4}')"
    fi
    echo "$out" | awk -v rss="$rss" '{ printf "streaming decode + log-mel of the long file: %d frames, peak RSS %.1f MB\n", $2, rss / 1024 }'
fi
