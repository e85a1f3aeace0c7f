"""Option types shared by the commands: one declaration, one parser, one error for each.

Used as `tp: Tp = None` in a command's signature (typer reads the Annotated metadata); the
values arrive parsed, so no command checks them by hand.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tpdoctor.cli.choices import Backend, OutputFormat, RuntimeChoice, oneccl_version

__all__ = [
    "Backend",
    "BackendOpt",
    "Format",
    "OneCclVersion",
    "OutputFormat",
    "Pp",
    "RuntimeChoice",
    "RuntimeOpt",
    "Tp",
    "Verbose",
]


Tp = Annotated[int | None, typer.Option("--tp", min=1, help="Tensor-parallel size.")]
Pp = Annotated[int | None, typer.Option("--pp", min=1, help="Pipeline-parallel size.")]
BackendOpt = Annotated[
    Backend | None,
    typer.Option(
        "--backend",
        help="The GPU stack: auto, xpu, cuda or rocm; xccl or ccl: Intel through torch's XCCL or oneccl_bindings.",
    ),
]
OneCclVersion = Annotated[
    str | None,
    typer.Option(
        "--oneccl-version",
        callback=oneccl_version,
        help="oneCCL version when it cannot be detected, e.g. 2021.13 or 2021.13.1.",
    ),
]
RuntimeOpt = Annotated[
    RuntimeChoice | None,
    typer.Option(
        "--runtime",
        "-r",
        help="Fixes for this runtime (default: the one detected), or all of them.",
    ),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Every fix and every evidence line.")]
Format = Annotated[OutputFormat, typer.Option("--format", "-f", help="text, json or sarif.")]
