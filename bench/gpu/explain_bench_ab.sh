#!/bin/bash
# The 1 GiB explain benchmark, this tree against another one, interleaved on the same machine: on a host whose
# speed drifts between runs (the GPU host's CPUs did, eighth session: grep alone 1.15-1.55 s), only a same-machine
# A/B says whether a change of the knowledge costs anything.
#   usage (repo root; carry .gpu-deps built by WITH_EXPLAIN=1 bash bench/gpu/make_deps.sh, and the other tree's
#   src/ and bench/ in OTHER, e.g. `git worktree add /tmp/o REV && cp -r /tmp/o/{src,bench} .cmp-old/`):
#   OTHER=.cmp-old OUT=$OUT bash bench/gpu/explain_bench_ab.sh
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd); cd "$REPO"
OUT=${OUT:-/tmp/explain-bench-ab}; OTHER=${OTHER:?the other tree (with src/ and bench/)}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
PYV=$(python3 -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
export PYTHONPATH="$REPO/.gpu-deps/$PYV"   # bench/run.py puts its own tree's src first
# The device runs with PYTHONDONTWRITEBYTECODE=1, so every timed run compiled both trees and .gpu-deps (whose .pyc pip
# wrote for the building host's Python) from source: 132 compiles, 0.3 s of a one-line run on one H100 instance, which an
# installed tpdoctor never pays (bench/README.md, twenty-fifth session). Compiled once here, for both trees alike.
python3 -m compileall -q -j0 src "$OTHER/src" "$REPO/.gpu-deps/$PYV" >/dev/null 2>&1 || true
LOG=/tmp/tpd-bench-1g.log
[ -s "$LOG" ] || python3 bench/gen_log.py "$LOG" --size 1GiB --seed 1 >/dev/null
for round in 1 2 3; do
  for tree in "$OTHER" .; do
    for workers in 0 auto; do
      if [ "$workers" = auto ]; then unset TPDOCTOR_SCAN_WORKERS; else export TPDOCTOR_SCAN_WORKERS=$workers; fi
      J=$(mktemp)
      taskset -c 0,1 python3 "$tree/bench/run.py" --log "$LOG" --repeat 3 >"$J" 2>&1
      echo "tree=$tree workers=$workers round=$round: grep, explain, ratio, explain CPU, RSS MB, planted found, explain cold: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["grep_s"], d["explain_s"], d["ratio"], d["explain_cpu_s"], d["explain_peak_rss_mb"], d["planted_found_at_exact_line"], d.get("explain_cold_s", "-"))' "$J")"
    done
  done
done | tee "$OUT/ab.txt"
