"""`tpdoctor check`: inspect a host or container and predict whether N-GPU TP will start."""

from __future__ import annotations

from pathlib import Path

import typer

from tpdoctor.cli import app
from tpdoctor.cli.common import FORMAT_OPTION, OutputFormat


@app.command("check")
def check_command(
    root: Path = typer.Option(
        None, "--root", help="Inspect a root directory laid out like / (fixture or mounted snapshot)."
    ),
    tp: int = typer.Option(None, "--tp", min=1, help="Tensor-parallel size (default: all visible GPUs)."),
    pp: int = typer.Option(1, "--pp", min=1, help="Pipeline-parallel size."),
    backend: str = typer.Option("auto", "--backend", help="auto, xpu, cuda or rocm."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Predict, before launch, whether N-GPU tensor parallel will start here, and why not."""
    from tpdoctor.errors import UsageError

    raise UsageError("check is being built (issue 2)")
