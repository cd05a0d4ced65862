#!/usr/bin/env bash
# Builds both configurations (CPU with gcc and with clang-19; offload with clang-19 for
# gfx1100 and sm_90) and runs the whole test suite in each. Without a GPU the offload build
# runs its target regions on OpenMP's host fallback.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$omq_root/scripts/install-deps.sh"
archs=$(omq_offload_archs)
for cfg in "cpu-gcc -DCMAKE_C_COMPILER=gcc" \
           "cpu-clang -DCMAKE_C_COMPILER=clang-19" \
           "offload -DCMAKE_C_COMPILER=clang-19 -DOMQ_OFFLOAD_ARCH=$archs"; do
  set -- $cfg
  name=$1; shift
  echo "== $name"
  omq_build "$name" "$@"
  ctest --test-dir "$omq_root/build/$name" --output-on-failure -j "$omq_jobs"
done
echo "omq: all tests passed"
