#!/bin/bash
# What the real NCCL prints when one of its variables is wrong or names what the host does not have (issue 13:
# env.invalid-value / network.wrong-interface forms from the library itself, not from its source's format
# strings). One GPU: a one-rank torch.distributed NCCL all-reduce (bench/gpu/allreduce2.py, ALLREDUCE_WORLD=1)
# still runs NCCL's bootstrap (interface selection), its parameter parsing and its topology search.
# Usage (device kind nvidia-h200): OUT=$OUT bash bench/gpu/nccl_env_h200x1.sh
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/nccl-env-out}; mkdir -p "$OUT"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=$(command -v python3)
{ "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", ".".join(map(str, torch.cuda.nccl.version())))'
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; ip -o link | awk -F': ' '{print "if", $2}'; } > "$OUT/versions.txt" 2>&1
# name | environment (beyond NCCL_DEBUG=WARN)
CASES=(
  "healthy|"
  "socket-ifname-absent|NCCL_SOCKET_IFNAME=tpd-absent0"
  "socket-ifname-excluded-all|NCCL_SOCKET_IFNAME=^lo,eth,en,ib,docker,br,veth,bond"
  "p2p-level-bogus|NCCL_P2P_LEVEL=BOGUS"
  "proto-bogus|NCCL_PROTO=bogus"
  "algo-bogus|NCCL_ALGO=bogus"
  "ib-hca-absent|NCCL_IB_HCA=mlx5_99"
  "net-bogus|NCCL_NET=bogus"
  "cvd-uuid-absent|CUDA_VISIBLE_DEVICES=GPU-00000000-0000-0000-0000-000000000000"
)
for c in "${CASES[@]}"; do
  name=${c%%|*}; envs=${c#*|}
  {
    echo "\$ ${envs:+$envs }NCCL_DEBUG=WARN python3 allreduce2.py   # torch.distributed NCCL all-reduce, one rank"
    # shellcheck disable=SC2086
    timeout 120 env NCCL_DEBUG=WARN ALLREDUCE_WORLD=1 ALLREDUCE_DEADLINE_S=90 $envs "$PY" "$REPO/bench/gpu/allreduce2.py" 2>&1
    echo "exit status $?"
  } > "$OUT/$name.log"
done
ls -l "$OUT"
