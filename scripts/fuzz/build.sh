#!/usr/bin/env bash
# Builds libFuzzer binaries for the two untrusted-input entry points, in a separate build directory:
#   scripts/fuzz/build.sh && .build-fuzz/decode-fuzzer -max_total_time=600 CORPUS_DIR
# The package's library targets are compiled with -sanitize=fuzzer (coverage instrumentation), then each
# driver is linked against their object files. The property-based fuzzers in Tests/TortureTests run the same
# checks without this build (RETRIEVE_FUZZ_SECONDS).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=.build-fuzz
for target in AudioDecoding SpectralFeatures SequenceEncoding; do
    swift build --build-path "$BUILD" -Xswiftc -sanitize=fuzzer --target "$target"
done
DEBUG="$BUILD/debug"
objects() { for t in "$@"; do ls "$DEBUG/$t.build/"*.o; done; }
common=(-sanitize=fuzzer -parse-as-library -package-name "$(basename "$PWD" | tr "[:upper:]" "[:lower:]" | tr -- "-." "__")" -I "$DEBUG/Modules" -Xcc -I/usr/include -Xcc -I/usr/include/opus)
for shim in CSndFile CSoxr CFFTW CBLAS CFLAC CMPG123 CVorbisFile COpusFile; do common+=(-Xcc -fmodule-map-file="Sources/$shim/module.modulemap"); done
# Our own C targets: SwiftPM writes their module maps into the build directory.
for kernels in CLSTMKernels CFrontEndKernels CScanKernels CFLACDecoder CSpectralKernels CCPUID; do
    [ -f "$DEBUG/$kernels.build/module.modulemap" ] && common+=(-Xcc -fmodule-map-file="$DEBUG/$kernels.build/module.modulemap")
done
swiftc "${common[@]}" scripts/fuzz/DecodeFuzzer.swift $(objects RetrieveCore CQuietMPEG CFLACDecoder AudioDecoding CSpectralKernels SpectralFeatures \
    CCPUID LinearAlgebra CLSTMKernels CFrontEndKernels SequenceEncoding) \
    -lsndfile -lFLAC -lmpg123 -lvorbisfile -lopusfile -lopus -logg -ldl -lsoxr -lfftw3f -lopenblas -o "$BUILD/decode-fuzzer"
swiftc "${common[@]}" scripts/fuzz/ModelFuzzer.swift $(objects RetrieveCore CCPUID LinearAlgebra CLSTMKernels CFrontEndKernels SequenceEncoding) \
    -lopenblas -o "$BUILD/model-fuzzer"
echo "built $BUILD/decode-fuzzer and $BUILD/model-fuzzer"
