#!/bin/bash
# How many threads one GPU rank runs, and what CUDA, torch, OpenMP and NCCL print when thread creation is refused
# (a container's pids cgroup limit, Podman's default pids_limit, systemd TasksMax, `ulimit -u`: glibc's
# pthread_create gets EAGAIN). Issue 13, gnew36b: the check rule's need per rank is measured here, not assumed.
# RLIMIT_NPROC binds an unprivileged user only, so the refused cases run as nobody under `ulimit -u N`; the
# smallest N that lets a one-rank NCCL all-reduce finish is searched by bisection.
# Usage (device kind nvidia-h100-x1 or nvidia-h200; carry .gpu-deps): OUT=$OUT bash bench/gpu/threads_h200x1.sh
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/threads-out}; mkdir -p "$OUT"
PY=$(command -v python3)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYV=$("$PY" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
export PYTHONPATH="$REPO/.gpu-deps/$PYV${PYTHONPATH:+:$PYTHONPATH}"
PROBE='import os, sys, time, threading
def n(): return len(os.listdir("/proc/self/task"))
stages = [("start", n())]
import torch
stages.append(("import torch", n()))
x = torch.ones(4, device="cuda"); torch.cuda.synchronize()
stages.append(("cuda context", n()))
a = torch.randn(512, 512); (a @ a).sum().item()
stages.append(("cpu matmul (intra-op pool, %d threads)" % torch.get_num_threads(), n()))
import torch.distributed as dist
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("PORT", "29541"))
dist.init_process_group("nccl", rank=0, world_size=1, device_id=torch.device("cuda:0"))
t = torch.ones(1 << 20, device="cuda"); dist.all_reduce(t); torch.cuda.synchronize()
stages.append(("nccl all-reduce", n()))
dl = torch.utils.data.DataLoader(list(range(64)), batch_size=8, num_workers=int(os.environ.get("WORKERS", "0")))
sum(int(b.sum()) for b in dl)
stages.append(("dataloader pass", n()))
dist.destroy_process_group()
for s, c in stages: print("threads after %-45s %d" % (s + ":", c))
print("allreduce ok", t[0].item())'
{ "$PY" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.nccl.version())';
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc; } > "$OUT/versions.txt" 2>&1
# 1. as root, no limit: the threads at each stage
PORT=29541 timeout 180 "$PY" -c "$PROBE" > "$OUT/threads-root.log" 2>&1; echo "rc=$?" >> "$OUT/threads-root.log"
OMP_NUM_THREADS=1 PORT=29542 timeout 180 "$PY" -c "$PROBE" > "$OUT/threads-root-omp1.log" 2>&1; echo "rc=$?" >> "$OUT/threads-root-omp1.log"
# 2. as nobody under ulimit -u N (RLIMIT_NPROC counts the user's threads); the deps dir must be readable to it
chmod -R a+rX "$REPO/.gpu-deps" 2>/dev/null; chmod a+x "$REPO" "$(dirname "$REPO")" 2>/dev/null
run_nobody() {  # limit, log name, extra env
  local lim=$1 name=$2; shift 2
  echo "\$ ulimit -u $lim; $* python3 probe.py  (as nobody)" > "$OUT/$name.log"
  timeout 180 setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp PYTHONPATH="$PYTHONPATH" "$@" \
    bash -c "ulimit -u $lim && exec \"$PY\" -c \"\$0\"" "$PROBE" >> "$OUT/$name.log" 2>&1
  echo "rc=$?" >> "$OUT/$name.log"
}
run_nobody unlimited nobody-unlimited PORT=29543
grep -q "allreduce ok" "$OUT/nobody-unlimited.log" || { echo "nobody cannot run the probe; see nobody-unlimited.log" > "$OUT/summary.txt"; exit 0; }
ok=4096; bad=1; port=29550
while [ $((ok - bad)) -gt 1 ]; do
  mid=$(((ok + bad) / 2)); port=$((port + 1))
  run_nobody $mid "bisect-$mid" PORT=$port
  if grep -q "allreduce ok" "$OUT/bisect-$mid.log"; then ok=$mid; else bad=$mid; fi
done
echo "smallest ulimit -u that passes (default OMP threads): $ok; first failing: $bad" > "$OUT/summary.txt"
# the same with OMP_NUM_THREADS=1 (the intra-op pool sized by CPUs is most of a rank's threads)
ok1=4096; bad1=1
while [ $((ok1 - bad1)) -gt 1 ]; do
  mid=$(((ok1 + bad1) / 2)); port=$((port + 1))
  run_nobody $mid "bisect-omp1-$mid" PORT=$port OMP_NUM_THREADS=1
  if grep -q "allreduce ok" "$OUT/bisect-omp1-$mid.log"; then ok1=$mid; else bad1=$mid; fi
done
echo "smallest ulimit -u that passes (OMP_NUM_THREADS=1): $ok1; first failing: $bad1" >> "$OUT/summary.txt"
# the messages at fixed small limits (each stage's own failure)
for lim in 2 4 8 16 24; do port=$((port + 1)); run_nobody $lim "fixed-$lim" PORT=$port; done
port=$((port + 1)); run_nobody 32 fixed-32-workers4 PORT=$port WORKERS=4
cat "$OUT/summary.txt"; tail -n 9 "$OUT/threads-root.log"
