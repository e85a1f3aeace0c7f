"""Run verify's workloads as one process group across Ray actors, under a watchdog.

The group is formed as vLLM's Ray executor forms it (vllm/v1/executor/ray_executor.py,
`_init_workers_ray`): rank 0 on the driver's node, then the other nodes' workers in IP order;
`init_method = tcp://<driver ip>:<open port>` (`get_distributed_init_method(driver_ip,
get_open_port())`); `local_rank` = the worker's index among its node's workers and
CUDA_VISIBLE_DEVICES = every GPU Ray gave that node's workers, so NCCL sees its node's peers.

The watchdog polls every rank's events; no new event for `timeout` seconds is a hang, a rank
that exits early is a failure (the others get `grace` seconds to report). Either way every rank
is stopped (`NodeAgent.stop`: its whole process group) before this returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tpdoctor.verify.results import OpResult, RankProblem, TpMlpResult, TransportInfo

POLL_S = 0.2


@dataclass
class Member:
    """One rank: the agent (a Ray actor handle) and where it runs."""

    agent: Any
    node: int  # index of its node
    local_rank: int
    node_gpus: list[str] = field(default_factory=list)  # CUDA_VISIBLE_DEVICES for its node


@dataclass
class GroupRun:
    name: str
    nodes: list[int]  # node index of each rank
    results: list[OpResult] = field(default_factory=list)
    tp: TpMlpResult | None = None
    problem: RankProblem | None = None
    transport: TransportInfo | None = None
    logs: dict[int, list[str]] = field(default_factory=dict)
    events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    wall_s: float = 0.0
    init_method: str = ""
    leftover: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.problem is None
            and not any(r.wrong for r in self.results)
            and (self.tp is None or self.tp.ok)
            and bool(self.results)
        )

    def busbw(self) -> float | None:
        """Bus bandwidth (GB/s) of the largest all-reduce measured."""
        ar = [r for r in self.results if r.op == "all_reduce"]
        return max(ar, key=lambda r: r.bytes).busbw_gbps if ar else None


def run_group(
    ray: Any,
    name: str,
    members: list[Member],
    head_ip: str,
    config: dict[str, Any],
    env: dict[str, str],
    *,
    timeout: float,
    grace: float = 5.0,
) -> GroupRun:
    from tpdoctor.verify.run import aggregate, worst_mlp
    from tpdoctor.verify.transport import parse_logs
    from tpdoctor.verify.verdict import judge

    world = len(members)
    run = GroupRun(name=name, nodes=[m.node for m in members])
    t0 = time.monotonic()
    try:
        port = ray.get(members[0].agent.free_port.remote(), timeout=timeout)
    except Exception as exc:
        run.problem = RankProblem(kind="not-started", ranks=[0], detail=f"no rendezvous port: {exc}"[:300])
        return run
    run.init_method = f"tcp://{head_ip}:{port}"
    cfg = {**config, "world": world, "init_method": run.init_method}
    started: list[int] = []
    try:
        for rank, m in enumerate(members):
            rank_env = {
                **env,
                "MASTER_ADDR": head_ip,
                "MASTER_PORT": str(port),
                "WORLD_SIZE": str(world),
                "LOCAL_RANK": str(m.local_rank),
            }
            if m.node_gpus:
                rank_env["CUDA_VISIBLE_DEVICES"] = ",".join(m.node_gpus)
            ray.get(
                m.agent.start_rank.remote(name, {**cfg, "local_rank": m.local_rank}, rank, rank_env),
                timeout=30,
            )
            started.append(rank)
        run.problem = _watch(ray, name, members, run, timeout=timeout, grace=grace)
    except Exception as exc:  # an actor died under us: the node is gone
        run.problem = RankProblem(
            kind="died",
            ranks=[len(started)],
            detail=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
        )
    finally:
        for rank in started:
            m = members[rank]
            try:
                run.logs[rank] = ray.get(m.agent.log.remote(name), timeout=10)
                run.leftover += ray.get(m.agent.stop.remote(name), timeout=15)
            except Exception:
                pass  # the actor is gone, and its ranks with it (PR_SET_PDEATHSIG)
        run.wall_s = time.monotonic() - t0
    run.results, _latency, _vllm, mlps = aggregate(run.events, world, str(config["dtype"]))
    run.tp = worst_mlp(mlps)
    judge(run.results, None, world)
    lines = [ln for rank in sorted(run.logs) for ln in run.logs[rank]]
    run.transport, _ = parse_logs(lines, str(config["backend"]))
    return run


def _watch(
    ray: Any, name: str, members: list[Member], run: GroupRun, *, timeout: float, grace: float
) -> RankProblem | None:
    world = len(members)
    exits: dict[int, int | None] = dict.fromkeys(range(world))
    last_progress = time.monotonic()
    first_failure: float | None = None
    while True:
        polls = ray.get([m.agent.poll.remote(name) for m in members], timeout=max(timeout, 10.0))
        now = time.monotonic()
        for rank, p in enumerate(polls):
            if p["events"]:
                last_progress = now
                run.events.setdefault(rank, []).extend(p["events"])
            if exits[rank] is None and p["exit"] is not None:
                exits[rank] = p["exit"]
                if not (p["exit"] == 0 and _finished(run.events.get(rank, []))):
                    first_failure = first_failure or now
        if all(code is not None for code in exits.values()):
            break
        if first_failure is not None and now - first_failure > grace:
            break
        if first_failure is None and now - last_progress > timeout:
            return _hung(run, world, timeout)
        time.sleep(POLL_S)
    failed = [
        r for r, c in exits.items() if c is not None and not (c == 0 and _finished(run.events.get(r, [])))
    ]
    if not failed:
        return None
    errors = {r: _error(run.events.get(r, [])) for r in failed}
    silent = [r for r in failed if errors[r] is None]
    culprits = silent or failed[:1]
    detail = "; ".join(
        f"rank {r} (node {members[r].node}) exited with code {exits[r]}"
        + (f": {errors[r]}" if errors[r] else "")
        for r in culprits
    )
    return RankProblem(
        kind="died" if silent else "error",
        ranks=culprits,
        last_ops={r: _last_op(run.events.get(r, [])) for r in range(world)},
        detail=detail,
    )


def _finished(events: list[dict[str, Any]]) -> bool:
    return any(e.get("ev") == "finished" for e in events)


def _error(events: list[dict[str, Any]]) -> str | None:
    return next((str(e.get("error")) for e in events if e.get("ev") == "error"), None)


def _last_op(events: list[dict[str, Any]]) -> str:
    if not events:
        return "starting (python/torch import)"
    e = events[-1]
    state = {"start": "in", "done": "after", "result": "after", "error": "failed in", "finished": "finished"}
    return f"{state.get(str(e.get('ev')), e.get('ev'))} {e.get('op', '')} (step {e.get('step', 0)})"


def _hung(run: GroupRun, world: int, timeout: float) -> RankProblem:
    steps = {
        r: max((int(e.get("step", 0)) for e in run.events.get(r, []) if e.get("ev") == "start"), default=-1)
        for r in range(world)
    }
    behind = min(steps.values())
    stuck = [r for r, s in steps.items() if s == behind]
    detail = f"no rank made progress for {timeout:g} s"
    if len(stuck) < world:
        detail += "; the others wait for " + ", ".join(f"rank {r}" for r in stuck)
    return RankProblem(
        kind="hung",
        ranks=stuck,
        last_ops={r: _last_op(run.events.get(r, [])) for r in range(world)},
        detail=detail,
    )
