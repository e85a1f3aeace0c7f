"""A Ray cluster of N "nodes" on this machine: one network namespace per node, joined by veth
pairs to a bridge in a namespace of its own, each node running a raylet.

Addresses come only from the documentation range 198.51.100.0/24; no namespace has a link to
the host's interfaces or a default route, so traffic stays between the nodes and loopback. The
caller runs inside a private network, mount and PID namespace (`unshare --net --mount --pid
--fork --mount-proc`, see test_cluster_verify.py and bench/cluster_verify.sh): whatever is
started here dies with that namespace, and `ray stop` there sees only these raylets.

Faults are real: tc tbf on a link (sch_netem is not in this kernel, see `has_qdisc`), an
iptables DROP of new TCP connections to the ephemeral range on one node, a smaller MTU on one
bridge port, a node restarted with another GLOO_SOCKET_IFNAME.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

SUBNET = "198.51.100"
BRIDGE_NS = "tpdv-br"
GCS_PORT = 6379
SRC = Path(__file__).resolve().parents[1] / "src"
# Every Ray port below the ephemeral range (32768-60999), so a firewall on it leaves Ray alone.
RAY_PORTS = [
    "--node-manager-port=20001",
    "--object-manager-port=20002",
    "--min-worker-port=21000",
    "--max-worker-port=21999",
    "--dashboard-agent-grpc-port=20003",
    "--dashboard-agent-listen-port=20004",
    "--metrics-export-port=20005",
    "--runtime-env-agent-port=20006",
]


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, timeout=timeout)


def has_qdisc(kind: str) -> bool:
    """Can this kernel make a `kind` qdisc (netem, tbf)? Tried on a dummy veth in the bridge namespace."""
    r = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            BRIDGE_NS,
            "sh",
            "-c",
            f"ip link add tpdq0 type veth peer name tpdq1 && tc qdisc add dev tpdq0 root {kind} "
            + ("delay 1ms" if kind == "netem" else "rate 1mbit burst 32kbit latency 50ms")
            + "; r=$?; ip link del tpdq0; exit $r",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return r.returncode == 0


def _mounts_private() -> bool:
    """True in a mount namespace made by `unshare --mount` (propagation private: no mount of
    /proc/self/mountinfo is tagged shared), so a mount here cannot reach the host."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    # `ip netns add` makes /run/netns (ours, a tmpfs) shared itself: those lines do not count
    return bool(lines) and not any(
        " shared:" in ln and not ln.split()[4].startswith("/run/netns") for ln in lines
    )


class NetnsCluster:
    def __init__(self, n: int, *, mtu: int = 9000) -> None:
        self.n = n
        self.mtu = mtu
        self.env = dict(
            os.environ,
            RAY_USAGE_STATS_ENABLED="0",
            # this checkout first; keep what the caller added (a carried Ray on the GPU host)
            PYTHONPATH=os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p),
            # a loaded 2-core machine can starve a raylet for seconds: do not declare it dead
            # after 15 s (the defaults); a node a test cuts off is restarted explicitly
            RAY_health_check_timeout_ms="10000",
            RAY_health_check_failure_threshold="8",
        )
        self.node_env: dict[int, dict[str, str]] = {i: {"GLOO_SOCKET_IFNAME": "eth0"} for i in range(n)}
        self.node_args: dict[int, list[str]] = {i: ["--num-cpus=1"] for i in range(n)}  # e.g. --num-gpus=1

    def ns(self, i: int) -> str:
        return f"tpdv-n{i}"

    def ip(self, i: int) -> str:
        return f"{SUBNET}.{10 + i}"

    @property
    def address(self) -> str:
        return f"{self.ip(0)}:{GCS_PORT}"

    # --- topology ------------------------------------------------------------------------------

    def build(self) -> None:
        # Namespace names are files under /run/netns, shared with the host and with any other
        # run at the same time: give this mount namespace its own /run/netns first.
        if not _mounts_private():
            raise RuntimeError(
                "run inside `unshare --net --mount --pid --fork --mount-proc` (private mounts)"
            )
        os.makedirs("/run/netns", exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "size=1m", "tpdv-netns", "/run/netns")
        # Ray keeps per-host state under /tmp/ray (ports_by_node.json, ray_current_cluster, session
        # links) keyed by node address: another run with the same 198.51.100.x must not see it.
        os.makedirs("/tmp/ray", exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "size=4g", "tpdv-ray", "/tmp/ray")
        sh("ip", "link", "set", "lo", "up")
        sh("ip", "netns", "add", BRIDGE_NS)
        b = ["ip", "-n", BRIDGE_NS]
        sh(*b, "link", "set", "lo", "up")
        sh(*b, "link", "add", "br0", "mtu", str(self.mtu), "type", "bridge")
        sh(*b, "link", "set", "br0", "up")
        for i in range(self.n):
            ns = self.ns(i)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh(
                "ip",
                "link",
                "add",
                "eth0",
                "netns",
                ns,
                "mtu",
                str(self.mtu),
                "type",
                "veth",
                "peer",
                "name",
                f"p{i}",
                "netns",
                BRIDGE_NS,
                "mtu",
                str(self.mtu),
            )
            sh(*b, "link", "set", f"p{i}", "master", "br0")
            sh(*b, "link", "set", f"p{i}", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def start(self) -> None:
        self._ray_start(0, ["--head", f"--port={GCS_PORT}", "--include-dashboard=false"])
        for i in range(1, self.n):
            self._ray_start(i, [f"--address={self.address}"])
        self.wait_alive(self.n)

    def _ray_start(self, i: int, extra: list[str]) -> None:
        exe = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
        env = {**self.env, **self.node_env[i]}
        r = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.ns(i),
                exe,
                "start",
                f"--node-ip-address={self.ip(i)}",
                *self.node_args[i],
                "--disable-usage-stats",
                *RAY_PORTS,
                *extra,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0:
            raise RuntimeError(f"ray start on node {i} failed: {(r.stdout + r.stderr)[-2000:]}")

    def alive(self) -> list[str]:
        code = "import ray;ray.init(address='%s');print([n['NodeManagerAddress'] for n in ray.nodes() if n['Alive']])"
        r = self.python(0, code % self.address, timeout=60)
        return eval(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else []

    def wait_alive(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.alive()) == count:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster did not reach {count} alive nodes: {self.alive()}")

    def python(self, i: int, code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(i), sys.executable, "-c", code],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def tpdoctor(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """`tpdoctor ARGS` run on the head node (the driver, as `vllm serve` runs there)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(0), sys.executable, "-m", "tpdoctor", *args],
            env={**self.env, **self.node_env[0], **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def serves(self, i: int, nbytes: int = 256 << 10, timeout: float = 60) -> bool:
        """Does node i run a Ray task whose argument and result are `nbytes` (object transfers
        in both directions, frames of the full MTU) within `timeout`?"""
        code = (
            "import ray\n"
            "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as A\n"
            f"ray.init(address='{self.address}', logging_level='ERROR')\n"
            "node = next(n['NodeID'] for n in ray.nodes() if n['Alive'] and "
            f"n['NodeManagerAddress'] == '{self.ip(i)}')\n"
            "echo = ray.remote(lambda b: b + b'x').options(num_cpus=0, max_retries=0, "
            "scheduling_strategy=A(node, soft=False))\n"
            f"print(len(ray.get(echo.remote(b'y' * {nbytes}), timeout={timeout})))\n"
        )
        try:
            r = self.python(0, code, timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0 and r.stdout.strip().splitlines()[-1:] == [str(nbytes + 1)]

    def restart_node(self, i: int, env: dict[str, str]) -> None:
        """Stop node i's raylet (SIGTERM to every process of its namespace, as `ray stop` does)
        and start it again with `env`: a node whose environment differs."""
        pids = [int(p) for p in sh("ip", "netns", "pids", self.ns(i)).stdout.split()]
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sh("ip", "netns", "pids", self.ns(i)).stdout.split():
            time.sleep(0.2)
        for p in sh("ip", "netns", "pids", self.ns(i)).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(p), signal.SIGKILL)
        self.wait_alive(self.n - 1, timeout=150)  # a raylet cut off cannot say goodbye: the GCS times it out
        self.node_env[i] = env
        self._ray_start(i, [f"--address={self.address}"])
        self.wait_alive(self.n)

    def kill_node(self, i: int) -> None:
        """SIGKILL every process of node i's namespace (its raylet, agents, workers)."""
        for p in sh("ip", "netns", "pids", self.ns(i), check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(p), signal.SIGKILL)

    def revive(self) -> bool:
        """Start the whole cluster afresh when its head no longer answers (a loaded 2-core
        machine has wedged the GCS after minutes of faults); True if it did."""
        try:
            if self.ip(0) in self.alive():
                return False
        except subprocess.TimeoutExpired:
            pass
        self.stop()
        self.build()
        self.start()
        return True

    def heal(self) -> list[int]:
        """Restart the raylet of every node the GCS no longer lists as alive (a fault that cut a
        node off long enough gets it marked dead, and a dead raylet exits); return their indexes."""
        alive = set(self.alive())
        dead = [i for i in range(self.n) if self.ip(i) not in alive]
        for i in dead:
            if i == 0:
                raise RuntimeError("the head node died")
            self.kill_node(i)
            self._ray_start(i, [f"--address={self.address}"])
        if dead:
            self.wait_alive(self.n)
        return dead

    def stop(self) -> None:
        """Kill every node's processes (faster than `ray stop --force`, and only ours) and
        remove the namespaces."""
        for i in reversed(range(self.n)):
            self.kill_node(i)
        for i in range(self.n):
            sh("ip", "netns", "del", self.ns(i), check=False)
        sh("ip", "netns", "del", BRIDGE_NS, check=False)

    # --- faults --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def slow_link(self, i: int, rate: str = "50mbit") -> Iterator[None]:
        """tc tbf on both ends of node i's veth: its egress and the bridge port towards it."""
        # the bucket must hold a whole 9000-byte frame, or tbf drops every jumbo frame
        qd = ["root", "tbf", "rate", rate, "burst", "256kbit", "latency", "400ms"]
        sh("ip", "netns", "exec", self.ns(i), "tc", "qdisc", "add", "dev", "eth0", *qd)
        sh("ip", "netns", "exec", BRIDGE_NS, "tc", "qdisc", "add", "dev", f"p{i}", *qd)
        try:
            yield
        finally:
            sh("ip", "netns", "exec", self.ns(i), "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
            sh("ip", "netns", "exec", BRIDGE_NS, "tc", "qdisc", "del", "dev", f"p{i}", "root", check=False)

    @contextlib.contextmanager
    def firewall(self, i: int) -> Iterator[None]:
        """Node i drops new inbound TCP connections to the ephemeral port range (Ray's ports stay open)."""
        rule = ["INPUT", "-p", "tcp", "--syn", "--dport", "32768:60999", "-j", "DROP"]
        sh("ip", "netns", "exec", self.ns(i), "iptables", "-A", *rule)
        try:
            yield
        finally:
            sh("ip", "netns", "exec", self.ns(i), "iptables", "-D", *rule, check=False)

    @contextlib.contextmanager
    def mtu_hole(self, i: int, mtu: int = 1500) -> Iterator[None]:
        """The bridge port towards node i carries `mtu` while both ends' interfaces say 9000:
        the bridge drops bigger frames without a word (no ICMP at layer 2)."""
        sh("ip", "-n", BRIDGE_NS, "link", "set", f"p{i}", "mtu", str(mtu))
        try:
            yield
        finally:
            sh("ip", "-n", BRIDGE_NS, "link", "set", f"p{i}", "mtu", str(self.mtu))
