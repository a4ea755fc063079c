#!/usr/bin/env bash
# Builds the differential FLAC fuzzer (our frame decoder vs libFLAC, scripts/fuzz/flac_diff.c) and its
# check/bench driver, then a seed corpus of small FLAC files:
#   scripts/fuzz/build-flac.sh && .build-fuzz/flac-diff-fuzzer -max_total_time=600 .build-fuzz/flac-corpus
#   .build-fuzz/flac-diff bench FILE.flac…     # decode-only CPU time, libFLAC vs ours
# A crash means ours accepted a frame libFLAC rejects or decodes differently (or a sanitizer finding); the
# crashing input belongs in Tests/AudioDecodingTests/Fixtures/flac-regressions/.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=.build-fuzz
mkdir -p "$BUILD"
src=(scripts/fuzz/flac_diff.c Sources/CFLACDecoder/flac_decoder.c)
# Swift's toolchain clang carries libFuzzer and the sanitizer runtimes; lld keeps gold's ASan warnings away.
linker=()
command -v ld.lld >/dev/null && linker=(-fuse-ld=lld)
clang -g -O2 "${linker[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -ISources/CFLACDecoder/include "${src[@]}" -lFLAC -o "$BUILD/flac-diff-fuzzer"
clang -O3 "${linker[@]}" -DFLAC_DIFF_MAIN -ISources/CFLACDecoder/include "${src[@]}" -lFLAC -o "$BUILD/flac-diff"
corpus="$BUILD/flac-corpus"
if [ ! -d "$corpus" ]; then
    mkdir -p "$corpus"
    python3 scripts/fuzz/flac_seeds.py "$corpus"
fi
echo "built $BUILD/flac-diff-fuzzer and $BUILD/flac-diff; corpus $corpus ($(ls "$corpus" | wc -l) files)"
