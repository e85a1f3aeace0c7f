"""`tpdoctor cluster verify` with NCCL on a 2-GPU host split into two namespace "nodes" (one GPU
each), as between real nodes: NCCL over TCP sockets on a veth (P2P and SHM off); then the same
two GPUs without the split (`tpdoctor verify`, judged on NVLink); then the veth of node 1 shaped
with tc tbf, judged against the healthy link's rate. Run through cluster_verify_h200x2.sh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from netns_cluster import NetnsCluster  # noqa: E402

NO_NVLS = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
# what separates two real nodes: no peer access, no shared memory, no InfiniBand; one interface
BETWEEN_NODES = {
    "NCCL_P2P_DISABLE": "1",
    "NCCL_SHM_DISABLE": "1",
    "NCCL_IB_DISABLE": "1",
    "NCCL_SOCKET_IFNAME": "eth0",
}


def save(out: Path, name: str, p: subprocess.CompletedProcess[str], wall: float) -> dict[str, Any]:
    (out / f"{name}.json").write_text(p.stdout)
    (out / f"{name}.stderr").write_text(p.stderr[-200000:])
    try:
        rep = json.loads(p.stdout)
    except json.JSONDecodeError:
        print(f"{name}: exit {p.returncode}, no JSON; stderr tail:\n{p.stderr[-3000:]}", flush=True)
        return {}
    causes = [f"{f['cause']}: {f['message'][:160]}" for f in rep.get("findings", [])]
    print(
        f"== {name}: exit {p.returncode}, {wall:.1f} s\n  " + "\n  ".join(causes or ["no finding"]),
        flush=True,
    )
    for n in rep.get("notes", []):
        print(f"  note: {n[:300]}", flush=True)
    return rep


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tpdoctor-cluster-h200x2")
    out.mkdir(parents=True, exist_ok=True)
    c = NetnsCluster(2, mtu=1500)
    # TPD_SHARE_GPU=1 (a one-GPU host): both "nodes" use GPU 0. NCCL refuses two ranks on one GPU
    # of one host ("Duplicate GPU detected", init.cc compares hostHash and busId); a distinct
    # NCCL_HOSTID per node gives each its own host hash, as two real nodes have, so the pair runs
    # over the veth exactly as the two-GPU split does. The NVLink comparison needs two GPUs.
    share = os.environ.get("TPD_SHARE_GPU") == "1"
    for i in range(2):
        c.node_args[i] = ["--num-cpus=2", "--num-gpus=1"]
        gpu = {"CUDA_VISIBLE_DEVICES": "0", "NCCL_HOSTID": f"tpdv-node{i}"} if share else {"CUDA_VISIBLE_DEVICES": str(i)}
        c.node_env[i] = {**gpu, **BETWEEN_NODES, **NO_NVLS}
    args = [
        "cluster",
        "verify",
        "--address",
        c.address,
        "--backend",
        "nccl",
        "--gpus-per-node",
        "1",
        "--timeout",
        "120",
        "-f",
        "json",
    ]
    try:
        c.build()
        c.start()
        t0 = time.monotonic()
        healthy = save(
            out, "1-split-sockets", c.tpdoctor(*args, env=NO_NVLS, timeout=900), time.monotonic() - t0
        )
        full = (healthy.get("facts") or {}).get("full") or {}
        print(
            f"  transport: {full.get('transport')}; busbw by size: "
            + ", ".join(f"{r['op']} {r['bytes']}: {r['busbw_gbps']}" for r in full.get("results", [])),
            flush=True,
        )
        rate = next(
            (r["link_gbps"] for r in (healthy.get("facts") or {}).get("nodes", []) if r.get("link_gbps")),
            None,
        )
        # The same two GPUs without the split: one host, NVLink, judged against the NVLink ceiling.
        t0 = time.monotonic()
        one_host = None if share else subprocess.run(
            [
                sys.executable,
                "-m",
                "tpdoctor",
                "verify",
                "--backend",
                "nccl",
                "--gpus",
                "2",
                "--no-nvls",
                "-f",
                "json",
            ],
            env={**os.environ, **NO_NVLS, "PYTHONPATH": str(REPO / "src")},
            capture_output=True,
            text=True,
            timeout=900,
        )
        if one_host is not None:
            save(out, "2-one-host-nvlink", one_host, time.monotonic() - t0)
        # A slow veth: node 1's link shaped to 2 Gbit/s (250 MB/s) both ways, judged against the
        # rate the healthy link reached above.
        with c.slow_link(1, "2gbit"):
            t0 = time.monotonic()
            extra = ["--expect-link-gbps", f"{rate:.3f}"] if rate else []
            save(
                out,
                "3-split-slow-veth",
                c.tpdoctor(*args, *extra, env=NO_NVLS, timeout=900),
                time.monotonic() - t0,
            )
    finally:
        c.stop()
    print(f"results in {out}", flush=True)


if __name__ == "__main__":
    main()
