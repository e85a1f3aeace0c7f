"""What the user is about to launch: the options every fact rule is checked against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_PARALLEL = 1024  # --tp and --pp; tpdoctor.limits uses the same number


@dataclass(frozen=True)
class CheckOptions:
    """What the user is about to launch: sizes, backend, versions."""

    tp: int | None = None
    pp: int = 1
    backend: str = "auto"  # auto | xpu | cuda | rocm
    oneccl_version: str | None = None
    ipc_exchange: str | None = None  # override of CCL_ZE_IPC_EXCHANGE for what-if checks
    # torch.distributed backend on Intel: xccl (torch >= 2.8, vLLM's choice: vllm/platforms/xpu.py
    # dist_backend = "xccl") or ccl (oneccl_bindings_for_pytorch); both run oneCCL underneath.
    dist_backend: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # rules build rank lists from these; the CLI refuses larger values first with exit 2
        # (tpdoctor.limits), this is the backstop for every other caller
        for name, value in (("tp", self.tp), ("pp", self.pp)):
            if value is not None and not 0 <= value <= MAX_PARALLEL:
                raise ValueError(f"--{name} {value} is over tpdoctor's limit of {MAX_PARALLEL}")
