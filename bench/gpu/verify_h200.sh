#!/usr/bin/env bash
# tpdoctor verify on 2 x H200, next to nccl-tests' all_reduce_perf, in one command.
# Run ONCE from the repo root on an `nvidia-h200-x2` machine:
#     NCCL_TESTS_BIN=/path/to/nccl-tests/build bash bench/gpu/verify_h200.sh
# Needs: python3 with torch (the image's), the wheels of pydantic/ruamel.yaml/typer/rich in .whl/
# (carried, see docs/verify.md "Measured on H200"), optionally a built all_reduce_perf.
# Writes everything to $OUT (or ./out). About 2-4 minutes; no step needs the network.
set -uo pipefail
cd "$(dirname "$0")/../.."

# NVLink SHARP / multicast must stay off on these shared machines (KINDS.md).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# 1. Install tpdoctor. The image has torch, numpy, matplotlib, rich, typer, nvidia-ml-py; pydantic
#    and ruamel.yaml come as carried wheels. PYTHONPATH=src makes the CLI work even if pip fails.
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps .whl/*.whl 2>&1 | tail -3
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tail -3
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
TP="python3 -m tpdoctor"
if ! python3 -c "import typer, rich, pydantic, ruamel.yaml, torch" 2>"$OUT/import_error.txt"; then
  note "FATAL: a dependency is missing (see import_error.txt); carry its wheel in .whl/"
  exit 1
fi

{
  date -u
  nvidia-smi -L
  nvidia-smi topo -m
  nvidia-smi nvlink -s | head -24
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "nccl", torch.cuda.nccl.version())'
  env | grep -E '^(NCCL|TORCH_SYMM|NVSHMEM|CUDA_VISIBLE)' | sort
} > "$OUT/env.txt" 2>&1

gpu_procs() { nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | grep -c . ; }
ranks_alive() { pgrep -f tpdoctor.verify.worker | grep -c . ; }

# 2. Quick verdict, timed end to end (target: < 20 s incl. process start and NCCL init).
t0=$(now); $TP verify --gpus 2 --quick > "$OUT/verify_quick.txt" 2> "$OUT/verify_quick.err"; rc=$?; t1=$(now)
note "verify --quick (bf16): exit $rc, wall $(secs "$t0" "$t1") s"

# 3. Full sweep 1M..4G (x4), fp32 like all_reduce_perf's default, JSON for the comparison, plot.
t0=$(now)
$TP verify --gpus 2 --dtype fp32 --format json --plot "$OUT/verify_full_fp32.png" \
  > "$OUT/verify_full_fp32.json" 2> "$OUT/verify_full_fp32.err"; rc=$?; t1=$(now)
note "verify full fp32: exit $rc, wall $(secs "$t0" "$t1") s"

# 4. nccl-tests on the same sizes, right after (float, sum; in-place and out-of-place columns).
if [ -n "${NCCL_TESTS_BIN:-}" ]; then
  bin="$NCCL_TESTS_BIN"; [ -d "$bin" ] && bin="$bin/all_reduce_perf"
  t0=$(now); "$bin" -b 1M -e 4G -f 4 -g 2 -c 1 -n 20 -w 5 > "$OUT/nccl_tests_all_reduce.txt" 2>&1; rc=$?; t1=$(now)
  note "all_reduce_perf: exit $rc, wall $(secs "$t0" "$t1") s"
  python3 bench/gpu/compare_nccl_tests.py "$OUT/nccl_tests_all_reduce.txt" "$OUT/verify_full_fp32.json" \
    > "$OUT/compare.md" 2>&1
  cat "$OUT/compare.md" | tee -a "$SUMMARY"
else
  note "NCCL_TESTS_BIN not set: nccl-tests comparison skipped"
fi

# 5. The default (bf16) full sweep, text table as a user sees it.
t0=$(now); $TP verify --gpus 2 > "$OUT/verify_full_bf16.txt" 2>&1; rc=$?; t1=$(now)
note "verify full bf16: exit $rc, wall $(secs "$t0" "$t1") s"

# 6. P2P switched off: NCCL falls back to SHM; expect exit 4 with verify.bandwidth-degraded and
#    verify.transport-fallback.
NCCL_P2P_DISABLE=1 $TP verify --gpus 2 --quick --format json --logs "$OUT/p2p_disabled_logs" \
  > "$OUT/verify_p2p_disabled.json" 2> "$OUT/verify_p2p_disabled.err"; rc=$?
causes=$(python3 -c "import json,sys; print(' '.join(f['cause'] for f in json.load(open(sys.argv[1]))['findings']))" \
  "$OUT/verify_p2p_disabled.json" 2>/dev/null)
note "NCCL_P2P_DISABLE=1 verify --quick: exit $rc (expect 4), findings: $causes"

# 7. Watchdog with NCCL: rank 1 hangs before its first all_gather; the group must be ended within
#    --timeout, with no rank left and no GPU memory held.
before_ranks=$(ranks_alive); before_gpu=$(gpu_procs)
t0=$(now)
TPDOCTOR_VERIFY_FAULT=hang:1:all_gather $TP verify --gpus 2 --quick --timeout 20 --format json \
  > "$OUT/verify_hang.json" 2> "$OUT/verify_hang.err"; rc=$?; t1=$(now)
sleep 2
note "hang fault: exit $rc (expect 3), wall $(secs "$t0" "$t1") s, ranks alive before/after: $before_ranks/$(ranks_alive), GPU compute processes before/after: $before_gpu/$(gpu_procs)"
nvidia-smi --query-gpu=index,memory.used --format=csv >> "$SUMMARY" 2>&1

note "done: outputs in $OUT"
