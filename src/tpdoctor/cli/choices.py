"""The values of the shared options, without typer: the fast path of `check` uses them too."""

from __future__ import annotations

from enum import Enum

from tpdoctor.errors import UsageError


class Backend(str, Enum):
    """The GPU stack to check for (auto: inferred from the devices and the environment)."""

    auto = "auto"
    xpu = "xpu"
    cuda = "cuda"
    rocm = "rocm"
    # Intel through torch.distributed's XCCL (torch >= 2.8, vLLM's choice) or oneccl_bindings' ccl:
    # checked as xpu, with the distributed backend noted (CheckOptions.dist_backend)
    xccl = "xccl"
    ccl = "ccl"


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


def oneccl_version(value: str | None) -> str | None:
    """Validate --oneccl-version with oneCCL's own parser; the bad value is one line and exit 2."""
    if value is None:
        return None
    from tpdoctor.oneccl.model import parse_version

    try:
        parse_version(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return value.strip()
