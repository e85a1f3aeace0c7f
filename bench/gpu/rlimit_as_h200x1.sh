#!/bin/bash
# What CUDA, torch, NVML and NCCL print when the process's address-space limit (RLIMIT_AS, `ulimit -v`: an HPC
# scheduler's vmem/h_vmem/VSizeFactor, a login profile, a container's --ulimit as=) is below what the CUDA driver
# reserves at initialisation (issue 13: heldout32's collectors found vLLM failing under `ulimit -v` on a cluster).
# One GPU; each case runs in a shell whose `ulimit -v` (KiB) is set first. The limit that lets CUDA start is
# searched by halving, so the threshold is measured, not assumed.
# Usage (device kind nvidia-h200): OUT=$OUT bash bench/gpu/rlimit_as_h200x1.sh
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/rlimit-as-out}; mkdir -p "$OUT"
EXTRA_RT="
e = rt.cudaFree(None)
print('cudaFree(0) returned %d (%s): %s' % (e, rt.cudaGetErrorName(e).decode(), rt.cudaGetErrorString(e).decode()))"
. "$(dirname "$0")/cuda_probes.sh"   # PY, CUDART, RT_PROBE (+ the context's creation)
{ echo "cudart: $CUDART"; "$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.nccl.version())';
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; ulimit -v; } > "$OUT/versions.txt" 2>&1
DRV_PROBE="import ctypes
cu = ctypes.CDLL('libcuda.so.1')
s = ctypes.c_char_p()
e = cu.cuInit(0)
cu.cuGetErrorName(e, ctypes.byref(s)); name = s.value.decode() if s.value else '?'
cu.cuGetErrorString(e, ctypes.byref(s)); text = s.value.decode() if s.value else '?'
print('cuInit returned %d (%s): %s' % (e, name, text))"
TORCH_PROBE='import torch; print("is_available", torch.cuda.is_available(), "device_count", torch.cuda.device_count()); x = torch.ones(4).cuda(); print("ok", x.sum().item())'
NCCL_PROBE='import os, torch, torch.distributed as dist
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
torch.cuda.set_device(0)
dist.init_process_group("nccl", rank=0, world_size=1, device_id=torch.device("cuda:0"))
t = torch.ones(1 << 20, device="cuda"); dist.all_reduce(t); torch.cuda.synchronize(); print("allreduce ok", t[0].item())
dist.destroy_process_group()'
run_case() {  # name, limit KiB (or unlimited), python code
  local name=$1 limit=$2 code=$3
  echo "\$ ulimit -v $limit; python3 probe.py" > "$OUT/$name.log"
  timeout 120 bash -c "ulimit -v $limit && exec \"$PY\" -c \"\$0\"" "$code" >> "$OUT/$name.log" 2>&1
  echo "rc=$?" >> "$OUT/$name.log"
}
# the threshold: halve from 1 TiB until cuInit fails, then bisect between the last pass and the first failure
ok=1073741824; bad=""
for kib in 1073741824 536870912 268435456 134217728 67108864 33554432 16777216 8388608 4194304; do
  if timeout 60 bash -c "ulimit -v $kib && exec \"$PY\" -c \"\$0\"" "$DRV_PROBE" 2>/dev/null | grep -q 'returned 0 '; then ok=$kib; else bad=$kib; break; fi
done
if [ -n "$bad" ]; then
  for _ in 1 2 3 4 5 6; do
    mid=$(( (ok + bad) / 2 ))
    if timeout 60 bash -c "ulimit -v $mid && exec \"$PY\" -c \"\$0\"" "$DRV_PROBE" 2>/dev/null | grep -q 'returned 0 '; then ok=$mid; else bad=$mid; fi
  done
fi
echo "cuInit passes at ulimit -v $ok KiB and fails at $bad KiB" | tee "$OUT/threshold.txt"
LOW=${bad:-4194304}
for c in RT DRV TORCH NCCL; do
  var=${c}_PROBE
  run_case "$(echo $c | tr A-Z a-z)-unlimited" unlimited "${!var}"
  run_case "$(echo $c | tr A-Z a-z)-low" "$LOW" "${!var}"
  run_case "$(echo $c | tr A-Z a-z)-8g" 8388608 "${!var}"
done
run_case nvidia-smi-low "$LOW" 'import subprocess; print(subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True))'
# above the threshold CUDA starts; does a 1 GiB allocation then fail at a limit just above it?
run_case torch-alloc-above "$(( ok + 2097152 ))" 'import torch; x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda"); print("1 GiB ok")
y = torch.empty(64 << 30, dtype=torch.uint8, device="cuda"); print("64 GiB ok")'
# the limit torch's CUDA start and a one-rank NCCL all-reduce need (issue 13, twenty-fourth session: on an H100 80GB host
# these were 17.1 GiB and 177 GiB, far above cuInit's 12.4 GiB). The NCCL probe rendezvouses through a file store: a
# fixed TCP port left in TIME_WAIT by the previous try fails the next one and would be read as the limit failing.
NCCL_FILE_PROBE='import tempfile, torch, torch.distributed as dist
torch.cuda.set_device(0)
dist.init_process_group("nccl", init_method="file://" + tempfile.mktemp(prefix="pg"), rank=0, world_size=1, device_id=torch.device("cuda:0"))
t = torch.ones(1 << 20, device="cuda"); dist.all_reduce(t); torch.cuda.synchronize(); dist.destroy_process_group(); print("ok")'
TORCH_INIT='import torch; x = torch.ones(4).cuda(); print("ok", x.sum().item())'
bisect() {  # name, python code, low KiB (fails), high KiB (must pass: tested first)
  local name=$1 code=$2 lo=$3 hi=$4
  if ! timeout 180 bash -c "ulimit -v $hi && exec \"$PY\" -c \"\$0\"" "$code" 2>/dev/null | grep -q '^ok'; then
    echo "$name: fails even at ulimit -v $hi KiB" | tee -a "$OUT/threshold.txt"; return; fi
  while [ $((hi - lo)) -gt 262144 ]; do
    local mid=$(( (lo + hi) / 2 ))
    if timeout 180 bash -c "ulimit -v $mid && exec \"$PY\" -c \"\$0\"" "$code" 2>/dev/null | grep -q '^ok'; then hi=$mid; else lo=$mid; fi
  done
  echo "$name passes at ulimit -v $hi KiB and fails at $lo KiB" | tee -a "$OUT/threshold.txt"
  echo "\$ ulimit -v $lo; NCCL_DEBUG=WARN python3 probe.py" > "$OUT/$name-just-below.log"
  timeout 180 bash -c "ulimit -v $lo && NCCL_DEBUG=WARN exec \"$PY\" -c \"\$0\"" "$code" >> "$OUT/$name-just-below.log" 2>&1
}
bisect torch-init "$TORCH_INIT" "$ok" 1073741824
bisect nccl-allreduce "$NCCL_FILE_PROBE" "$ok" 1073741824
# at most 8 files come back from a device run: fold the per-case logs into one
for f in "$OUT"/*-unlimited.log "$OUT"/*-low.log "$OUT"/*-8g.log "$OUT"/*-above.log; do
  [ -f "$f" ] && { echo "==> $(basename "$f") <=="; cat "$f"; echo; } >> "$OUT/cases.txt" && rm -f "$f"
done
head -c 4000 "$OUT/threshold.txt" "$OUT"/*-just-below.log
