#!/bin/sh
# Runs inside a scenario's container (the harness's entrypoint): tpdoctor check first, with the
# container's environment as configured, then the real oneCCL program (directly, or under
# `tpdoctor run`). Everything goes to /out. Args: MODE (direct|run) NRANKS
# Env: ONECCL_BIN (the version's bin dir), ONECCL_COMMON, ONECCL_VENV, ONECCL_LZ, ONECCL_SCRIPTS.
set -u
MODE=$1 NRANKS=$2
python3 -m tpdoctor check --tp "$NRANKS" --format json --snapshot /out/facts.json >/out/check.json 2>/out/check.err
echo $? >/out/check.rc
"$ONECCL_COMMON/pidfd_probe" >/out/probe.txt 2>&1
# a rank left waiting for a peer that died is killed after 20 s (exit 124): harness.PROGRAM_TIMEOUT_S
PROG="timeout -k 5 20 /bin/sh $ONECCL_SCRIPTS/ccl-env.sh $ONECCL_BIN/repro $NRANKS"
if [ "$MODE" = run ]; then
  # shellcheck disable=SC2086
  python3 -m tpdoctor run --tp "$NRANKS" -- $PROG >/out/ccl.out 2>&1
else
  # shellcheck disable=SC2086
  $PROG >/out/ccl.out 2>&1
fi
echo $? >/out/ccl.rc
# CPU seconds of everything above (shell builtin: user/sys of this shell, then of its children);
# the harness sums them for the CI budget (docs/oneccl-real.md)
times >/out/times.txt
