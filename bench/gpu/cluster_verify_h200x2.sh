#!/usr/bin/env bash
# One command on a 2xH200 host (root; ray, CUDA torch and this checkout's tpdoctor importable;
# ip, tc, unshare): two network-namespace "nodes" with one GPU each run `tpdoctor cluster verify`
# with NCCL over sockets on a veth (NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1), the same two GPUs
# without the split are judged on NVLink (`tpdoctor verify`), and a shaped veth must be named.
#   sudo bench/gpu/cluster_verify_h200x2.sh [OUTDIR]     (default /tmp/tpdoctor-cluster-h200x2)
# NOT RUN YET: the 2-GPU machine was not available to this work (docs/cluster.md says so).
set -euo pipefail
cd "$(dirname "$0")/../.."
# NVLink SHARP / multicast off everywhere (docs/verify.md, "NVLink SHARP").
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi -L
# Private network+mount+PID namespace: the namespaces, raylets and ranks all end with it.
exec unshare --net --mount --pid --fork --mount-proc -- python3 bench/gpu/cluster_verify_h200x2.py "${1:-/tmp/tpdoctor-cluster-h200x2}"
