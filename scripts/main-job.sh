#!/usr/bin/env bash
# The main job: build omq (offload configuration), show what it runs on, and round-trip a
# generated 4096 x 4096 matrix through every type on the best device, printing error and
# throughput.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$omq_root/scripts/install-deps.sh"
omq_build offload -DCMAKE_C_COMPILER=clang-19 "-DOMQ_OFFLOAD_ARCH=$(omq_offload_archs)" -DOMQ_BUILD_TESTS=OFF >/dev/null
omq="$omq_root/build/offload/omq"
"$omq" info
echo
"$omq" roundtrip --rows 4096 --cols 4096 --device auto
