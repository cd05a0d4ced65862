#!/usr/bin/env bash
# Installs the Debian 12 packages omq's builds and tests need (does nothing if all are there).
#   clang-19 + libomp-19-dev + lld-19: the offload compiler, OpenMP runtimes, AMD GPU linker
#   clang-tools-19: clang-offload-packager and clang-linker-wrapper, which every offload
#     compile and link runs (only a Recommends of clang-19, so --no-install-recommends drops it)
#   llvm-19: llvm-dis/llvm-as (the gfx1100 ISA file Debian's ROCm lacks is made with them)
#   rocm-device-libs, libamdhip64-dev: AMD device libraries and the HIP runtime (ROCm 5.2)
#   libcmocka-dev: the test framework; libclang-rt-19-dev: sanitizers and libFuzzer
# NVIDIA (sm_90) builds also need a CUDA toolkit (ptxas, nvlink, libdevice), found in
# /usr/local/cuda or CUDAToolkit_ROOT; it is not a Debian package and is not installed here.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config python3
      clang-19 clang-tools-19 libomp-19-dev lld-19 llvm-19 libclang-rt-19-dev
      rocm-device-libs libamdhip64-dev libcmocka-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "omq: installing ${missing[*]}"
$sudo apt-get update -qq
# libomp-19-dev replaces any other libomp-N-dev (they conflict)
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
