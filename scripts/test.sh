#!/usr/bin/env bash
# Builds both configurations (CPU with gcc and with clang-19; offload with clang-19 for
# gfx1100 and sm_90) and runs the whole test suite in each. Without a GPU the offload build
# runs its target regions on OpenMP's host fallback. A fourth build runs the suite under
# AddressSanitizer, LeakSanitizer and UBSan.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$omq_root/scripts/install-deps.sh"
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
echo "omq: all tests passed"
