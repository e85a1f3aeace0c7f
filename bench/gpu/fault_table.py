"""Markdown table from fault_matrix.sh results: case, fault, predicted ids, real outcome, agree?"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FAULTS = {
    "baseline": "none (CAP_MKNOD dropped)",
    "shm64m": "/dev/shm 64 MiB",
    "shm64m-nop2p": "/dev/shm 64 MiB + NCCL_P2P_DISABLE=1",
    "p2p-disabled": "NCCL_P2P_DISABLE=1",
    "no-uvm": "no /dev/nvidia-uvm",
    "no-ctl": "no /dev/nvidiactl",
    "no-nvidia1": "no /dev/nvidia1 (rank 1's GPU)",
    "no-caps-dir": "no /dev/nvidia-caps (not needed)",
    "cvd-2-3": "CUDA_VISIBLE_DEVICES=2,3 on 2 GPUs",
}


TP = os.environ.get("FAULT_TP", "2")


def row(case: dict, baseline_bw: float | None) -> str:
    pred = case["predicted"]
    blockers = sorted({p["cause"] for p in pred if p["severity"] == "blocker"})
    degraded = sorted({p["cause"] for p in pred if p["severity"] == "degraded"})
    run = case.get("run") or {}
    failed = not run.get("ok", False)
    bw = run.get("busbw_gbs")
    slow = bool(bw and baseline_bw and bw < 0.5 * baseline_bw)
    signals = [
        f"rank {i} killed by signal {-c}" for i, c in enumerate(run.get("exitcodes") or []) if c and c < 0
    ]
    if failed:
        errs = [e.strip()[:90] for e in case.get("last_errors", [])[-2:]]
        if bw is not None:
            errs.insert(
                0,
                f"all-reduce ok ({bw} GB/s at 64 MiB), then vLLM-sized shm ring: {run.get('shm_ring', 'died')}",
            )
        outcome = "FAILED: " + "; ".join(errs + signals[:1])
    else:
        outcome = f"ok, {bw} GB/s at 64 MiB" + (" (slow)" if slow else "")
        if run.get("shm_ring"):
            outcome += ", vLLM-sized shm ring ok"
    if failed:
        agree = "yes" if blockers else "NO (missed)"
    elif blockers:
        agree = "NO (false blocker)"
    elif slow:
        agree = "yes" if degraded else "NO (missed slowdown)"
    else:
        agree = "yes"
    predicted = ", ".join(blockers + [f"{d} (degraded)" for d in degraded]) or "-"
    cmd = f"keep={case['keep']} shm={case['shm']} {case['env']}".strip()
    fault = FAULTS.get(case["case"], case["case"])
    return f"| {case['case']} | {fault} | `{cmd}` | {predicted} | {outcome.replace('|', '/')} | {agree} |"


def main(out: Path) -> None:
    cases = [
        json.loads(p.read_text())
        for p in sorted(out.glob("fault_*.json"))
        if not p.name.endswith(".check.json")
    ]
    order = list(FAULTS)
    cases.sort(key=lambda c: order.index(c["case"]) if c["case"] in order else 99)
    base = next((c for c in cases if c["case"] == "baseline"), None)
    baseline_bw = (base or {}).get("run", {}).get("busbw_gbs")
    print(
        f"| case | fault | command | predicted (tpdoctor check --tp {TP} --backend cuda) | real {TP}-rank NCCL all-reduce, then vLLM-sized shm ring | agree? |"
    )
    print("|---|---|---|---|---|---|")
    for c in cases:
        print(row(c, baseline_bw))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "fault-out"))
