"""The typer command of `tpdoctor audit`: options, help and their errors; the work is
cli/audit.py's run_audit, which the common invocations reach without typer (cli/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from tpdoctor.cli.audit import ComposeImpl, InputKind, IpcExchange, Pss, run_audit
from tpdoctor.cli.options import Format, OutputFormat, RuntimeOpt, Verbose


def audit_command(
    files: list[Path] = typer.Argument(
        ..., help="compose files, docker/podman run scripts, Kubernetes manifests."
    ),
    host_facts: Path = typer.Option(
        None, "--host-facts", help="Facts JSON from `tpdoctor check --snapshot` on the GPU host."
    ),
    input_kind: InputKind = typer.Option(InputKind.auto, "--input", help="Force the file format."),
    fix: bool = typer.Option(False, "--fix", help="Print the least-privilege version as a diff."),
    write: bool = typer.Option(False, "--write", help="Apply the fix (atomic, backup FILE.tpdoctor.bak)."),
    ipc_exchange: IpcExchange = typer.Option(
        IpcExchange.drmfd,
        "--ipc-exchange",
        help="oneCCL route the fix prepares: drmfd (no capability) or pidfd.",
    ),
    pss: Pss = typer.Option(None, "--pss", help="Kubernetes: stay within Pod Security 'baseline'."),
    strict: bool = typer.Option(False, "--strict", help="Also report missing hardening in compose/docker."),
    compose_impl: ComposeImpl = typer.Option(
        ComposeImpl.auto,
        "--compose-impl",
        help="Compose implementation that will run the files (auto: only what the file says, "
        "e.g. an x-podman key); podman-compose and docker-compose-v1 ignore or refuse some keys.",
    ),
    skip_other: bool = typer.Option(
        False,
        "--skip-other",
        help="Pass over files that hold no deployment (a pre-commit hook over every YAML and shell file); "
        "unreadable or invalid files still fail.",
    ),
    fmt: Format = OutputFormat.text,
    runtime: RuntimeOpt = None,
    verbose: Verbose = False,
) -> None:
    """Review deployment files for what multi-GPU tensor parallel needs and what it does not."""
    run_audit(
        files,
        host_facts=host_facts,
        input_kind=input_kind,
        fix=fix,
        write=write,
        ipc_exchange=ipc_exchange,
        pss=pss,
        strict=strict,
        compose_impl=compose_impl,
        skip_other=skip_other,
        fmt=fmt,
        runtime=runtime,
        verbose=verbose,
    )
