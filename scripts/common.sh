# Sourced by the scripts: build helpers. The offload build targets gfx1100 and sm_90; sm_90
# is left out, loudly, where no CUDA toolkit is installed.
omq_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
omq_jobs=$(nproc 2>/dev/null || echo 2)

omq_offload_archs() {
  if command -v ptxas >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/ptxas ] || [ -n "${CUDAToolkit_ROOT:-}" ]; then
    echo "gfx1100;sm_90"
  else
    echo "omq: WARNING: no CUDA toolkit (ptxas) found: building the offload configuration for gfx1100 only" >&2
    echo "gfx1100"
  fi
}

# omq_build NAME CMAKE-ARGS...: configure and build into build/NAME
omq_build() {
  local name=$1; shift
  cmake -S "$omq_root" -B "$omq_root/build/$name" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$omq_root/build/$name" -j "$omq_jobs"
}
