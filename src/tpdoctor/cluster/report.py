"""One Report for the whole cluster: each node's fact rules, tagged with the node, plus the
cross-node rules; the per-node table lives in `report.facts["nodes"]`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TextIO

from tpdoctor.model import CheckOptions, ClusterNode, Finding, Report, Severity
from tpdoctor.rules.cluster import node_gpus, node_options, tag_finding, unreachable_finding
from tpdoctor.rules.registry import run_cluster_rules, run_fact_rules


def build_report(nodes: list[ClusterNode], options: CheckOptions, address: str, notes: list[str]) -> Report:
    findings: list[Finding] = []
    rows: list[dict[str, Any]] = []
    widest = max((node_gpus(n.facts, options)[1] for n in nodes if n.facts is not None), default=0)
    for node in nodes:
        row: dict[str, Any] = {
            "index": node.index,
            "node_id": node.node_id,
            "ip": node.ip,
            "hostname": node.hostname,
        }
        if node.facts is None:
            own = [unreachable_finding(node)]  # counted here; reported by the cluster rules below
            row.update(status=node.error_kind or "error", error=node.error, backend=None, gpus=None, tp=None)
        else:
            opts = node_options(node.facts, options, widest)
            own = [tag_finding(f, node) for f in run_fact_rules(node.facts, opts)]
            backend, gpus = node_gpus(node.facts, opts)
            row.update(status="checked", backend=backend, gpus=gpus, tp=opts.tp)
        for sev in Severity:
            row[sev.value] = sum(1 for f in own if f.severity is sev)
        rows.append(row)
        if node.facts is not None:
            findings += own
    findings += run_cluster_rules(nodes, options)
    notes = [f"Ray cluster at {address}: {len(nodes)} alive node(s)", *notes]
    per_node = [r["gpus"] for r in rows if r["gpus"]]
    if options.tp is not None and per_node and options.tp > max(per_node):
        notes.append(
            f"--tp {options.tp} is more than any node's GPUs ({max(per_node)}): tensor parallel would cross "
            f"nodes over the network; the usual split is --tp {max(per_node)} --pp <nodes> "
            "(pipeline parallel across nodes)."
        )
    versions = {n.facts.tool_version for n in nodes if n.facts is not None}
    if len(versions) > 1:
        notes.append(f"nodes run different tpdoctor versions: {', '.join(sorted(str(v) for v in versions))}")
    summary = {
        "address": address,
        "tp": options.tp,
        "pp": options.pp,
        "backend": options.backend,
        "nodes": rows,
    }
    return Report(
        command="cluster check",
        findings=sorted(findings, key=lambda f: f.sort_key()),
        facts=summary,
        notes=notes,
    )


def prepare_snapshot_dir(directory: Path, create: bool = False) -> None:
    """The --snapshots directory, judged before the nodes are asked (`--snapshots /dev/null` failed only after every
    node had answered, and the report was lost: gsafe45) and made only when the snapshots are written: made up front,
    a run that stopped before (no ray, no cluster at the address) left an empty directory behind (gsafe46)."""
    import errno
    import os

    from tpdoctor.errors import InputError

    if not create:
        probe = directory
        while not os.path.lexists(probe) and probe.parent != probe:
            probe = probe.parent  # the nearest part of the path there is: mkdir(parents=True) makes the rest there
        try:
            is_dir = probe.is_dir()
        except OSError as exc:
            # a link into a directory this user may not search (as non-root): is_dir() raised PermissionError, and the
            # error line lost `--snapshots` and the path given (gsafe47)
            raise InputError(f"cannot create --snapshots {directory}: {exc.strerror or exc}") from None
        if is_dir:
            if not os.access(probe, os.W_OK | os.X_OK):
                raise InputError(f"cannot create --snapshots {directory}: {os.strerror(errno.EACCES)}")
            return
        if probe == directory:
            raise InputError(f"cannot create --snapshots {directory}: it exists and is no directory")
        raise InputError(f"cannot create --snapshots {directory}: {os.strerror(errno.ENOTDIR)}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"cannot create --snapshots {directory}: it exists and is no directory") from None
    except OSError as exc:
        raise InputError(f"cannot create --snapshots {directory}: {exc.strerror or exc}") from None


def write_snapshots(nodes: list[ClusterNode], directory: Path) -> list[Path]:
    """One `check --snapshot` file per node that answered: node-<index>-<ip>.json."""
    from tpdoctor.facts.snapshot import write_snapshot

    prepare_snapshot_dir(directory, create=True)
    written = []
    for node in nodes:
        if node.facts is None:
            continue
        safe_ip = re.sub(r"[^0-9A-Za-z.-]", "_", node.ip)
        path = directory / f"node-{node.index}-{safe_ip}.json"
        write_snapshot(node.facts, path)
        written.append(path)
    return written


def print_table(report: Report, out: TextIO) -> None:
    """The per-node table of the text format."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Ray nodes", title_justify="left")
    for col in ("#", "node IP", "node id", "status", "backend", "GPUs", "TP", "blockers", "degraded"):
        table.add_column(col)
    for r in report.facts.get("nodes", []):
        table.add_row(
            *plain_cells(
                str(r["index"]),
                str(r["ip"]),
                str(r["node_id"])[:8],
                str(r["status"]),
                str(r["backend"] or "-"),
                "-" if r["gpus"] is None else str(r["gpus"]),
                "-" if r["tp"] is None else str(r["tp"]),
                str(r["blocker"]),
                str(r["degraded"]),
            )
        )
    Console(file=out, highlight=False, soft_wrap=True, width=120).print(table)


def plain_cells(*values: str) -> list[Any]:
    """Table cells as plain text: what a node reports (its IP, id, an interface name: `[/]` is a valid one) was read
    as rich markup, `[/]` raised MarkupError (exit 1) and `[link=…]`/`[blink]` styled the table; its control
    characters reached the terminal (gsafe45)."""
    from rich.text import Text

    from tpdoctor.termsafe import printable

    return [Text(printable(v)) for v in values]
