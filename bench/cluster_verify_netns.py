"""`tpdoctor cluster verify` on namespace "nodes" (tests/netns_cluster.py): the healthy 2-node
wall time and the 3-node fault table of docs/cluster.md. Run it with bench/cluster_verify.sh
(it needs a private network+mount+PID namespace, root, ip, tc, iptables)."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from netns_cluster import NetnsCluster, has_qdisc


def verify(
    c: NetnsCluster, timeout: str, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], int, float]:
    c.heal()  # a node an earlier fault cut off long enough is marked dead by the GCS: restart it
    t0 = time.monotonic()
    p = c.tpdoctor(
        "cluster",
        "verify",
        "--address",
        c.address,
        "--backend",
        "gloo",
        "--quick",
        "--timeout",
        timeout,
        "-f",
        "json",
        env=env,
    )
    return json.loads(p.stdout), p.returncode, time.monotonic() - t0


def named(report: dict[str, Any]) -> list[str]:
    out = []
    for f in report["findings"]:
        m = re.match(r"node (\d+) ", f["message"])
        out.append(f"{f['cause']} (node {m.group(1) if m else '?'})")
    return sorted(out) or ["no finding"]


def main() -> None:
    rows: list[tuple[str, str, list[str], bool, float, int]] = []
    c2 = NetnsCluster(2)
    try:
        t0 = time.monotonic()
        c2.build()
        c2.start()
        print(f"2-node cluster up in {time.monotonic() - t0:.1f} s", flush=True)
        for i in range(3):
            rep, rc, dt = verify(c2, "60")
            print(
                f"healthy 2-node run {i + 1}: {dt:.1f} s wall (tpdoctor's own: {rep['facts']['wall_s']} s), "
                f"exit {rc}, findings {named(rep)}",
                flush=True,
            )
    finally:
        c2.stop()
    c = NetnsCluster(3)
    try:
        c.build()
        c.start()
        print(f"sch_netem available: {has_qdisc('netem')}, tbf: {has_qdisc('tbf')}", flush=True)
        cases: list[tuple[str, str, Any, dict[str, str] | None, str]] = [
            ("none (healthy)", "no finding", contextlib.nullcontext(), None, "20"),
            (
                "tc tbf 50mbit on node 1's veth (both ends)",
                "network.slow-link (node 1)",
                c.slow_link(1),
                None,
                "20",
            ),
            (
                "iptables DROP of new TCP to 32768-60999 on node 1",
                "network.port-blocked (node 1)",
                c.firewall(1),
                None,
                "20",
            ),
            (
                "bridge port of node 2 at MTU 1500, interfaces 9000",
                "network.mtu-mismatch (node 2)",
                c.mtu_hole(2),
                None,
                "20",
            ),
            (
                "node 2's agent hangs (TPDOCTOR_CLUSTER_FAULT=2:hang)",
                "cluster.node-unreachable (node 2)",
                contextlib.nullcontext(),
                {"TPDOCTOR_CLUSTER_FAULT": "2:hang"},
                "15",
            ),
            (
                "node 1's rank hangs before its first collective",
                "verify.rank-hung (node 1)",
                contextlib.nullcontext(),
                {"TPDOCTOR_CLUSTER_FAULT": "1:hang-rank"},
                "20",
            ),
        ]
        for fault, expected, ctx, env, timeout in cases:
            with ctx:
                rep, rc, dt = verify(c, timeout, env)
            if "MTU" in fault:  # Ray's own messages to node 2 stalled too: start it afresh
                c.restart_node(2, c.node_env[2])
            got = named(rep)
            rows.append((fault, expected, got, expected in got, dt, rc))
            print(f"{fault}: {got} in {dt:.1f} s", flush=True)
        for node, value, expected in (
            (1, "lo", "network.wrong-interface (node 1)"),
            (2, "eth9", "network.wrong-interface (node 2)"),
        ):
            for i in range(c.n):
                if i != node and c.node_env[i].get("GLOO_SOCKET_IFNAME") != "eth0":
                    c.restart_node(i, {"GLOO_SOCKET_IFNAME": "eth0"})
            c.restart_node(node, {"GLOO_SOCKET_IFNAME": value})
            rep, rc, dt = verify(c, "20")
            got = named(rep)
            rows.append(
                (f"GLOO_SOCKET_IFNAME={value} on node {node} only", expected, got, expected in got, dt, rc)
            )
            print(f"{value}: {got} in {dt:.1f} s", flush=True)
    finally:
        c.stop()
    print("\n| fault | expected | tpdoctor said | agreed | exit | wall |\n|---|---|---|---|---|---|")
    for fault, expected, got, ok, dt, rc in rows:
        print(
            f"| {fault} | `{expected}` | {', '.join(f'`{g}`' for g in got)} | {'yes' if ok else 'NO'} | {rc} | {dt:.0f} s |"
        )


if __name__ == "__main__":
    main()
