#!/bin/bash
# Does torch.compile survive a noexec /tmp? Docker's and Podman's `--tmpfs /tmp` (compose `tmpfs: [/tmp]`) default to
# rw,noexec,nosuid,nodev; TorchInductor keeps its cache in /tmp/torchinductor_<user> by default, and Triton compiles
# its launcher in a temporary directory. Measured on a GPU, in a private mount namespace (unshare -m; no Docker on the
# device): a fresh HOME (empty ~/.triton) and a fresh tmpfs on /tmp, with and without noexec, CUDA and CPU compiles.
# Usage (device kind nvidia-h100-x1 or nvidia-h200): OUT=$OUT bash bench/gpu/tmp_noexec_h200x1.sh
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/tmp-noexec-out}; mkdir -p "$OUT"
P=/var/tmp/tpd-noexec-probe.py
cat >"$P" <<'PY'
import sys, torch
dev = sys.argv[1]
def f(x, y): return torch.nn.functional.gelu(x @ y) + x.sin()
x = torch.randn(256, 256, device=dev); y = torch.randn(256, 256, device=dev)
try:
    r = torch.compile(f)(x, y)
    ok = torch.allclose(r, f(x, y), atol=1e-3, rtol=1e-3)
    print(f"RESULT {dev}: compiled ok, matches eager: {ok}")
except Exception as e:
    msg = str(e).strip().splitlines()
    print(f"RESULT {dev}: FAILED {type(e).__name__}: " + " | ".join(m for m in msg if m.strip())[:600])
PY
for opts in "noexec,nosuid,nodev" "exec,nosuid,nodev"; do
  for dev in cuda cpu; do
    H=$(mktemp -d /var/tmp/home.XXXX)
    echo "== /tmp tmpfs $opts, $dev, fresh HOME $H" | tee -a "$OUT/tmp-noexec.txt"
    unshare -m --propagation private bash -c "mount -t tmpfs -o $opts,mode=1777 tmpfs /tmp && grep ' /tmp ' /proc/self/mounts && HOME=$H timeout 300 python3 $P $dev 2>&1 | grep -E 'RESULT|map segment' | head -5" 2>&1 | tee -a "$OUT/tmp-noexec.txt"
    rm -rf "$H"
  done
done
python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "cuda", torch.version.cuda)' 2>&1 | tee -a "$OUT/tmp-noexec.txt"
