"""One Report for `tpdoctor cluster verify`: the findings of `localize.py`, the per-node table,
the group's measurements, the link probes, the pairs, and what was left behind (nothing)."""

from __future__ import annotations

from typing import Any, TextIO

from tpdoctor.cluster.groups import GroupRun
from tpdoctor.cluster.localize import diagnose, link_rates
from tpdoctor.cluster.verify_run import ClusterVerifyRun, VNode
from tpdoctor.model import Report


def _group(g: GroupRun | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "name": g.name,
        "nodes": g.nodes,
        "ok": g.ok,
        "init_method": g.init_method,
        "wall_s": round(g.wall_s, 2),
        "results": [r.model_dump(mode="json") for r in g.results],
        "tp_mlp": g.tp.model_dump(mode="json") if g.tp else None,
        "problem": g.problem.model_dump(mode="json") if g.problem else None,
        "transport": g.transport.transports if g.transport else {},
    }


def _pair_ok(run: ClusterVerifyRun, k: int) -> bool | None:
    got = [p.ok for p in (run.pairs.get(k), run.reversed_pairs.get(k)) if p is not None]
    return all(got) if got else None


def _status(run: ClusterVerifyRun, n: VNode) -> str:
    if n.info is not None:
        return "described"
    if (n.path or {}).get("status") == "black-hole":
        return "path-black-hole"
    return "not-placed" if run.stopped else "unreachable"


def node_rows(run: ClusterVerifyRun) -> list[dict[str, Any]]:
    rates = link_rates(run)
    rows = []
    for n in run.nodes:
        info = n.info or {}
        iface: dict[str, Any] = next(
            (i for i in info.get("interfaces", []) if i["name"] == info.get("ray_iface")), {}
        )
        choice = info.get("gloo" if run.backend == "gloo" else "nccl", {})
        rows.append(
            {
                "index": n.index,
                "node_id": n.node_id,
                "ip": n.ip,
                "head": n.index == run.head,
                "status": _status(run, n),
                "error": n.error,
                "ray_iface": info.get("ray_iface"),
                "mtu": iface.get("mtu"),
                "speed_mbps": iface.get("speed_mbps"),
                "virtual": iface.get("virtual"),
                "backend_ifaces": choice.get("ifaces"),
                "backend_iface_reason": choice.get("why"),
                "link_gbps": rates.get(n.index),
                "pair_ok": _pair_ok(run, n.index),
                "path": n.path,
            }
        )
    return rows


def build_report(run: ClusterVerifyRun, address: str) -> Report:
    findings, notes = diagnose(run)
    head = run.nodes[run.head]
    lead = f"cluster verify: {len(run.nodes)} nodes, backend {run.backend}, rank 0 on {head.label}, {run.wall_s:.1f} s"
    full = run.full
    if full is not None:
        bw = full.busbw()
        lead += f"; whole group {'passed' if full.ok else 'FAILED'}" + (
            f", all_reduce busbw {bw:.3f} GB/s at the largest size" if bw is not None else ""
        )
    notes = [lead, *([run.stopped] if run.stopped else []), *run.notes, *notes]
    if run.pairs:
        notes.append(
            "pairs with the head: "
            + ", ".join(f"node {k} {'ok' if p.ok else 'FAILED'}" for k, p in sorted(run.pairs.items()))
        )
    if run.reversed_pairs:
        notes.append(
            "pairs with the node as rank 0: "
            + ", ".join(
                f"node {k} {'ok' if p.ok else 'FAILED'}" for k, p in sorted(run.reversed_pairs.items())
            )
        )
    if run.bisection:
        notes.append(
            "bisection: "
            + ", ".join(f"{len(b.nodes)} nodes {'ok' if b.ok else 'FAILED'}" for b in run.bisection)
        )
    if run.leftover:
        notes.append(f"left behind after cleanup: {run.leftover}")
    elif run.stopped:
        notes.append("cleanup: nothing to clean, no placement group, agent or rank was created")
    else:
        notes.append("cleanup: no agent, placement group or rank process left (checked with the GCS)")
    facts = {
        "address": address,
        "backend": run.backend,
        "head": run.head,
        "wall_s": round(run.wall_s, 2),
        "nodes": node_rows(run),
        "full": _group(full),
        "pairs": {str(k): _group(p) for k, p in sorted(run.pairs.items())},
        "reversed_pairs": {str(k): _group(p) for k, p in sorted(run.reversed_pairs.items())},
        "bisection": [_group(b) for b in run.bisection],
        "probes": run.probes,
        "leftover": run.leftover,
    }
    return Report(
        command="cluster verify",
        findings=sorted(findings, key=lambda f: f.sort_key()),
        facts=facts,
        notes=notes,
    )


def print_table(report: Report, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    from tpdoctor.cluster.report import plain_cells  # the node table's cells, as cluster check's

    table = Table(title="Ray nodes (cluster verify)", title_justify="left")
    for col in ("#", "node IP", "node id", "iface", "MTU", "speed", "ranks bind", "link to head", "pair"):
        table.add_column(col)
    for r in report.facts.get("nodes", []):
        speed = "virtual" if r["virtual"] else (f"{r['speed_mbps']} Mb/s" if r["speed_mbps"] else "-")
        link = "head" if r["head"] else (f"{r['link_gbps'] * 1e3:.1f} MB/s" if r["link_gbps"] else "-")
        pair = "-" if r["pair_ok"] is None else ("ok" if r["pair_ok"] else "FAILED")
        table.add_row(
            *plain_cells(
                str(r["index"]),
                str(r["ip"]),
                str(r["node_id"])[:8],
                str(r["ray_iface"] or "-"),
                str(r["mtu"] or "-"),
                speed,
                ",".join(r["backend_ifaces"] or []) or ("-" if r["status"] != "described" else "none"),
                link,
                pair,
            )
        )
    Console(file=out, highlight=False, soft_wrap=True, width=140).print(table)

