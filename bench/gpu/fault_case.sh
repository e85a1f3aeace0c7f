#!/bin/bash
# One fault case, run by fault_matrix.sh *inside* `unshare --mount --propagation private`.
# usage: fault_case.sh NAME KEEP SHM [VAR=VALUE ...]
#   KEEP: "all" (leave /dev alone) or a comma list of /dev/nvidia* names to keep, e.g. nvidia0,nvidiactl
#   SHM:  "host" (leave /dev/shm alone) or a tmpfs size such as 64m
# Writes $OUT/fault_NAME.check.json, $OUT/fault_NAME.run.log, $OUT/fault_NAME.json.
set -u
NAME=$1 KEEP=$2 SHM=$3; shift 3
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DROP=(setpriv --inh-caps=-mknod --bounding-set=-mknod)   # as root, libcuda would recreate missing nodes

if [ "$KEEP" != "all" ]; then
  declare -A SPEC
  for n in /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/ptmx /dev/nvidia*; do
    [ -c "$n" ] && SPEC[$n]=$(stat -c '%t %T %a' "$n")
  done
  mount -t tmpfs -o mode=755,size=1m tpd-dev /dev || { echo "cannot mount /dev"; exit 90; }
  make() { read -r maj min mode <<<"${SPEC[$1]}"; mknod -m "$mode" "$1" c $((16#$maj)) $((16#$min)); }
  for n in /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/ptmx; do [ -n "${SPEC[$n]:-}" ] && make "$n"; done
  IFS=, read -ra KEEPS <<<"$KEEP"
  for k in "${KEEPS[@]}"; do [ -n "${SPEC[/dev/$k]:-}" ] && make "/dev/$k"; done
  mkdir -p /dev/shm /dev/pts; ln -s /proc/self/fd /dev/fd
  mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts 2>/dev/null || true
  [ "$SHM" = host ] && SHM=16g
fi
if [ "$SHM" != host ]; then
  mount -t tmpfs -o "size=$SHM,mode=1777" tpd-shm /dev/shm || { echo "cannot mount /dev/shm"; exit 91; }
fi
for kv in "$@"; do export "$kv"; done
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
echo "== case $NAME: keep=$KEEP shm=$SHM env=$* ; /dev now:"; ls -l /dev/nvidia* 2>&1; df -h /dev/shm | tail -1

CHECK="$OUT/fault_$NAME.check.json"
"${DROP[@]}" timeout 60 python3 -m tpdoctor check --tp "${FAULT_TP:-2}" --backend cuda --format json >"$CHECK" 2>"$CHECK.err"
CHECK_RC=$?
if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$CHECK" 2>/dev/null; then
  echo "tpdoctor check gave rc=$CHECK_RC and no JSON; using bench/gpu/check_direct.py"; cat "$CHECK.err"
  "${DROP[@]}" timeout 60 python3 "$REPO/bench/gpu/check_direct.py" --tp "${FAULT_TP:-2}" --backend cuda >"$CHECK" 2>>"$CHECK.err"
  CHECK_RC=$?
fi
"${DROP[@]}" timeout 120 python3 "$REPO/bench/gpu/allreduce2.py" >"$OUT/fault_$NAME.run.log" 2>&1
RUN_RC=$?
echo "check rc=$CHECK_RC run rc=$RUN_RC"; tail -5 "$OUT/fault_$NAME.run.log"
python3 - "$NAME" "$KEEP" "$SHM" "$CHECK_RC" "$RUN_RC" "$*" <<'PY'
import json, os, sys
name, keep, shm, check_rc, run_rc, env = sys.argv[1:7]
out = os.environ["OUT"]
try:
    report = json.load(open(f"{out}/fault_{name}.check.json"))
except Exception as exc:  # record, never fail the matrix
    report = {"findings": [], "error": str(exc)}
log = open(f"{out}/fault_{name}.run.log", errors="replace").read().splitlines()
result = next((json.loads(l[7:]) for l in log if l.startswith("RESULT ")), {})
errors = [l for l in log if any(w in l for w in ("Error", "error", "WARN", "failed", "denied"))][-6:]
json.dump({
    "case": name, "keep": keep, "shm": shm, "env": env,
    "check_rc": int(check_rc), "run_rc": int(run_rc),
    "predicted": [{"cause": f["cause"], "severity": f["severity"]} for f in report.get("findings", [])],
    "run": result, "last_errors": errors or log[-6:],
}, open(f"{out}/fault_{name}.json", "w"), indent=1)
PY
