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
    extra: Mapping[str, str] = field(default_factory=dict)
