"""`tpdoctor cluster check`: the same check on every node of a running Ray cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tpdoctor.cli import app
from tpdoctor.cli.common import FORMAT_OPTION, OutputFormat

cluster_app = typer.Typer(
    name="cluster",
    help="Check every node of a Ray cluster (needs the extra: pip install 'tpdoctor[cluster]').",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("check")
def cluster_check_command(
    address: str = typer.Option(
        "auto", "--address", help="The Ray cluster: auto (this node's), HOST:PORT (GCS) or ray://HOST:10001."
    ),
    tp: int = typer.Option(
        None, "--tp", min=1, help="Tensor-parallel size per node (default: the widest node's GPUs)."
    ),
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline-parallel size (across nodes, usually)."),
    backend: str = typer.Option("auto", "--backend", help="auto, xpu, cuda or rocm."),
    fmt: OutputFormat = FORMAT_OPTION,
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, help="Seconds each node's check may take; then it is unreachable."
    ),
    snapshots: Path = typer.Option(
        None,
        "--snapshots",
        help="Write each node's facts to DIR/node-<i>-<ip>.json (for check --from-snapshot).",
    ),
) -> None:
    """Run tpdoctor's check on every alive Ray node and compare the nodes."""
    from tpdoctor.errors import UsageError

    if backend not in ("auto", "xpu", "cuda", "rocm"):
        raise UsageError(f"--backend must be auto, xpu, cuda or rocm, not {backend!r}")
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
    report = build_report(nodes, CheckOptions(tp=tp, pp=pp, backend=backend), address, notes)
    if fmt is OutputFormat.text:
        print_table(report, sys.stdout)
    emit(report, fmt)
