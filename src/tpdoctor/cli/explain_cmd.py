"""The typer command of `tpdoctor explain`: options, help and their errors; the work is
cli/explain.py's run_explain, which the common invocations reach without typer (cli/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from tpdoctor.cli.explain import run_explain
from tpdoctor.cli.options import Format, OutputFormat, RuntimeOpt, Verbose


def explain_command(
    logs: list[str] = typer.Argument(
        None, help="Log files (plain or gzip), or '-' for stdin. Default: stdin.", show_default=False
    ),
    runtime: RuntimeOpt = None,
    verbose: Verbose = False,
    fmt: Format = OutputFormat.text,
    engine: str = typer.Option("auto", "--engine", hidden=True, help="auto, hyperscan or pyahocorasick."),
    config: Path = typer.Option(
        None,
        "--config",
        "-c",
        help="compose file, docker/podman run script or Kubernetes manifest: print the patch that fixes the causes.",
    ),
    write: bool = typer.Option(
        False, "--write", help="With --config: apply the patch (atomic, backup FILE.tpdoctor.bak)."
    ),
    ipc_exchange: str = typer.Option(
        "drmfd", "--ipc-exchange", help="With --config: oneCCL route the patch prepares: drmfd or pidfd."
    ),
    host_facts: Path = typer.Option(
        None,
        "--host-facts",
        help="With --config: facts JSON from `tpdoctor check --snapshot` on the GPU host.",
    ),
) -> None:
    """Explain a failed multi-GPU start from its log: root cause first, evidence lines, fixes least privilege first.

    Exit code: 0 nothing above notice, 3 a blocker, 4 only degraded, 2 usage error.
    """
    run_explain(
        logs,
        runtime=runtime,
        verbose=verbose,
        fmt=fmt,
        engine=engine,
        config=config,
        write=write,
        ipc_exchange=ipc_exchange,
        host_facts=host_facts,
    )
