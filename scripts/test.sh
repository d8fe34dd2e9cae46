#!/usr/bin/env bash
# Every test: the Catch2 suites and the parity checks (CTest), the core tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, and bounded libFuzzer runs.
#   scripts/test.sh            all of it
#   KBERT_FUZZ_SECONDS=N       seconds per fuzz target (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh -DKBERT_BUILD_TESTS=ON

echo "== sanitizers: core tests under ASan + UBSan =="
if [ ! -f build-asan/build.ninja ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKBERT_SANITIZE=ON \
    -DKBERT_BUILD_MODEL=OFF -DKBERT_BUILD_APPS=OFF >/dev/null
fi
cmake --build build-asan -j "$(nproc)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -L core

echo "== fuzzing: KG parsers, tree builder, checkpoint readers, model-directory files, index files, compiled KGs (libFuzzer) =="
if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKBERT_BUILD_FUZZERS=ON \
    -DKBERT_BUILD_TESTS=OFF -DKBERT_BUILD_APPS=OFF -DKBERT_BUILD_MODEL=OFF >/dev/null
fi
cmake --build build-fuzz -j "$(nproc)"
for target in fuzz_kg fuzz_tree fuzz_pickle fuzz_safetensors fuzz_model_files fuzz_index fuzz_kbkg fuzz_train_state; do
  mkdir -p build-fuzz/corpus-$target
  inputs=(tests/fuzz/seeds/$target)
  # The minimized corpora of longer runs (tests/fuzz/corpus/, checked in) start where those stopped.
  [ -d tests/fuzz/corpus/$target ] && inputs+=(tests/fuzz/corpus/$target)
  build-fuzz/tests/fuzz/$target -max_total_time="${KBERT_FUZZ_SECONDS:-30}" -rss_limit_mb=2048 \
    -print_final_stats=0 build-fuzz/corpus-$target "${inputs[@]}" 2>&1 | tail -n 2
done

echo "== tests: Catch2 suites and parity checks =="
ctest --test-dir build --output-on-failure
