#!/bin/bash
# Container faults injected with mount namespaces on a 2-GPU host, each one checked by
# `tpdoctor check` and then tried for real with a 2-rank NCCL all-reduce. Runs once, blind:
# every step has a timeout, the whole matrix stops starting new cases after ~6 minutes.
#   usage (repo root, as root, on nvidia-h200-x2):  OUT=/some/dir bash bench/gpu/fault_matrix.sh
# Result: $OUT/fault_*.json/.log, $OUT/fault_table.md, $OUT/h200x2-host.json (host snapshot).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd); cd "$REPO"
export OUT=${OUT:-$REPO/fault-out}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
# tpdoctor's own dependencies: the GPU host may lack them; .gpu-deps/py3XX is built by make_deps.sh
if ! python3 -c 'import pydantic, ruamel.yaml, typer, rich' 2>/dev/null; then
  PYV=$(python3 -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
  export PYTHONPATH="$PYTHONPATH:$REPO/.gpu-deps/$PYV"
  python3 -c 'import pydantic, ruamel.yaml, typer, rich' || echo "WARNING: tpdoctor deps missing for $PYV (carry .gpu-deps)"
fi
START=$SECONDS
{ python3 --version; nvidia-smi -L; uname -r; } >"$OUT/host.txt" 2>&1

timeout 60 python3 -m tpdoctor check --snapshot "$OUT/h200x2-host.json" >/dev/null 2>"$OUT/snapshot.err" \
  || timeout 60 python3 bench/gpu/check_direct.py --snapshot "$OUT/h200x2-host.json" 2>>"$OUT/snapshot.err"

CTL=nvidiactl,nvidia-uvm,nvidia-uvm-tools
# name | keep | shm | env
CASES=(
  "baseline|all|host|"
  "shm64m|all|64m|"
  "shm64m-nop2p|all|64m|NCCL_P2P_DISABLE=1"
  "p2p-disabled|all|host|NCCL_P2P_DISABLE=1"
  "no-uvm|nvidia0,nvidia1,nvidiactl|16g|"
  "no-ctl|nvidia0,nvidia1,nvidia-uvm,nvidia-uvm-tools|16g|"
  "no-nvidia1|nvidia0,$CTL|16g|"
  "no-caps-dir|nvidia0,nvidia1,$CTL|16g|"
  "cvd-2-3|all|host|CUDA_VISIBLE_DEVICES=2,3"
)
# Only one GPU lent (nvidia-h200): one-rank cases, which still exercise CUDA and NCCL init.
if [ "${FAULT_GPUS:-2}" = 1 ]; then
  export FAULT_TP=1 ALLREDUCE_WORLD=1
  CASES=(
    "baseline|all|host|"
    "shm64m|all|64m|"
    "no-uvm|nvidia0,nvidiactl|16g|"
    "no-ctl|nvidia0,nvidia-uvm,nvidia-uvm-tools|16g|"
    "no-nvidia0|$CTL|16g|"
    "no-caps-dir|nvidia0,$CTL|16g|"
    "cvd-1|all|host|CUDA_VISIBLE_DEVICES=1"
  )
fi
for spec in "${CASES[@]}"; do
  IFS='|' read -r name keep shm envs <<<"$spec"
  # FAULT_CASES=a,b runs only those cases (a rerun of some rows)
  if [ -n "${FAULT_CASES:-}" ] && [[ ",$FAULT_CASES," != *",$name,"* ]]; then continue; fi
  if (( SECONDS - START > 360 )); then echo "time budget spent: skipping $name" | tee -a "$OUT/skipped.txt"; continue; fi
  # shellcheck disable=SC2086
  timeout 170 unshare --mount --propagation private -- bash bench/gpu/fault_case.sh "$name" "$keep" "$shm" $envs \
    >"$OUT/fault_$name.log" 2>&1
  echo "$name: rc=$? ($((SECONDS - START)) s)"
done
python3 bench/gpu/fault_table.py "$OUT" | tee "$OUT/fault_table.md"
