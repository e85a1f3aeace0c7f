"""Option types shared by the commands: one declaration, one parser, one error for each.

Used as `tp: Tp = None` in a command's signature (typer reads the Annotated metadata); the
values arrive parsed, so no command checks them by hand.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from tpdoctor.errors import UsageError


class Backend(str, Enum):
    """The GPU stack to check for (auto: inferred from the devices and the environment)."""

    auto = "auto"
    xpu = "xpu"
    cuda = "cuda"
    rocm = "rocm"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


class RuntimeChoice(str, Enum):
    """Whose fixes to show: one runtime, or all of them."""

    compose = "compose"
    docker = "docker"
    podman = "podman"
    kubernetes = "kubernetes"
    all = "all"


def _oneccl_version(value: str | None) -> str | None:
    """Validate --oneccl-version with oneCCL's own parser; the bad value is one line and exit 2."""
    if value is None:
        return None
    from tpdoctor.oneccl.model import parse_version

    try:
        parse_version(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return value.strip()


Tp = Annotated[int | None, typer.Option("--tp", min=1, help="Tensor-parallel size.")]
Pp = Annotated[int | None, typer.Option("--pp", min=1, help="Pipeline-parallel size.")]
BackendOpt = Annotated[
    Backend | None, typer.Option("--backend", help="The GPU stack: auto, xpu, cuda or rocm.")
]
OneCclVersion = Annotated[
    str | None,
    typer.Option(
        "--oneccl-version",
        callback=_oneccl_version,
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
