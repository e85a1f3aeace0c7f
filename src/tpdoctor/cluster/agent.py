"""The Ray actor of `tpdoctor cluster verify`: one per GPU (per node for gloo), pinned to its node.

It describes its node's network as the ranks will see it (interfaces, the interface NCCL and
Gloo would pick, the environment the raylet gave it: what vLLM's Ray workers see), answers the
byte-level probes of `netprobe.py`, and runs verify's rank (`python -m tpdoctor.verify.worker`)
as a child process in its own session, so that a rank stuck in a collective can be killed as a
group and its log (NCCL's INFO lines included) read back. A rank dies with the actor
(PR_SET_PDEATHSIG in verify/worker.py), so killing the actor leaves nothing behind.

tpdoctor must be importable on every node (as vLLM must be for its Ray workers).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tpdoctor.cluster import netprobe
from tpdoctor.verify.launcher import group_alive, kill_group

# What the ranks' environment carries that decides the interface and transport.
ENV_KEYS = (
    "NCCL_",
    "GLOO_",
    "TORCH_NCCL",
    "VLLM_HOST_IP",
    "CUDA_VISIBLE_DEVICES",
    "CCL_",
    "FI_",
    "UCX_",
    "MASTER_ADDR",
)


class NodeAgent:
    def __init__(self, fault: str | None = None) -> None:
        self.fault = fault
        self.listener: netprobe.Listener | None = None
        self.base = Path(tempfile.mkdtemp(prefix="tpdoctor-cluster-verify-"))
        self.ranks: dict[str, dict[str, Any]] = {}

    # --- what this node looks like -------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        if self.fault == "hang":  # tests: a node whose tpdoctor never answers
            while True:
                time.sleep(1)
        import ray

        ip = str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]
        ifaces = netprobe.interfaces()
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_KEYS)}
        if self.listener is None:
            self.listener = netprobe.Listener(ip)
        nccl_ifs, nccl_why = netprobe.nccl_choice(dict(os.environ), ifaces)
        gloo_ifs, gloo_why = netprobe.gloo_choice(dict(os.environ), ifaces)
        try:
            ib = sorted(os.listdir("/sys/class/infiniband"))
        except OSError:
            ib = []
        return {
            "ip": ip,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "interfaces": ifaces,
            "ray_iface": (netprobe.iface_of(ip, ifaces) or {}).get("name"),
            "env": env,
            "nccl": {"ifaces": nccl_ifs, "why": nccl_why},
            "gloo": {"ifaces": gloo_ifs, "why": gloo_why},
            "ib_devices": ib,
            "dev_infiniband": os.path.isdir("/dev/infiniband"),
            "ports": list(self.listener.ports),
        }

    def free_port(self) -> int:
        """A free TCP port on this node's Ray address: the rendezvous port (vLLM's get_open_port)."""
        import ray

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((str(ray.util.get_node_ip_address()), 0))  # type: ignore[no-untyped-call]
            return int(s.getsockname()[1])

    # --- byte-level probes towards a peer ----------------------------------------------------------

    def probe(
        self, peer_ip: str, ports: list[int], open_port: int | None, mtu: int, nbytes: int, timeout: float
    ) -> dict[str, Any]:
        """Connect to the peer's ephemeral listener (and to a port Ray keeps open there), send a
        small and a full-MTU datagram with DF set, and stream `nbytes` over TCP."""
        tcp_port, udp_port = ports
        out: dict[str, Any] = {"connect": netprobe.tcp_connect(peer_ip, tcp_port, min(timeout, 5.0))}
        if open_port:
            out["connect_ray_port"] = netprobe.tcp_connect(peer_ip, open_port, min(timeout, 5.0))
        out["udp_small"] = netprobe.udp_df(peer_ip, udp_port, 512, min(timeout, 3.0))
        big = mtu - netprobe.UDP_OVERHEAD
        out["udp_mtu_bytes"] = big
        out["udp_mtu"] = (
            netprobe.udp_df(peer_ip, udp_port, big, min(timeout, 3.0)) if big > 512 else "skipped"
        )
        out["stream"] = {"status": "skipped"}
        if out["connect"] == "ok":
            # a first short stream warms the path (slow start, the listener's thread); then the
            # best of two: one slow sample on a busy 2-core machine must not make a link "slow"
            warm = netprobe.tcp_stream(peer_ip, tcp_port, min(nbytes, 1 << 20), timeout)
            out["stream"] = warm
            if warm["status"] == "ok":
                runs = [netprobe.tcp_stream(peer_ip, tcp_port, nbytes, timeout) for _ in range(2)]
                good = [r for r in runs if r["status"] == "ok"]
                out["stream"] = max(good, key=lambda r: r["gbps"]) if good else runs[0]
        return out

    def reach(self, peer_ip: str, ray_port: int | None, mtu: int, timeout: float) -> dict[str, Any]:
        """A peer whose agent never answered: is its Ray port there, do small and full-MTU pings cross?"""
        return netprobe.reach(peer_ip, ray_port, mtu, timeout)

    # --- one rank of verify's workloads ------------------------------------------------------------

    def start_rank(self, tag: str, config: dict[str, Any], rank: int, env: dict[str, str]) -> int:
        run_dir = self.base / tag
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg = {**config, "run_dir": str(run_dir), "parent_pid": os.getpid()}
        cfg_path = run_dir / f"config{rank}.json"
        cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
        log_path = run_dir / f"rank{rank}.log"
        full_env = {**os.environ, **env, "RANK": str(rank), "PYTHONUNBUFFERED": "1"}
        if self.fault == "hang-rank":  # tests: a rank of this node stops before its first collective
            full_env["TPDOCTOR_VERIFY_FAULT"] = f"hang:{rank}"
        with log_path.open("w", encoding="utf-8") as logf:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tpdoctor.verify.worker",
                    "--config",
                    str(cfg_path),
                    "--rank",
                    str(rank),
                ],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
            )
        self.ranks[tag] = {"proc": proc, "rank": rank, "dir": run_dir, "offset": 0, "partial": ""}
        return proc.pid

    def poll(self, tag: str) -> dict[str, Any]:
        """New events of the rank (JSON lines) and its exit status (None while it runs)."""
        r = self.ranks.get(tag)
        if r is None:
            return {"events": [], "exit": None, "known": False}
        events: list[dict[str, Any]] = []
        path = r["dir"] / f"rank{r['rank']}.events.jsonl"
        try:
            with path.open("r", encoding="utf-8") as f:
                f.seek(r["offset"])
                chunk = f.read()
                r["offset"] = f.tell()
        except FileNotFoundError:
            chunk = ""
        lines = (r["partial"] + chunk).split("\n")
        r["partial"] = lines.pop()
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return {"events": events, "exit": r["proc"].poll(), "known": True}

    def log(self, tag: str, limit: int = 400) -> list[str]:
        r = self.ranks.get(tag)
        if r is None:
            return []
        try:
            text = (r["dir"] / f"rank{r['rank']}.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        lines = text.splitlines()
        keep = [ln for ln in lines if " NCCL INFO " in ln][:limit]
        rest = [ln for ln in lines if " NCCL INFO " not in ln][-60:]
        return [ln[:400] for ln in keep + rest]

    def stop(self, tag: str | None = None) -> list[int]:
        """End the rank(s) and everything they started (their own process group); return the
        pids whose group is still alive afterwards."""
        tags = [tag] if tag else list(self.ranks)
        for t in tags:
            p = self.ranks[t]["proc"] if t in self.ranks else None
            if p is not None and p.poll() is None:
                kill_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
            self.ranks[t]["proc"].poll() is None for t in tags if t in self.ranks
        ):
            time.sleep(0.05)
        left = []
        for t in tags:
            if t not in self.ranks:
                continue
            p = self.ranks[t]["proc"]
            kill_group(p.pid, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if group_alive(p.pid):
                left.append(p.pid)
        return left

    def close(self) -> list[int]:
        left = self.stop()
        if self.listener is not None:
            self.listener.close()
        shutil.rmtree(self.base, ignore_errors=True)
        return left
