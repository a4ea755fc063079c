#!/usr/bin/env bash
# Style retrieval on music the model never heard: leave-labels-out over the corpus's soundtracks, our model
# (trained per fold by scripts/default-recipe) beside the MFCC and log-mel baselines, Musly and MusiCNN, all
# on the same 30-s clips, in one run; prints every system's P@10, mAP and macro P@10 (mean ± spread over the
# folds) and our/peer ratios.
#   bench/run quality [CORPUS] [FOLDS]      CORPUS defaults to corpus/ (scripts/corpus), FOLDS to 5
# Results and caches go to bench/results/quality/ (git-ignored): clips/ (the clip set and its clips.csv),
# clips/peers/ (the peers' descriptors, from bench/quality_peers.py; their per-clip cache is in
# ~/.cache/retrieve-peers), folds/ (the fold models; reused while the recipe and the labels stay the same),
# report.json and report.txt.
set -euo pipefail
corpus="${1:-corpus}"
folds="${2:-5}"
[ -f "$corpus/labels.csv" ] || { echo "quality: no $corpus/labels.csv; build the corpus with scripts/corpus" >&2; exit 1; }
swift build -c release --product retrieve >&2
retrieve="$(swift build -c release --show-bin-path)/retrieve"
out=bench/results/quality
clips="$out/clips"
mkdir -p "$out"
echo "quality: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" >&2
if [ ! -f "$clips/clips.csv" ] || [ "$corpus/labels.csv" -nt "$clips/clips.csv" ]; then
    rm -rf "$clips"
    "$retrieve" evaluate "$corpus" --export-clips "$clips" --clips-per-track "${CLIPS_PER_TRACK:-2}" --clip-seconds 30 >&2
fi
.venv/bin/python bench/quality_peers.py "$clips" >&2
# The recipe's {corpus} stands for the corpus folder; a recipe that distils (--teacher) needs the teacher's
# targets first (scripts/default-teacher-targets: MusiCNN in the reference venv, used for training only).
mapfile -t recipe < <(scripts/recipe-args scripts/default-recipe "$corpus")
scripts/default-teacher-targets "$corpus" >&2
"$retrieve" evaluate --labels "$clips/clips.csv" --leave-labels-out "$folds" --train-data "$corpus" \
    --peers "$clips/peers" --fold-models "$out/folds" --seed 1 "${recipe[@]}" --json-out "$out/report.json" \
    | tee "$out/report.txt"
