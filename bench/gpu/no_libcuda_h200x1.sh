#!/bin/bash
# What the CUDA runtime and torch print when the driver library (libcuda) is absent from the process although the
# GPU is there: a container started without a GPU request has no libcuda injected (issue 13, heldout8 lessons:
# explain names the missing GPU request before an old driver for a bare error 35). One GPU, a private mount
# namespace (unshare -m) in which every libcuda.so* is covered by /dev/null, as in a container the toolkit skipped.
# Usage (device kind nvidia-h200): OUT=$OUT bash bench/gpu/no_libcuda_h200x1.sh
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/nolibcuda-out}; mkdir -p "$OUT"
. "$(dirname "$0")/cuda_probes.sh"   # PY, CUDART, RT_PROBE
echo "cudart: $CUDART" > "$OUT/versions.txt"
"$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)' >> "$OUT/versions.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >> "$OUT/versions.txt" 2>&1
TORCH_PROBE='import torch; print("is_available", torch.cuda.is_available(), "device_count", torch.cuda.device_count()); torch.zeros(1).cuda()'
hide() {  # every libcuda.so* the loader could find, covered by /dev/null in this mount namespace only
  for f in $(ldconfig -p | awk '/libcuda\.so/ {print $NF}') /usr/lib/x86_64-linux-gnu/libcuda.so* /usr/lib64/libcuda.so*; do
    [ -e "$f" ] && mount --bind /dev/null "$(readlink -f "$f")" 2>/dev/null
  done
}
export -f hide
run_case() {  # name, python code, hidden(0/1)
  local name=$1 code=$2 hidden=$3
  { [ "$hidden" = 1 ] && echo '$ docker run --rm vllm/vllm-openai python3 probe.py   # no --gpus' || echo '$ python3 probe.py'; } > "$OUT/$name.log"
  if [ "$hidden" = 1 ]; then
    timeout 120 unshare -m bash -c "hide; exec \"$PY\" -c \"\$0\"" "$code" >> "$OUT/$name.log" 2>&1
  else
    timeout 120 "$PY" -c "$code" >> "$OUT/$name.log" 2>&1
  fi
  echo "rc=$?" >> "$OUT/$name.log"
}
run_case runtime-healthy "$RT_PROBE" 0
run_case runtime-no-libcuda "$RT_PROBE" 1
run_case torch-healthy "$TORCH_PROBE" 0
run_case torch-no-libcuda "$TORCH_PROBE" 1
head -c 3000 "$OUT"/*.log
