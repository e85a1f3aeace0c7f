#!/usr/bin/env bash
# Everything a single lent H200 (kind nvidia-h200) can prove, in one device command:
# a real-host snapshot, live check latency, verify's NCCL path on one rank (launcher, CUDA
# events, exact checks, TP MLP, watchdog), and the one-rank fault cases (fault_matrix.sh).
#   run from the repo root on the device, carrying .whl (pydantic, ruamel.yaml, pyahocorasick):
#   OUT=$OUT bash bench/gpu/run_h200x1.sh      -> $OUT/results.tgz
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
O=$(mktemp -d); S=$O/summary.txt
note() { echo "$*" | tee -a "$S"; }
python3 -m pip install -q --no-index --no-deps .whl/*.whl 2>&1 | tail -2
export PYTHONPATH=$PWD/src
{ nvidia-smi -L; nvidia-smi topo -m; uname -r; ls -l /dev/nvidia* /dev/shm -d;
  python3 -c 'import torch; print("torch", torch.__version__, "nccl", torch.cuda.nccl.version(), "gpus", torch.cuda.device_count())'; } >"$O/env.txt" 2>&1
timeout 60 python3 -m tpdoctor check --snapshot "$O/h200x1-host.json" -f json >"$O/check_live.json" 2>"$O/check_live.err"
note "check live: rc=$?"
for i in 1 2 3 4 5 6 7; do
  /usr/bin/time -f "%e" -a -o "$O/check_times.txt" timeout 60 python3 -m tpdoctor check -f json >/dev/null 2>&1
done
note "check live wall (s): $(tr '\n' ' ' <"$O/check_times.txt")"
t0=$(date +%s.%N)
timeout 120 python3 -m tpdoctor verify --gpus 1 --quick >"$O/verify_quick1.txt" 2>&1; rc=$?
note "verify --gpus 1 --quick: rc=$rc wall $(python3 -c "print(round($(date +%s.%N)-$t0,2))") s"
timeout 180 python3 -m tpdoctor verify --gpus 1 --format json >"$O/verify_full1.json" 2>"$O/verify_full1.err"
note "verify --gpus 1 full: rc=$?"
timeout 60 python3 -m tpdoctor verify --gpus 2 --quick >"$O/verify_too_many.txt" 2>&1
note "verify --gpus 2 on 1 GPU: rc=$? ($(head -c 200 "$O/verify_too_many.txt"))"
alive() { pgrep -f tpdoctor.verify.worker | grep -c . ; }
gpu() { nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -c . ; }
b1=$(alive); b2=$(gpu); t0=$(date +%s.%N)
TPDOCTOR_VERIFY_FAULT=hang:0:all_gather timeout 120 python3 -m tpdoctor verify --gpus 1 --quick --timeout 20 -f json >"$O/verify_hang.json" 2>"$O/verify_hang.err"; rc=$?
sleep 2
note "hang fault: rc=$rc wall $(python3 -c "print(round($(date +%s.%N)-$t0,2))") s ranks before/after $b1/$(alive) gpu procs before/after $b2/$(gpu)"
FAULT_GPUS=1 OUT=$O/fault timeout 330 bash bench/gpu/fault_matrix.sh >"$O/fault_matrix.out" 2>&1
note "fault matrix: rc=$?"
cat "$O/fault/fault_table.md" >>"$S" 2>/dev/null
tar czf "$OUT/results.tgz" -C "$O" . && cp "$S" "$OUT/summary.txt"
cat "$S"
