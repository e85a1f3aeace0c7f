#!/bin/bash
# The 1 GiB explain benchmark on a quiet machine (the GPU host's CPUs, nothing else running):
# explain against grep with the scan pool off and on, on all CPUs and pinned to 2 (CI's size).
#   usage (repo root; carry .gpu-deps built by WITH_EXPLAIN=1 bash bench/gpu/make_deps.sh):  OUT=$OUT bash bench/gpu/explain_bench_quiet.sh
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd); cd "$REPO"
OUT=${OUT:-/tmp/explain-bench-out}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
PYV=$(python3 -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
export PYTHONPATH="$REPO/src:$REPO/.gpu-deps/$PYV"
{ python3 --version; nproc; uptime; python3 -c 'import hyperscan, numpy; print("hyperscan", hyperscan.__version__, "numpy", numpy.__version__)'; } >"$OUT/host.txt" 2>&1
LOG=/tmp/tpd-bench-1g.log
python3 bench/gen_log.py "$LOG" --size 1GiB --seed 1 >/dev/null
for round in 1 2 3; do
  for cpus in ${BENCH_CPUS:-2}; do
    for workers in 0 auto; do
      pin=(); [ "$cpus" = 2 ] && pin=(taskset -c 0,1)
      if [ "$workers" = auto ]; then unset TPDOCTOR_SCAN_WORKERS; else export TPDOCTOR_SCAN_WORKERS=$workers; fi
      J=/tmp/tpd-run-cpus$cpus-workers$workers-r$round.json
      "${pin[@]}" python3 bench/run.py --log "$LOG" --repeat 3 >"$J" 2>&1
      echo "{\"cpus\": \"$cpus\", \"workers\": \"$workers\", \"round\": $round, \"run\": $(cat "$J")}" | tr -d '\n' >>"$OUT/runs.jsonl"; echo >>"$OUT/runs.jsonl"
      echo "cpus=$cpus workers=$workers round=$round: grep, explain, ratio, explain CPU, RSS MB, planted found, explain cold: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["grep_s"], d["explain_s"], d["ratio"], d["explain_cpu_s"], d["explain_peak_rss_mb"], d["planted_found_at_exact_line"], d.get("explain_cold_s", "-"))' "$J")"
    done
  done
done | tee "$OUT/summary.txt"
uptime >>"$OUT/host.txt"
