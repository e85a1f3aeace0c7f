"""Ray side of `tpdoctor cluster verify`: place one agent per GPU (per node for gloo), describe
the nodes, run the whole group, probe every link to the head, and test pairs (then bisect)
when the group fails or a link looks wrong. Everything it starts is removed before it returns:
agents killed, the placement group removed, and both checked against the GCS.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tpdoctor.cluster import netprobe
from tpdoctor.cluster.groups import GroupRun, Member, run_group
from tpdoctor.cluster.remote import _connect, _faults, alive_nodes, import_ray
from tpdoctor.errors import InputError, UsageError
from tpdoctor.verify import sizes

T = TypeVar("T")
BACKENDS = ("auto", "nccl", "gloo", "xccl")
# Bundles must ask for something: a hundredth of a CPU lets the agent sit on a busy node.
CPU_BUNDLE = 0.01
# The most the cleanup may take: its own waits add up to about 45 s; beyond that the GCS is not
# answering (a node stuck behind a black hole can take Ray's messages down with it).
CLEANUP_S = 60.0


@dataclass
class ClusterVerifyOptions:
    address: str = "auto"
    backend: str = "auto"
    gpus_per_node: int | None = None
    sizes: str | None = None
    quick: bool = False
    timeout: float = 60.0
    dtype: str = "bf16"
    expect_link_gbps: float | None = None  # the user's expected GB/s per link (virtual interfaces)


@dataclass
class VNode:
    """One node of the run: what Ray says and what its first agent described."""

    index: int
    node_id: str
    ip: str
    ray_port: int | None
    gpus: int
    info: dict[str, Any] | None = None
    error: str | None = None
    reach: dict[str, Any] | None = None  # the head's probe of a node whose agent did not answer
    path: dict[str, Any] | None = None  # netprobe.path_mtu from the driver, before any placement

    @property
    def label(self) -> str:
        return f"node {self.index} ({self.ip}, {self.node_id[:8]})"


@dataclass
class ClusterVerifyRun:
    backend: str
    device_kind: str
    head: int
    nodes: list[VNode]
    full: GroupRun | None = None
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "src->dst": probe
    pairs: dict[int, GroupRun] = field(default_factory=dict)  # node -> pair with the head (head rank 0)
    reversed_pairs: dict[int, GroupRun] = field(default_factory=dict)  # the same, the node rank 0
    bisection: list[GroupRun] = field(default_factory=list)
    wall_s: float = 0.0
    leftover: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    expect_link_gbps: float | None = None
    stopped: str | None = None  # why nothing was placed on the cluster (a path that black-holes)


def run_cluster_verify(opts: ClusterVerifyOptions) -> ClusterVerifyRun:
    if opts.backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, not {opts.backend!r}")
    try:
        size_list = sizes.parse_sizes(opts.sizes) if opts.sizes else None
    except ValueError as exc:
        raise UsageError(f"--sizes: {exc}") from None
    ray = import_ray()
    with contextlib.redirect_stdout(sys.stderr):
        _connect(ray, opts.address, opts.timeout)
        try:
            return _run(ray, opts, size_list)
        except (UsageError, InputError):
            raise
        except Exception as exc:  # Ray itself stopped answering (GCS wedged, connection lost): one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise InputError(
                f"the Ray cluster stopped answering during cluster verify: {type(exc).__name__}: {first}"
            ) from None
        finally:
            ray.shutdown()


def _plan(ray: Any, opts: ClusterVerifyOptions) -> tuple[str, str, list[VNode], int]:
    listed = {n["NodeID"]: n for n in ray.nodes()}
    cnodes, dead = alive_nodes(ray)
    nodes = [
        VNode(
            c.index,
            c.node_id,
            c.ip,
            listed[c.node_id].get("NodeManagerPort"),
            int(listed[c.node_id].get("Resources", {}).get("GPU", 0)),
        )
        for c in cnodes
    ]
    if len(nodes) < 2:
        raise UsageError(f"cluster verify needs at least 2 alive Ray nodes; the cluster has {len(nodes)}")
    backend = opts.backend
    if backend == "auto":
        backend = "nccl" if all(n.gpus for n in nodes) else "gloo"
    kind = {"nccl": "cuda", "xccl": "xpu", "gloo": "cpu"}[backend]
    per_node = 1
    if kind != "cpu":
        fewest = min(n.gpus for n in nodes)
        per_node = opts.gpus_per_node or fewest
        if per_node < 1 or per_node > fewest:
            raise UsageError(
                f"--backend {backend}: {per_node} GPU(s) per node asked for, the node with the fewest has {fewest}"
            )
    del dead
    return backend, kind, nodes, per_node


def _head_index(ray: Any, nodes: list[VNode]) -> int:
    """Rank 0 goes on the driver's node, as vLLM's executor puts it (driver_ip = get_ip(): the
    VLLM_HOST_IP of the driver when set, else the address the driver reaches out with)."""
    want = os.environ.get("VLLM_HOST_IP") or ray.util.get_node_ip_address()
    return next((n.index for n in nodes if n.ip == want), 0)


def _probe_paths(res: ClusterVerifyRun) -> None:
    """Before anything of ours crosses the network, ping every node from the driver with DF-set
    packets of increasing size (netprobe.path_mtu: the node's kernel answers, no agent needed).

    A path that carries small packets but drops full-size ones without an ICMP "fragmentation
    needed" is a black hole for TCP: placing actors on that node pushes Ray's own messages
    (task specs, pickled classes, object transfers) into it, where they stall until TCP gives
    up; on a loaded machine that has wedged the GCS itself. Such a node is named and the run
    stops before any placement group, actor or rank exists. Needs the driver on the head node
    (as vLLM's driver is); elsewhere the agents' own probes still look for the hole."""
    head = res.nodes[res.head]
    iface = netprobe.iface_of(head.ip, netprobe.interfaces())
    if iface is None:
        res.notes.append(
            f"path MTU not probed before placement: this driver does not hold the head's address {head.ip}"
        )
        return
    mtu = int(iface.get("mtu") or 1500)
    others = [n for n in res.nodes if n.index != res.head]
    with _pool(len(others)) as pool:
        for n, got in zip(others, pool.map(lambda n: netprobe.path_mtu(n.ip, mtu), others), strict=True):
            n.path = {**got, "iface": iface["name"]}
    unknown = [n for n in others if (n.path or {}).get("status") == "unknown"]
    if any((n.path or {}).get("small") == "unavailable" for n in unknown):
        res.notes.append("path MTU not probed before placement: this process may open no ping or raw socket")
    elif unknown:
        res.notes.append(
            f"no ping crosses to {', '.join(n.label for n in unknown)} (ICMP filtered?): path MTU not "
            "probed before placement"
        )
    holes = [n for n in others if (n.path or {}).get("status") == "black-hole"]
    if holes:
        res.stopped = (
            f"the path from the head to {', '.join(n.label for n in holes)} drops full-size frames: "
            "nothing was placed on the cluster, so that Ray's own messages would not stall in it"
        )


def _run(ray: Any, opts: ClusterVerifyOptions, size_list: list[int] | None) -> ClusterVerifyRun:
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from tpdoctor.cluster.agent import NodeAgent

    t0 = time.monotonic()
    backend, kind, nodes, per_node = _plan(ray, opts)
    head = _head_index(ray, nodes)
    res = ClusterVerifyRun(
        backend=backend, device_kind=kind, head=head, nodes=nodes, expect_link_gbps=opts.expect_link_gbps
    )
    _probe_paths(res)
    if res.stopped:
        res.wall_s = time.monotonic() - t0
        return res
    bundle = {"CPU": CPU_BUNDLE} if kind == "cpu" else {"GPU": float(per_node)}
    # STRICT_SPREAD: one bundle per node; the label selector pins bundle i to node i.
    pg = placement_group(
        [dict(bundle) for _ in nodes],
        strategy="STRICT_SPREAD",
        name=f"tpdoctor-cluster-verify-{os.getpid()}",
        bundle_label_selector=[{"ray.io/node-id": n.node_id} for n in nodes],
    )
    agents: list[list[Any]] = [[] for _ in nodes]
    faults = _faults()
    remote_agent = ray.remote(NodeAgent)
    try:
        ready, _ = ray.wait([pg.ready()], timeout=opts.timeout)
        if not ready:
            raise UsageError(
                f"Ray could not place one {bundle} bundle on each of the {len(nodes)} nodes within "
                f"{opts.timeout:g} s (resources taken, or a node cannot host it)"
            )
        for n in nodes:
            for _ in range(per_node):
                agents[n.index].append(
                    remote_agent.options(
                        num_cpus=CPU_BUNDLE if kind == "cpu" else 0,
                        num_gpus=1 if kind != "cpu" else 0,
                        max_restarts=0,
                        max_concurrency=8,
                        scheduling_strategy=PlacementGroupSchedulingStrategy(
                            pg, placement_group_bundle_index=n.index
                        ),
                    ).remote(faults.get(n.index))
                )
        _describe(ray, res, agents, opts.timeout)
        if all(n.info is not None for n in nodes):
            _verify(ray, res, agents, opts, size_list)
    finally:
        res.leftover = bounded(
            lambda: _cleanup(ray, agents, pg, remove_placement_group),
            CLEANUP_S,
            {
                "unknown": [
                    f"the cleanup did not finish within {CLEANUP_S:g} s (the GCS stopped answering); Ray "
                    "removes this job's actors and placement group when the driver exits"
                ]
            },
        )
        res.wall_s = time.monotonic() - t0
    return res


def bounded(fn: Callable[[], T], seconds: float, otherwise: T) -> T:
    """fn() if it returns (or raises) within `seconds`, else `otherwise` (fn goes on in a daemon
    thread, which the process does not wait for): a call into a Ray that stopped answering
    cannot hold the run past the watchdog."""
    import threading

    box: list[T] = []
    error: list[BaseException] = []

    def call() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed to the caller below
            error.append(exc)

    thread = threading.Thread(target=call, daemon=True, name="tpdoctor-bounded")
    thread.start()
    thread.join(seconds)
    if error:
        raise error[0]
    return box[0] if box else otherwise


def _describe(ray: Any, res: ClusterVerifyRun, agents: list[list[Any]], timeout: float) -> None:
    refs = {a.describe.remote(): (n, j) for n, row in enumerate(agents) for j, a in enumerate(row)}
    ready, pending = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
    answers: dict[int, dict[int, dict[str, Any]]] = {}
    for ref in ready:
        n, j = refs[ref]
        try:
            answers.setdefault(n, {})[j] = ray.get(ref, timeout=10)
        except Exception as exc:
            res.nodes[n].error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
    for ref in pending:
        n, _ = refs[ref]
        res.nodes[
            n
        ].error = f"its agent did not answer within --timeout {timeout:g} s (hung or not scheduled)"
    for n, row in enumerate(agents):
        got = answers.get(n, {})
        if res.nodes[n].error or len(got) < len(row):
            continue
        info = dict(got[0])
        info["agent_gpus"] = [got[j].get("gpu_ids", []) for j in range(len(row))]
        res.nodes[n].info = info
    head = res.nodes[res.head]
    if head.info is None:
        return
    for node in res.nodes:
        if node.info is None:
            try:
                node.reach = ray.get(
                    agents[head.index][0].reach.remote(node.ip, node.ray_port, _mtu(head), 10.0), timeout=30
                )
            except Exception as exc:
                node.reach = {"error": type(exc).__name__}


def _members(
    res: ClusterVerifyRun, agents: list[list[Any]], node_order: list[int], per_node: int
) -> list[Member]:
    """The ranks on these nodes, vLLM-style: every agent of a node sees all the node's GPUs
    (CUDA_VISIBLE_DEVICES) and uses its own by index (local_rank)."""
    out = []
    for n in node_order:
        info = res.nodes[n].info or {}
        own = [ids[0] if ids else "" for ids in info.get("agent_gpus", [])]
        gpus = sorted((g for g in own if g), key=lambda g: int(g) if g.isdigit() else 0)
        for j in range(per_node):
            if res.device_kind == "cpu" or not own[j : j + 1] or own[j] not in gpus:
                out.append(Member(agents[n][j], n, j, []))
            else:
                out.append(Member(agents[n][j], n, gpus.index(own[j]), gpus))
    return out


def _verify(
    ray: Any,
    res: ClusterVerifyRun,
    agents: list[list[Any]],
    opts: ClusterVerifyOptions,
    size_list: list[int] | None,
) -> None:
    from tpdoctor.verify.busbw import OPS
    from tpdoctor.verify.run import CPU_MLP, GPU_MLP, MLP_BATCHES

    on_cpu = res.device_kind == "cpu"
    full_sizes = size_list or sizes.parse_sizes(
        (sizes.CPU_QUICK if opts.quick else sizes.CPU_SIZES)
        if on_cpu
        else (sizes.GPU_QUICK if opts.quick else sizes.GPU_SIZES)
    )
    pair_sizes = sizes.parse_sizes(sizes.CPU_QUICK if on_cpu else sizes.GPU_QUICK)
    base = {
        "backend": res.backend,
        "device_kind": res.device_kind,
        "dtype": opts.dtype,
        "iters": 3 if on_cpu else 20,
        "warmup": 1 if on_cpu else 5,
        "timeout": opts.timeout,
        # verify's TP MLP shapes: a model-sized GEMM would take seconds per rank on a CPU
        "mlp_hidden": (CPU_MLP if on_cpu else GPU_MLP)[0],
        "mlp_ffn": (CPU_MLP if on_cpu else GPU_MLP)[1],
    }
    env = {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,NET"} if res.backend == "nccl" else {}
    if on_cpu:
        env["OMP_NUM_THREADS"] = "1"
    env = {k: v for k, v in env.items() if k not in os.environ}
    per_node = len(agents[0])
    head = res.head
    others = [n.index for n in res.nodes if n.index != head]
    head_ip = res.nodes[head].ip

    def steps(szs: list[int]) -> list[tuple[str, int]]:
        return [("tp_mlp", b) for b in MLP_BATCHES] + [(op, s) for op in OPS for s in szs]

    order = [head, *others]
    res.full = run_group(
        ray,
        "full",
        _members(res, agents, order, per_node),
        head_ip,
        {**base, "steps": steps(full_sizes)},
        env,
        timeout=opts.timeout,
    )
    _probe_links(ray, res, agents, opts)
    from tpdoctor.cluster.localize import links_suspect, slow_links

    # A link that looks slow is measured again (twice at most), keeping each direction's best:
    # a busy CPU on either end slows one stream, a shaped or failing link slows every one.
    for _ in range(2):
        suspects = set(slow_links(res)[0])
        if not suspects:
            break
        _probe_links(ray, res, agents, opts, only=suspects | _fastest(res))

    if res.full.ok and not links_suspect(res):
        return
    # Pairs and bisection: one rank per node, the quick all-reduce, rank 0's node hosts the
    # rendezvous (as vLLM's driver does).
    pair_timeout = min(opts.timeout, 30.0)
    pair_cfg = {**base, "steps": [("all_reduce", s) for s in pair_sizes]}

    def small_group(name: str, node_order: list[int]) -> GroupRun:
        return run_group(
            ray,
            name,
            _members(res, agents, node_order, 1),
            res.nodes[node_order[0]].ip,
            pair_cfg,
            env,
            timeout=pair_timeout,
        )

    def with_each_node(suffix: str, node_order: Callable[[int], list[int]]) -> dict[int, GroupRun]:
        """A small group per non-head node, all at once (each has its own rendezvous port)."""
        with _pool(len(others)) as pool:
            futures = {k: pool.submit(small_group, f"pair-{k}{suffix}", node_order(k)) for k in others}
            return {k: f.result() for k, f in futures.items()}

    res.pairs = with_each_node("", lambda k: [head, k])
    if res.full.ok or any(not p.ok for p in res.pairs.values()):
        return
    # Every pair passes with the head as rank 0. Connections have a direction (Gloo's higher rank
    # connects to the lower one's listener; the store lives on rank 0): try each node as rank 0.
    res.reversed_pairs = with_each_node("-first", lambda k: [k, head])
    if any(not p.ok for p in res.reversed_pairs.values()) or len(order) < 3:
        return
    # Every pair with the head passes but the whole group fails: grow the group node by node
    # (binary search on the order) to find the node whose arrival breaks it.
    lo, hi = 2, len(order)  # order[:lo] works (a pair), order[:hi] fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        run = small_group(f"bisect-{mid}", order[:mid])
        res.bisection.append(run)
        lo, hi = (mid, hi) if run.ok else (lo, mid)


@contextlib.contextmanager
def _pool(n: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, n)) as pool:
        yield pool


def _fastest(res: ClusterVerifyRun) -> set[int]:
    from tpdoctor.cluster.localize import link_rates

    rates = {k: r for k, r in link_rates(res).items() if r}
    return {max(rates, key=lambda k: rates[k])} if rates else set()


def _best(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Keep the faster stream of two probes of one direction (the rest from the newer)."""
    if not old or "error" in new:
        return old or new
    a, b = old.get("stream", {}), new.get("stream", {})
    if a.get("status") == "ok" and (b.get("status") != "ok" or a.get("gbps", 0) > b.get("gbps", 0)):
        return {**new, "stream": a}
    return new


def _probe_links(
    ray: Any,
    res: ClusterVerifyRun,
    agents: list[list[Any]],
    opts: ClusterVerifyOptions,
    only: set[int] | None = None,
) -> None:
    """Both directions of every node's link to the head (or of the nodes in `only`), one after
    the other (concurrent streams would share the head's link and blur which one is slow)."""
    head = res.nodes[res.head]
    nbytes = (4 if opts.quick else 16) << 20
    for n in res.nodes:
        if n.index == head.index or n.info is None or head.info is None:
            continue
        if only is not None and n.index not in only:
            continue
        for src, dst in ((head, n), (n, head)):
            mtu = min(_mtu(src), _mtu(dst))
            ref = agents[src.index][0].probe.remote(
                dst.ip,
                (dst.info or {})["ports"],
                dst.ray_port,
                mtu,
                nbytes,
                min(opts.timeout, 15.0),
            )
            key = f"{src.index}->{dst.index}"
            try:
                got = ray.get(ref, timeout=min(opts.timeout, 15.0) * 3 + 10)
            except Exception as exc:
                got = {"error": f"{type(exc).__name__}"}
            res.probes[key] = _best(res.probes.get(key), got)


def _mtu(node: VNode) -> int:
    info = node.info or {}
    iface = next((i for i in info.get("interfaces", []) if i["name"] == info.get("ray_iface")), None)
    return int(iface["mtu"]) if iface and iface.get("mtu") else 1500


def _cleanup(ray: Any, agents: list[list[Any]], pg: Any, remove_placement_group: Any) -> dict[str, list[str]]:
    """Close and kill every agent, remove the placement group, then ask the GCS what is left."""
    flat = [a for row in agents for a in row]
    closes = [a.close.remote() for a in flat]
    left_pids: list[str] = []
    with contextlib.suppress(Exception):
        done, _ = ray.wait(closes, num_returns=len(closes), timeout=10)
        for ref in done:
            with contextlib.suppress(Exception):
                left_pids += [str(p) for p in ray.get(ref, timeout=5)]
    for a in flat:
        with contextlib.suppress(Exception):
            ray.kill(a, no_restart=True)
    with contextlib.suppress(Exception):
        remove_placement_group(pg)
    ids = {a._actor_id.hex() for a in flat}
    deadline = time.monotonic() + 15
    alive: list[str] = []
    pg_left: list[str] = []
    while True:
        try:
            from ray._private import state as gcs_state

            table = gcs_state.actors()
            alive = [i for i in ids if table.get(i, {}).get("State") not in (None, "DEAD")]
            pg_state = ray.util.placement_group_table(pg).get("state")
            pg_left = [] if pg_state in (None, "REMOVED") else [f"{pg.id.hex()} {pg_state}"]
        except Exception as exc:  # cannot ask: say so rather than claim nothing is left
            return {"unknown": [f"{type(exc).__name__}: {exc}"[:200]]}
        if (not alive and not pg_left) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    out: dict[str, list[str]] = {}
    if alive:
        out["actors"] = alive
    if pg_left:
        out["placement_groups"] = pg_left
    if left_pids:
        out["processes"] = left_pids
    return out
