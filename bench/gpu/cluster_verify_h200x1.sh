#!/usr/bin/env bash
# Issue 17's GPU run on a ONE-GPU host (kind nvidia-h200): two network-namespace "nodes" that share
# GPU 0 (distinct NCCL_HOSTID, so NCCL treats them as two hosts) run `tpdoctor cluster verify` with
# NCCL over TCP sockets on a veth; then node 1's veth is shaped and must be named. The NVLink
# comparison of cluster_verify_h200x2.sh needs two GPUs.
#   carry .gpu-deps (bench/gpu/make_deps.sh) and .gpu-ray (bench/gpu/make_ray.sh: Ray without its
#   Java jar and source maps, plus jsonschema, and iproute2's ip/tc: the GPU image has none), then:
#   OUT=$OUT bash bench/gpu/cluster_verify_h200x1.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
site=/tmp/tpd-raysite
mkdir -p "$site/bin"
[ -d "$site/ray" ] || tar -C "$site" -xJf .gpu-ray/ray312.tar.xz
printf '#!/bin/sh\nexec python3 -c "import sys; from ray.scripts.scripts import main; sys.argv[0]=\\"ray\\"; sys.exit(main())" "$@"\n' >"$site/bin/ray"
chmod +x "$site/bin/ray"
# the GPU image has no iproute2: ip and tc from this machine (Debian 12), their libraries beside
# them (rpath $ORIGIN/../lib, set with patchelf), carried in .gpu-ray/iproute
export PATH="$site/bin:$PWD/.gpu-ray/iproute/bin:$PATH" PYTHONPATH="$site:$PWD/.gpu-deps/py312"
command -v ip tc unshare
python3 -c 'import ray, torch; print("ray", ray.__version__, "torch", torch.__version__, "gpus", torch.cuda.device_count())'
export TPD_SHARE_GPU=1
out=${OUT:-/tmp}/cluster-h200x1
exec unshare --net --mount --pid --fork --mount-proc -- python3 bench/gpu/cluster_verify_h200x2.py "$out"
