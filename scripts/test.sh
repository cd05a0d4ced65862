#!/usr/bin/env bash
# Builds both configurations (CPU with gcc and with clang-19; offload with clang-19 for
# gfx1100 and sm_90) and runs the whole test suite in each. Without a GPU the offload build
# runs its target regions on OpenMP's host fallback. A fourth build runs the suite under
# AddressSanitizer, LeakSanitizer and UBSan. Then the GGUF reader is fuzzed for 60 s.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$omq_root/scripts/install-deps.sh"
# The reference gguf package (PyPI) reads omq's output back in one test (skipped without it).
if command -v python3 >/dev/null 2>&1 && ! python3 -c "import gguf" 2>/dev/null; then
  python3 -m pip install --quiet gguf >/dev/null 2>&1 ||
    echo "omq: note: could not install the Python gguf package: its read-back test will be skipped" >&2
fi
archs=$(omq_offload_archs)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# the tests ask for impossible allocations on purpose: ASan must return NULL, not abort
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
for cfg in "cpu-gcc -DCMAKE_C_COMPILER=gcc" \
           "cpu-clang -DCMAKE_C_COMPILER=clang-19" \
           "offload -DCMAKE_C_COMPILER=clang-19 -DOMQ_OFFLOAD_ARCH=$archs" \
           "sanitize -DCMAKE_C_COMPILER=clang-19 -DCMAKE_BUILD_TYPE=RelWithDebInfo"; do
  set -- $cfg
  name=$1; shift
  extra=()
  [ "$name" = sanitize ] && extra=("-DCMAKE_C_FLAGS=$san" "-DCMAKE_EXE_LINKER_FLAGS=$san" "-DCMAKE_SHARED_LINKER_FLAGS=$san")
  echo "== $name"
  omq_build "$name" -DOMQ_BUILD_TESTS=ON "$@" "${extra[@]}"
  ctest --test-dir "$omq_root/build/$name" --output-on-failure -j "$omq_jobs"
done
# The GGUF reader under libFuzzer (ASan + UBSan), seeded with the fixtures, for 60 s
# (OMQ_FUZZ_SECONDS changes it). The corpus it grows stays in the build tree.
echo "== fuzz"
omq_build fuzz -DCMAKE_C_COMPILER=clang-19 -DOMQ_BUILD_FUZZ=ON -DOMQ_BUILD_TESTS=OFF -DOMQ_BUILD_CLI=OFF
fuzz_dir="$omq_root/build/fuzz"
mkdir -p "$fuzz_dir/corpus" "$fuzz_dir/seeds"
cp "$omq_root"/tests/gguf/*.gguf "$fuzz_dir/seeds/"
if ! "$fuzz_dir/fuzz_gguf" -max_total_time="${OMQ_FUZZ_SECONDS:-60}" -max_len=65536 -timeout=10 \
     -artifact_prefix="$fuzz_dir/" "$fuzz_dir/corpus" "$fuzz_dir/seeds" >"$fuzz_dir/fuzz.log" 2>&1; then
  tail -n 40 "$fuzz_dir/fuzz.log"
  echo "omq: the GGUF fuzzer found a problem (reproducer in $fuzz_dir/crash-*)" >&2
  exit 1
fi
echo "fuzz_gguf: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$fuzz_dir/fuzz.log"), no crash, leak or UB"
echo "omq: all tests passed"
