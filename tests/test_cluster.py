"""`tpdoctor cluster check`: cross-node rules on built facts, and the whole command on a real
two-node Ray cluster started on this machine (marked `cluster`; skipped without ray)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from fakeroot import nvidia_nodes
from tpdoctor.cluster.report import build_report
from tpdoctor.model import CheckOptions, ClusterNode, Facts
from tpdoctor.model.facts import NetInterface, NetworkFacts
from tpdoctor.rules.cluster import compare_nodes

SRC = Path(__file__).resolve().parents[1] / "src"
HAS_RAY = importlib.util.find_spec("ray") is not None


def _node(i: int, ip: str, facts: Facts | None) -> ClusterNode:
    return ClusterNode(index=i, node_id=f"{i:02d}" * 28, ip=ip, facts=facts)


def _net(*addrs: str) -> NetworkFacts:
    return NetworkFacts(interfaces=[NetInterface(name="eth0", addresses=list(addrs))])


# --- the cross-node rules, on facts built here ------------------------------------------------


def test_node_missing_a_gpu_and_env_differences() -> None:
    a = Facts(dev=nvidia_nodes(2), env={"NCCL_SOCKET_IFNAME": "eth0", "NCCL_CUMEM_ENABLE": "1"})
    b = Facts(dev=nvidia_nodes(1), env={"NCCL_CUMEM_ENABLE": "0"})
    nodes = [_node(0, "10.0.0.1", a), _node(1, "10.0.0.2", b)]
    report = build_report(nodes, CheckOptions(backend="cuda"), "test", [])
    causes = [f.cause for f in report.findings]
    assert "nccl.cumem-mismatch" in causes
    differ = next(f for f in report.findings if f.cause == "cluster.nodes-differ")
    assert "GPUs" in differ.message and "NCCL_SOCKET_IFNAME" in differ.message
    # without --tp the widest node sets TP: the node with one GPU is missing one
    tp = [f for f in report.findings if f.cause == "vllm.tp-exceeds-visible-gpus"]
    assert len(tp) == 1 and tp[0].message.startswith("node 1 (10.0.0.2")
    assert tp[0].evidence[0].source == "ray node"
    assert [r["tp"] for r in report.facts["nodes"]] == [2, 2]
    assert int(report.exit_code) == 3


def test_identical_nodes_give_no_cross_node_finding() -> None:
    a = Facts(dev=nvidia_nodes(2), env={"NCCL_CUMEM_ENABLE": "0"}, network=_net("10.0.0.1"))
    b = Facts(dev=nvidia_nodes(2), env={"NCCL_CUMEM_ENABLE": "0"}, network=_net("10.0.0.2"))
    assert compare_nodes([_node(0, "10.0.0.1", a), _node(1, "10.0.0.2", b)], CheckOptions()) == []


def test_advertised_ip_not_on_the_nodes_interfaces() -> None:
    a = Facts(network=_net("10.0.0.1"))
    b = Facts(network=_net("172.17.0.2"))
    found = compare_nodes([_node(0, "10.0.0.1", a), _node(1, "10.0.0.9", b)], CheckOptions())
    assert [f.cause for f in found] == ["network.wrong-interface"]
    assert found[0].message.startswith("node 1 (10.0.0.9") and found[0].severity.value == "blocker"


def test_advertised_bridge_ip_while_peers_are_elsewhere() -> None:
    a = Facts(network=_net("10.0.0.1"))
    b = Facts(network=_net("172.17.0.2"))
    found = compare_nodes([_node(0, "10.0.0.1", a), _node(1, "172.17.0.2", b)], CheckOptions())
    assert [(f.cause, f.confidence) for f in found] == [("network.wrong-interface", "suggests")]
    assert "bridge" in found[0].message and "node 1" in found[0].message


def test_unreachable_node_is_a_blocker_in_the_report() -> None:
    dead = _node(1, "10.0.0.2", None)
    dead.error_kind, dead.error = "timeout", "no answer within --timeout 5 s"
    report = build_report([_node(0, "10.0.0.1", Facts()), dead], CheckOptions(), "test", [])
    assert [f.cause for f in report.findings if f.severity.value == "blocker"] == ["cluster.node-unreachable"]
    assert report.facts["nodes"][1]["status"] == "timeout"


def test_without_ray_one_line_and_exit_2(tmp_path: Path) -> None:
    # a `ray` package that fails to import stands for "not installed"
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray/__init__.py").write_text("raise ImportError('no ray here')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{SRC}")
    proc = subprocess.run(
        [sys.executable, "-m", "tpdoctor", "cluster", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "pip install 'tpdoctor[cluster]'" in proc.stderr
    assert proc.stdout == ""


# --- a real Ray cluster: two raylets on loopback ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray(args: list[str], env: dict[str, str], check: bool = True) -> None:
    exe = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray") or "ray"
    subprocess.run([exe, *args], env=env, check=check, capture_output=True, timeout=90)


# Ray advertises the host's first non-loopback address whatever --node-ip-address says, and the
# tests must send traffic to loopback only: the real-cluster tests therefore run in a private
# network namespace holding nothing but `lo` (test_real_ray_cluster_in_a_private_netns below).
IN_PRIVATE_NETNS = os.environ.get("TPDOCTOR_PRIVATE_NETNS") == "1"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not HAS_RAY:
        pytest.skip("ray is not importable: pip install 'tpdoctor[cluster]' (or ray==2.60.0)")
    if not IN_PRIVATE_NETNS:
        pytest.skip("runs inside test_real_ray_cluster_in_a_private_netns (loopback-only namespace)")
    port = _free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(SRC))
    # the workers inherit the raylet's environment: make the nodes differ on purpose
    head_env = dict(env, NCCL_CUMEM_ENABLE="1", NCCL_SOCKET_IFNAME="lo")
    worker_env = dict(env, NCCL_CUMEM_ENABLE="0")
    base = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    try:
        _ray(["start", "--head", f"--port={port}", "--include-dashboard=false", *base], head_env)
        _ray(["start", f"--address=127.0.0.1:{port}", *base], worker_env)
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # both raylets registered
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import ray;ray.init(address='{address}');print(sum(n['Alive'] for n in ray.nodes()))",
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            ).stdout.strip()
            if out.endswith("2"):
                break
            time.sleep(0.5)
        yield address
    finally:
        _ray(["stop", "--force"], env, check=False)


def test_real_ray_cluster_in_a_private_netns() -> None:
    """Run the `cluster`-marked tests against two real raylets in a network namespace with only lo."""
    if not HAS_RAY:
        pytest.skip("ray is not importable: pip install 'tpdoctor[cluster]' (or ray==2.60.0)")
    if IN_PRIVATE_NETNS:
        pytest.skip("already inside the private namespace")
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip to make a loopback-only network namespace")
    inner = (
        f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider -m cluster {__file__}"
    )
    env = dict(os.environ, TPDOCTOR_PRIVATE_NETNS="1")
    r = subprocess.run(
        # its own PID namespace too: `ray stop --force` there sees (and kills) only these raylets
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--", "sh", "-c", inner],
        cwd=SRC.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = (r.stdout + r.stderr)[-4000:]
    assert r.returncode == 0, tail
    assert re.search(r"\b(\d+) passed", r.stdout) and "skipped" not in r.stdout.splitlines()[-1], tail
    assert int(re.search(r"\b(\d+) passed", r.stdout).group(1)) >= 6, tail  # type: ignore[union-attr]


def _json(proc: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(proc.stdout)


@pytest.mark.cluster
def test_every_node_checked_and_compared(ray_cluster: str, tmp_path: Path) -> None:
    proc = run_cli(
        "cluster",
        "check",
        "--address",
        ray_cluster,
        "--timeout",
        "60",
        "-f",
        "json",
        "--snapshots",
        str(tmp_path / "snaps"),
    )
    report = _json(proc)
    nodes = report["facts"]["nodes"]
    assert len(nodes) == 2 and len({n["node_id"] for n in nodes}) == 2
    assert [n["status"] for n in nodes] == ["checked", "checked"]
    causes = [f["cause"] for f in report["findings"]]
    assert causes.count("device.no-gpu") == 2  # no GPU on this machine: one notice per node
    assert "nccl.cumem-mismatch" in causes  # 1 on the head, 0 on the worker
    differ = next(f for f in report["findings"] if f["cause"] == "cluster.nodes-differ")
    assert "NCCL_SOCKET_IFNAME" in differ["message"]
    assert proc.returncode == 3  # the cumem mismatch is a blocker
    # one snapshot per node, readable by check --from-snapshot
    snaps = sorted((tmp_path / "snaps").glob("node-*.json"))
    assert len(snaps) == 2
    envs = set()
    for snap in snaps:
        one = run_cli("check", "--from-snapshot", str(snap), "-f", "json")
        assert one.returncode == 0, one.stderr
        assert [f["cause"] for f in _json(one)["findings"]] == ["device.no-gpu"]
        envs.add(json.loads(snap.read_text())["env"].get("NCCL_CUMEM_ENABLE"))
    assert envs == {"0", "1"}


@pytest.mark.cluster
def test_tp2_is_a_blocker_on_every_node(ray_cluster: str) -> None:
    proc = run_cli("cluster", "check", "--address", ray_cluster, "--tp", "2", "-f", "json")
    report = _json(proc)
    assert proc.returncode == 3
    assert [n["blocker"] for n in report["facts"]["nodes"]] == [1, 1]
    tp = [f for f in report["findings"] if f["cause"] == "vllm.tp-exceeds-visible-gpus"]
    assert sorted(f["message"].split(":")[0][:6] for f in tp) == ["node 0", "node 1"]


@pytest.mark.cluster
@pytest.mark.parametrize("fault", ["hang", "crash", "import"])
def test_failing_node_is_unreachable_within_timeout(ray_cluster: str, fault: str) -> None:
    env = dict(os.environ, TPDOCTOR_CLUSTER_FAULT=f"1:{fault}")
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tpdoctor",
            "cluster",
            "check",
            "--address",
            ray_cluster,
            "--timeout",
            # the healthy node must answer within it: a fresh Ray worker importing tpdoctor took past 8 s there when
            # the suite ran over both CPUs (pytest -n auto) beside other work (34th session's local CI)
            "20",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(env, PYTHONPATH=str(SRC)),
    )
    assert time.monotonic() - start < 50  # the timeout bounds the wait on the failing node
    report = _json(proc)
    status = [n["status"] for n in report["facts"]["nodes"]]
    assert status == ["checked", {"hang": "timeout", "crash": "died", "import": "import"}[fault]]
    dead = [f for f in report["findings"] if f["cause"] == "cluster.node-unreachable"]
    assert len(dead) == 1 and dead[0]["message"].startswith("node 1 ")
    assert proc.returncode == 3


@pytest.mark.cluster
def test_text_table_and_bad_address(ray_cluster: str) -> None:
    proc = run_cli("cluster", "check", "--address", ray_cluster)
    assert "Ray nodes" in proc.stdout and "cluster.nodes-differ" in proc.stdout
    assert proc.returncode == 3
    port = _free_port()
    bad = run_cli("cluster", "check", "--address", f"127.0.0.1:{port}")
    assert bad.returncode == 2 and bad.stderr.startswith("tpdoctor: error: cannot connect")
