"""`tpdoctor check`: inspect a host or container and predict whether N-GPU TP will start.

The options are declared here for typer; the work is cli/check_run.py (no typer), which main()
also calls directly for the common invocations (the fast path).
"""

from __future__ import annotations

from pathlib import Path

import typer

from tpdoctor.cli.options import (
    Backend,
    BackendOpt,
    Format,
    OneCclVersion,
    OutputFormat,
    Pp,
    RuntimeOpt,
    Tp,
    Verbose,
)


def check_command(
    root: Path = typer.Option(
        None, "--root", help="Inspect a root directory laid out like / (fixture or mounted snapshot)."
    ),
    tp: Tp = None,
    pp: Pp = 1,
    backend: BackendOpt = Backend.auto,
    fmt: Format = OutputFormat.text,
    runtime: RuntimeOpt = None,
    verbose: Verbose = False,
    env_file: Path = typer.Option(
        None, "--env-file", help="The job's environment (KEY=VALUE lines) instead of this shell's."
    ),
    snapshot: Path = typer.Option(None, "--snapshot", help="Also write the collected facts as JSON."),
    from_snapshot: Path = typer.Option(
        None, "--from-snapshot", help="Analyse facts captured elsewhere with --snapshot."
    ),
    example: str = typer.Option(None, "--example", help="A built-in example snapshot ('list' lists them)."),
    oneccl_version: OneCclVersion = None,
    ipc_exchange: str = typer.Option(
        None, "--ipc-exchange", help="What if CCL_ZE_IPC_EXCHANGE were pidfd, drmfd or sockets."
    ),
    compare: bool = typer.Option(
        False,
        "--compare",
        help="Compare --snapshot files taken in each rank's container (SNAPSHOTS...): "
        "are the ranks of one TP group split across containers or namespaces?",
    ),
    snapshots: list[Path] = typer.Argument(
        None, help="With --compare: two or more snapshot files.", show_default=False
    ),
) -> None:
    """Predict, before launch, whether N-GPU tensor parallel will start here, and why not."""
    from tpdoctor.cli.check_run import run_check

    run_check(
        root=root,
        tp=tp,
        pp=pp,
        backend=backend,
        fmt=fmt,
        runtime=runtime,
        verbose=verbose,
        env_file=env_file,
        snapshot=snapshot,
        from_snapshot=from_snapshot,
        example=example,
        oneccl_version=oneccl_version,
        ipc_exchange=ipc_exchange,
        compare=compare,
        snapshots=snapshots,
    )
