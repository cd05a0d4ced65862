#!/usr/bin/env bash
# The main job: fetch nothing, build omq (offload configuration), show what it runs on, then
# quantize the bundled model (tests/gguf/minilm.gguf: real all-MiniLM-L6-v2 weights, f16) to
# Q4_K like llama-quantize on the best device (a progress bar on a terminal), verify the result
# (device vs host dequantization, NaN/Inf, statistics) and print a short summary.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$omq_root/scripts/install-deps.sh"
omq_build offload -DCMAKE_C_COMPILER=clang-19 "-DOMQ_OFFLOAD_ARCH=$(omq_offload_archs)" -DOMQ_BUILD_TESTS=OFF >/dev/null
omq="$omq_root/build/offload/omq"
model="$omq_root/tests/gguf/minilm.gguf"
out="$omq_root/build/offload/minilm-Q4_K.gguf"
"$omq" info
echo
log="$omq_root/build/offload/main-job.log"
"$omq" quantize "$model" "$out" Q4_K --device auto | tee "$log"
echo
"$omq" verify "$out" --device auto | tee -a "$log"
echo
echo "main job summary"
echo "  model:    $model ($(stat -c %s "$model") bytes, f16 + f32)"
echo "  output:   $out ($(stat -c %s "$out") bytes)"
echo "  quantize: $(grep -o '[0-9]* tensors (.*' "$log")"
echo "  verify:   $(grep -o '[0-9]* tensors checked.*' "$log")"
