"""What the user is about to launch: the options every fact rule is checked against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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
