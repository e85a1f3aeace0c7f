"""Ray side of `tpdoctor cluster check`: connect, run the worker on every alive node, gather.

Ray is imported here only (the optional extra `cluster`). Every wait is bounded by `timeout`:
a task that does not finish is cancelled (force: its worker is killed) and its node reported as
`cluster.node-unreachable`, never waited on.
"""

from __future__ import annotations

import logging
import os
import time
from types import ModuleType
from typing import Any

from tpdoctor.errors import InputError, UsageError
from tpdoctor.facts.snapshot import parse_snapshot
from tpdoctor.model import ClusterNode

INSTALL_HINT = "tpdoctor cluster needs Ray: python3 -m pip install 'tpdoctor[cluster]' (or 'ray>=2.9')"
# tests only: "<node index>:hang|crash|import" (cluster check), "<node index>:hang|hang-rank"
# (cluster verify: the node's agent never answers / its rank stops before its first collective)
FAULT_VAR = "TPDOCTOR_CLUSTER_FAULT"


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def _faults() -> dict[int, str]:
    """TPDOCTOR_CLUSTER_FAULT=1:hang,2:crash → {1: "hang", 2: "crash"} (tests only)."""
    out: dict[int, str] = {}
    for item in os.environ.get(FAULT_VAR, "").split(","):
        index, sep, mode = item.strip().partition(":")
        if sep and index.isdigit() and mode in ("hang", "crash", "import", "hang-rank"):
            out[int(index)] = mode
    return out


def _gcs_endpoint(ray: ModuleType, address: str) -> tuple[str, int] | None:
    """(host, port) the address leads to; None when it cannot be told (then no probe)."""
    if address.startswith("ray://"):
        rest, default = address[len("ray://") :], 10001
    elif address in ("auto", ""):
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die
        except ImportError:
            return None
        try:
            rest, default = canonicalize_bootstrap_address_or_die("auto"), 6379
        except Exception as exc:  # ConnectionError: no cluster started on this machine
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"no Ray cluster found (--address auto): {first}") from None
    else:
        rest, default = address, 6379
    hostport = rest.split("/", 1)[0]
    if "@" in hostport:
        # `ray://user:pass@head:10001`: Ray takes no credentials in its address; the whole `user:pass@head` was looked
        # up as a host name (the password in a DNS query) and printed in the error, unredacted (gsafe43)
        raise UsageError("--address: a Ray address takes no credentials (user name, password), only ray://HOST:PORT")
    host, sep, port = hostport.rpartition(":")
    if not sep:
        host, port = port, str(default)
    if not port.isdecimal() or len(port) > 5 or not 0 < int(port) < 65536 or not host.strip("[]"):  # int() of 4,301+ digits raises
        raise UsageError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def _probe(ray: ModuleType, address: str, timeout: float) -> None:
    """Ray's own connect retries for minutes against a dead address: fail fast instead."""
    import socket

    endpoint = _gcs_endpoint(ray, address)
    if endpoint is None:
        return
    try:
        with socket.create_connection(endpoint, timeout=min(timeout, 10.0)):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot connect to the Ray cluster at {address!r} ({endpoint[0]}:{endpoint[1]}): "
            f"{exc.strerror or exc}"
        ) from None


def _connect(ray: ModuleType, address: str, timeout: float) -> None:
    _probe(ray, address, timeout)
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if not address.startswith("ray://"):
        kwargs["namespace"] = "tpdoctor"
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, grpc errors: all one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot connect to the Ray cluster at {address!r}: {first}") from None


def alive_nodes(ray: ModuleType) -> tuple[list[ClusterNode], int]:
    """Alive nodes, numbered from 0 in (IP, node id) order, and how many listed nodes are dead."""
    listed = ray.nodes()
    alive = sorted(
        (n for n in listed if n.get("Alive")),
        key=lambda n: (str(n.get("NodeManagerAddress")), str(n.get("NodeID"))),
    )
    nodes = [
        ClusterNode(
            index=i,
            node_id=str(n["NodeID"]),
            ip=str(n.get("NodeManagerAddress") or "?"),
            hostname=n.get("NodeManagerHostname"),
        )
        for i, n in enumerate(alive)
    ]
    return nodes, len(listed) - len(alive)


def _classify(ray: ModuleType, exc: BaseException) -> tuple[str, str]:
    exceptions = ray.exceptions
    died = tuple(
        getattr(exceptions, name)
        for name in ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ActorDiedError")
        if hasattr(exceptions, name)
    )
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, died):
        return "died", f"{type(exc).__name__}: {text}"
    if "No module named 'tpdoctor" in str(exc):
        return "import", text
    return "error", f"{type(exc).__name__}: {text}"


def collect_cluster(address: str, timeout: float) -> tuple[list[ClusterNode], list[str]]:
    """Every alive node with its Facts (or why not), and notes about the cluster.

    Ray prints worker and raylet messages on the driver's stdout; they go to stderr here so
    that `--format json` stays one JSON document."""
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):
        return _collect(address, timeout)


def _collect(address: str, timeout: float) -> tuple[list[ClusterNode], list[str]]:
    ray = import_ray()
    _connect(ray, address, timeout)
    notes: list[str] = []
    try:
        nodes, dead = alive_nodes(ray)
        if dead:
            notes.append(f"{dead} node(s) listed by Ray as dead were not checked")
        from ray import cloudpickle
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from tpdoctor.cluster import worker

        # by value: a node without tpdoctor runs the task and says so (worker.py)
        cloudpickle.register_pickle_by_value(worker)  # type: ignore[no-untyped-call]
        task = ray.remote(worker.collect_on_node)
        faults = _faults()
        refs: dict[Any, ClusterNode] = {}
        for node in nodes:
            ref = task.options(
                num_cpus=0,
                max_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node.node_id, soft=False),
            ).remote(faults.get(node.index))
            refs[ref] = node
        deadline = time.monotonic() + timeout
        pending = list(refs)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=left)
            for ref in ready:
                _receive(ray, ref, refs[ref])
        for ref in pending:
            node = refs[ref]
            node.error_kind = "timeout"
            node.error = f"no answer within --timeout {timeout:g} s"
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or its worker is gone: nothing to stop
                pass
        return nodes, notes
    finally:
        ray.shutdown()


def _receive(ray: ModuleType, ref: Any, node: ClusterNode) -> None:
    try:
        answer = ray.get(ref, timeout=10)
    except Exception as exc:
        node.error_kind, node.error = _classify(ray, exc)
        return
    if not isinstance(answer, dict) or "facts" not in answer:
        got = answer if isinstance(answer, dict) else {}
        node.error_kind = str(got.get("kind") or "error")
        node.error = str(got.get("error") or f"unexpected answer {answer!r:.200}")
        return
    try:
        node.facts = parse_snapshot(str(answer["facts"]), node.label)
    except InputError as exc:  # another tpdoctor version on that node
        node.error_kind, node.error = "error", str(exc)
