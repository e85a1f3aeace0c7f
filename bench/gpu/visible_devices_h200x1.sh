#!/bin/bash
# What CUDA and torch really print for the visible-devices causes explain names (issue 13), on one GPU.
# Usage (device kind nvidia-h200): OUT=$OUT bash bench/gpu/visible_devices_h200x1.sh
# Each case's stdout+stderr lands in $OUT/<case>.log; `tpdoctor explain` reads them back on the dev machine
# (tests/test_explain_gpu_recorded.py), so the claims rest on real output, not on format strings.
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/vd-out}; mkdir -p "$OUT"
nvidia-smi -L > "$OUT/nvidia-smi-L.txt" 2>&1
py() { timeout 120 python3 -c "$1"; }
PROBE='import torch; print("device_count", torch.cuda.device_count()); torch.zeros(1).cuda(); print("ok")'
# CUDA_VISIBLE_DEVICES=all: NVIDIA_VISIBLE_DEVICES syntax given to CUDA
# each log starts with the command as a user pastes it (prompt and environment), then its real output
echo '$ CUDA_VISIBLE_DEVICES=all python3 probe.py' > "$OUT/cvd-all.log"
CUDA_VISIBLE_DEVICES=all py "$PROBE" >> "$OUT/cvd-all.log" 2>&1; echo "rc=$?" >> "$OUT/cvd-all.log"
# an index past the GPUs this host has (the hard-coded CUDA_VISIBLE_DEVICES=7 of many scripts)
{ echo '$ nvidia-smi -L'; cat "$OUT/nvidia-smi-L.txt"; echo '$ CUDA_VISIBLE_DEVICES=7 python3 probe.py'; } > "$OUT/cvd-7.log"
CUDA_VISIBLE_DEVICES=7 py "$PROBE" >> "$OUT/cvd-7.log" 2>&1; echo "rc=$?" >> "$OUT/cvd-7.log"
# one rank too many: set_device(1) with one GPU visible (torchrun --nproc_per_node 2 on 1 GPU)
{ echo '$ nvidia-smi -L'; cat "$OUT/nvidia-smi-L.txt"; echo "$ python3 -c 'import torch; torch.cuda.set_device(1); torch.zeros(1).cuda()'"; } > "$OUT/set-device-1.log"
py 'import torch; torch.cuda.set_device(1); torch.zeros(1).cuda()' >> "$OUT/set-device-1.log" 2>&1; echo "rc=$?" >> "$OUT/set-device-1.log"
# a healthy control: the same probe with the GPU visible
echo '$ python3 probe.py' > "$OUT/healthy.log"
py "$PROBE" >> "$OUT/healthy.log" 2>&1; echo "rc=$?" >> "$OUT/healthy.log"
python3 -c 'import torch; print(torch.__version__, torch.version.cuda)' > "$OUT/versions.txt" 2>&1
head -c 4000 "$OUT"/*.log
