"""`tpdoctor cluster check`: the same check on every node of a running Ray cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tpdoctor.cli.options import Backend, BackendOpt, Format, OutputFormat, Pp, Tp

cluster_app = typer.Typer(
    name="cluster",
    help="Check every node of a Ray cluster (needs the extra: pip install 'tpdoctor\\[cluster]').",
    no_args_is_help=True,
)


@cluster_app.command("check")
def cluster_check_command(
    address: str = typer.Option(
        "auto", "--address", help="The Ray cluster: auto (this node's), HOST:PORT (GCS) or ray://HOST:10001."
    ),
    tp: Tp = None,
    pp: Pp = 1,
    backend: BackendOpt = Backend.auto,
    fmt: Format = OutputFormat.text,
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, help="Seconds each node's check may take; then it is unreachable."
    ),
    snapshots: Path = typer.Option(
        None,
        "--snapshots",
        help="Write each node's facts to DIR/node-<i>-<ip>.json (for check --from-snapshot).",
    ),
) -> None:
    """Run tpdoctor's check on every alive Ray node and compare the nodes.

    --tp defaults to the widest node's GPUs; --pp usually spans the nodes.
    """
    from tpdoctor.cluster.remote import collect_cluster, import_ray

    import_ray()  # before anything else: the one-line install hint
    nodes, notes = collect_cluster(address, timeout)
    from tpdoctor.cli.common import emit
    from tpdoctor.cluster.report import build_report, print_table, write_snapshots
    from tpdoctor.model import CheckOptions

    if snapshots is not None:
        written = write_snapshots(nodes, snapshots)
        notes.append(f"wrote {len(written)} snapshot(s) to {snapshots}")
    from tpdoctor.limits import check_sizes

    check_sizes(tp, pp)
    report = build_report(nodes, CheckOptions(tp=tp, pp=pp or 1, backend=_stack(backend)), address, notes)
    if fmt is OutputFormat.text:
        print_table(report, sys.stdout)
    emit(report, fmt)


def _stack(backend: Backend | None) -> str:
    """xccl and ccl are Intel's torch.distributed backends: checked as xpu."""
    value = (backend or Backend.auto).value
    return "xpu" if value in ("xccl", "ccl") else value
