#!/usr/bin/env bash
# Issue 16 in one command: small all-reduces (graph replay) next to nccl-tests, large sizes still
# within 3%, the inference profile for two model sizes, the forced-variable table, --quick wall.
#
#   run from the repo root (or a copy of it) on nvidia-h200-x2, as root:
#     OUT=/some/dir bash bench/gpu/verify_small_h200x2.sh
#   needs: .gpu-deps/py312 (bench/gpu/make_deps.sh, carried), nccl-tests source in .nccl-tests
#   (NVIDIA/nccl-tests, built here with the torch wheel's NCCL; skipped if absent).
#   GPUS=1 runs what one GPU can show (graph path, 1-rank timings, profile arithmetic, logs).
#   Results: $OUT/summary.txt (everything in short) and $OUT/results.tgz (every JSON, log and table);
#   the device tool brings back at most 8 files, so the work happens in a temp dir.
set -uo pipefail
cd "$(dirname "$0")/../.."
# NVLink SHARP / multicast stays off on these shared machines (KINDS.md).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
GPUS=${GPUS:-2}
FINAL=${OUT:-$PWD/out}; mkdir -p "$FINAL"
OUT=$(mktemp -d)
S=$OUT/summary.txt; : >"$S"
note() { echo "$*" | tee -a "$S"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
export PYTHONPATH="$PWD/src"
if ! python3 -c 'import pydantic, ruamel.yaml, typer, rich' 2>/dev/null; then
  PYV=$(python3 -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
  export PYTHONPATH="$PYTHONPATH:$PWD/.gpu-deps/$PYV"
fi
python3 -c 'import pydantic, ruamel.yaml, typer, rich, torch' || { note "FATAL: deps missing"; exit 1; }
TP="python3 -m tpdoctor"
{ date -u; nvidia-smi -L; nvidia-smi topo -m; nproc
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", torch.cuda.nccl.version(), "gpus", torch.cuda.device_count())'
} >"$OUT/env.txt" 2>&1

# 0. nccl-tests' all_reduce_perf, built against the NCCL that torch loads (nvidia-nccl wheel).
NT=""
if [ -d .nccl-tests/src ]; then
  NH=$(python3 -c 'import nvidia.nccl, os; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null)
  [ -f "$NH/include/nccl.h" ] || NH=/usr
  t0=$(now)
  make -C .nccl-tests/src -j"$(nproc)" MPI=0 CUDA_HOME=/usr/local/cuda NCCL_HOME="$NH" \
    NVCC_GENCODE="-gencode=arch=compute_90,code=sm_90" BUILDDIR="$PWD/.nccl-tests/build" \
    "$PWD/.nccl-tests/build/all_reduce_perf" >"$OUT/nccl_tests_build.log" 2>&1 && NT=$PWD/.nccl-tests/build/all_reduce_perf
  export LD_LIBRARY_PATH="$NH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "nccl-tests build: ${NT:-FAILED} ($(secs "$t0" "$(now)") s, NCCL_HOME=$NH)"
fi

# 1. --quick, timed end to end (target < 20 s, small sizes included).
t0=$(now); $TP verify --gpus "$GPUS" --quick --format json >"$OUT/quick.json" 2>"$OUT/quick.err"; rc=$?
note "verify --quick: exit $rc, wall $(secs "$t0" "$(now)") s"

# 2. Small sizes 8K..16M x2 and large 64M..4G x4, fp32 like all_reduce_perf's default; then nccl-tests.
t0=$(now)
$TP verify --gpus "$GPUS" --dtype fp32 --small-sizes 8K..16M:2 --sizes 64M..4G:4 --format json \
  >"$OUT/full_fp32.json" 2>"$OUT/full_fp32.err"; rc=$?
note "verify fp32 small+large: exit $rc, wall $(secs "$t0" "$(now)") s"
# The same small sizes timed as eager calls (Python in the loop): what the graph path removes.
TPDOCTOR_VERIFY_SMALL_TIMING=loop $TP verify --gpus "$GPUS" --dtype fp32 --small-sizes 8K..16M:2 --sizes none \
  --format json >"$OUT/small_eager_fp32.json" 2>"$OUT/small_eager_fp32.err" || true
python3 - "$OUT/full_fp32.json" "$OUT/small_eager_fp32.json" >>"$S" 2>&1 <<'PY'
import json, sys
g, e = (json.load(open(p))["facts"]["verify"]["latency"] for p in sys.argv[1:3])
eager = {r["bytes"]: r["time_us"] for r in e}
print("| size | graph (us) | eager loop (us) |\n|---:|---:|---:|")
for r in g:
    print(f"| {r['bytes']} | {r['time_us']} | {eager.get(r['bytes'], '-')} |")
PY
if [ -n "$NT" ]; then
  "$NT" -b 8K -e 16M -f 2 -g "$GPUS" -c 1 -n 20 -w 5 >"$OUT/nccl_small.txt" 2>&1
  note "all_reduce_perf 8K..16M: exit $?"
  "$NT" -b 64M -e 4G -f 4 -g "$GPUS" -c 1 -n 20 -w 5 >"$OUT/nccl_large.txt" 2>&1
  note "all_reduce_perf 64M..4G: exit $?"
  python3 bench/gpu/compare_small.py "$OUT/nccl_small.txt" "$OUT/full_fp32.json" >"$OUT/compare_small.md" 2>&1
  python3 bench/gpu/compare_nccl_tests.py "$OUT/nccl_large.txt" "$OUT/full_fp32.json" >"$OUT/compare_large.md" 2>&1
  cat "$OUT/compare_small.md" "$OUT/compare_large.md" >>"$S"
fi

# 3. The inference profile for two model sizes (bf16, the serving dtype).
for m in llama-3-8b llama-3-70b; do
  t0=$(now)
  $TP verify --tp "$GPUS" --profile inference --model "$m" --small-sizes none --sizes 256M \
    --format json >"$OUT/profile_$m.json" 2>"$OUT/profile_$m.err"; rc=$?
  note "profile $m: exit $rc, wall $(secs "$t0" "$(now)") s: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['facts']['verify']['profile']['summary'])" "$OUT/profile_$m.json" 2>&1 | tail -1)"
done

# 4. Forced variables: each case runs --quick with the variable(s) set; was it named?
CASES=(
  "baseline|"
  "max-nchannels-1|NCCL_MAX_NCHANNELS=1"
  "min-nchannels-32|NCCL_MIN_NCHANNELS=32"
  "algo-tree|NCCL_ALGO=Tree"
  "proto-simple|NCCL_PROTO=Simple"
  "proto-ll|NCCL_PROTO=LL"
  "p2p-level-loc|NCCL_P2P_LEVEL=LOC"
  "p2p-disable|NCCL_P2P_DISABLE=1"
  "p2p-shm-disable|NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1"
)
[ "$GPUS" = 1 ] && CASES=("baseline|" "max-nchannels-1|NCCL_MAX_NCHANNELS=1" "algo-tree|NCCL_ALGO=Tree")
for spec in "${CASES[@]}"; do
  IFS='|' read -r name envs <<<"$spec"
  echo "$envs" >"$OUT/forced_$name.env"
  t0=$(now)
  # shellcheck disable=SC2086
  env $envs $TP verify --gpus "$GPUS" --quick --timeout 60 --format json --logs "$OUT/logs_$name" \
    >"$OUT/forced_$name.json" 2>"$OUT/forced_$name.err"
  echo $? >"$OUT/forced_$name.rc"
  note "forced $name ($envs): exit $(cat "$OUT/forced_$name.rc"), $(secs "$t0" "$(now)") s"
done
python3 bench/gpu/forced_table.py "$OUT" >"$OUT/forced_table.md" 2>&1
cat "$OUT/forced_table.md" >>"$S"
# Rank logs of two cases as parser fixtures (NCCL's own lines: channels, 'set by environment').
for name in max-nchannels-1 algo-tree; do
  [ -f "$OUT/logs_$name/rank0.log" ] && grep -E "NCCL (INFO|WARN)|Error|error" "$OUT/logs_$name/rank0.log" | head -400 >"$OUT/rank0_$name.log"
done
note "done"
tar czf "$FINAL/results.tgz" -C "$OUT" . 2>/dev/null
cp "$S" "$FINAL/summary.txt"
cat "$S"
