"""`tpdoctor cluster verify` on namespace "nodes" (tests/netns_cluster.py).

  python3 bench/cluster_verify_netns.py             the healthy 2-node wall time, 3 runs
  python3 bench/cluster_verify_netns.py --table F   the fault table of docs/cluster.md from the
                                                    record the real tests write (F, JSON lines)

The first needs a private network+mount+PID namespace, root, ip; bench/cluster_verify.sh runs
both, and the real tests in between."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from netns_cluster import NetnsCluster

# test name -> (the fault injected, the diagnosis required)
CASES = {
    "test_healthy_cluster_gives_no_finding": ("none: 3 healthy nodes", "no finding"),
    "test_slow_link_named": ("tc tbf 50 Mbit/s on both ends of node 1's veth", "network.slow-link, node 1"),
    "test_firewalled_ephemeral_ports_named": (
        "iptables DROP of new TCP to 32768-60999 on node 1",
        "network.port-blocked, node 1",
    ),
    "test_mtu_black_hole_named": (
        "bridge port of node 1 at MTU 1500, every interface 9000",
        "network.mtu-mismatch, node 1",
    ),
    "test_hung_agent_ends_within_timeout": (
        "node 2's agent hangs (--timeout 15)",
        "cluster.node-unreachable, node 2",
    ),
    "test_hung_rank_is_ended_and_named": (
        "node 1's rank hangs before its first collective",
        "verify.rank-hung, node 1",
    ),
    "test_wrong_gloo_interface_on_one_node": (
        "GLOO_SOCKET_IFNAME=lo on node 1 only",
        "network.wrong-interface, node 1",
    ),
    "test_missing_gloo_interface_on_one_node": (
        "GLOO_SOCKET_IFNAME=eth9 (absent) on node 2 only",
        "network.wrong-interface, node 2",
    ),
}


def table(path: str) -> None:
    print("| fault | required | tpdoctor said | agreed | exit | wall |\n|---|---|---|---|---|---|")
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        name = row["test"].split("::")[-1]
        fault, want = CASES.get(name, (name, "?"))
        said = ", ".join(f"`{c}` node {n}" for c, n in row["findings"]) or "no finding"
        kinds = {c for c, _ in row["findings"]}
        cause, _, node = want.partition(", node ")
        agreed = not kinds if want == "no finding" else cause in kinds and [cause, node] in row["findings"]
        print(
            f"| {fault} | {want} | {said} | {'yes' if agreed else 'NO'} | {row['exit']} | {row['wall_s']:.0f} s |"
        )


def healthy_two_nodes(runs: int = 3) -> None:
    c = NetnsCluster(2)
    try:
        t0 = time.monotonic()
        c.build()
        c.start()
        print(f"2-node cluster up in {time.monotonic() - t0:.1f} s", flush=True)
        for i in range(runs):
            t0 = time.monotonic()
            p = c.tpdoctor("cluster", "verify", "--address", c.address, "--backend", "gloo", "-f", "json")
            rep = json.loads(p.stdout)
            print(
                f"healthy 2-node run {i + 1}: {time.monotonic() - t0:.1f} s wall (tpdoctor's own "
                f"{rep['facts']['wall_s']} s), exit {p.returncode}, {len(rep['findings'])} finding(s)",
                flush=True,
            )
    finally:
        c.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        table(sys.argv[2])
    else:
        healthy_two_nodes()
