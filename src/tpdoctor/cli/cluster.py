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
    from tpdoctor.cluster.report import prepare_snapshot_dir
    from tpdoctor.limits import cap_seconds

    cap_seconds(timeout, "--timeout")
    import_ray()  # before anything else: the one-line install hint
    if snapshots is not None:
        prepare_snapshot_dir(snapshots)  # judged before the nodes are asked, made when they have answered
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


@cluster_app.command("verify")
def cluster_verify_command(
    address: str = typer.Option(
        "auto", "--address", help="The Ray cluster: auto (this node's), HOST:PORT (GCS) or ray://HOST:10001."
    ),
    backend: str = typer.Option(
        "auto",
        "--backend",
        help="nccl, gloo (CPU, one rank per node), xccl, or auto (nccl if every node has GPUs).",
    ),
    gpus_per_node: int = typer.Option(
        None, "--gpus-per-node", min=1, help="Ranks (GPUs) per node; default: the fewest GPUs any node has."
    ),
    sizes: str = typer.Option(
        None, "--sizes", help="Message sizes of the whole group's sweep, e.g. 64K..16M:4."
    ),
    quick: bool = typer.Option(False, "--quick", help="Fewer sizes and a shorter link probe."),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, help="Seconds without progress after which a node or rank counts as hung."
    ),
    expect_link_gbps: float = typer.Option(
        None,
        "--expect-link-gbps",
        min=0.0,
        help="GB/s one TCP stream should reach on each link (judges links whose interface reports no speed: veth).",
    ),
    fmt: Format = OutputFormat.text,
) -> None:
    """Run a real collective across the Ray cluster's nodes and name the node, interface and cause of a failure."""
    from tpdoctor.cluster.remote import import_ray
    from tpdoctor.limits import MAX_GPUS, cap_count, cap_seconds

    cap_seconds(timeout, "--timeout")
    if gpus_per_node is not None:
        cap_count(gpus_per_node, "--gpus-per-node", MAX_GPUS)
    import_ray()  # before anything else: the one-line install hint
    from tpdoctor.cli.common import emit
    from tpdoctor.cluster.verify_report import build_report, print_table
    from tpdoctor.cluster.verify_run import ClusterVerifyOptions, run_cluster_verify

    run = run_cluster_verify(
        ClusterVerifyOptions(
            address=address,
            backend=backend,
            gpus_per_node=gpus_per_node,
            sizes=sizes,
            quick=quick,
            timeout=timeout,
            expect_link_gbps=expect_link_gbps,
        )
    )
    report = build_report(run, address)
    if fmt is OutputFormat.text:
        print_table(report, sys.stdout)
    emit(report, fmt)
