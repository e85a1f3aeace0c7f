"""What one `tpdoctor verify` run measured, as data (goes into the JSON report under facts.verify)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class OpResult(BaseModel):
    """One collective at one message size, averaged over ranks as nccl-tests does."""

    op: str
    bytes: int = Field(description="nccl-tests' size S: the whole array (see busbw.py)")
    count: int = Field(description="elements of the whole array")
    dtype: str
    iters: int
    time_us: float = Field(description="mean time of one operation, averaged over ranks")
    algbw_gbps: float
    busbw_gbps: float
    wrong: int = Field(description="elements that differ from the exact expected result, summed over ranks")
    expected_gbps: float | None = Field(default=None, description="healthy floor for this size range")
    ceiling_gbps: float | None = None
    verdict: str = Field(default="not judged", description="ok | degraded | failed | not judged")
    note: str = ""


class TpMlpResult(BaseModel):
    ok: bool
    max_rel_err: float
    tolerance: float
    dtype: str
    shape: str


class Expectation(BaseModel):
    """The hardware's bus-bandwidth ceiling for this group of devices, and where it came from."""

    link: str = Field(description="nvlink | pcie | user | unknown")
    raw_gbps: float | None = Field(default=None, description="per-direction link bandwidth per device")
    efficiency: float | None = None
    ceiling_gbps: float | None = Field(
        default=None, description="raw * efficiency: NCCL's practical ring busbw"
    )
    source: str = ""
    details: list[str] = Field(default_factory=list)


class TransportInfo(BaseModel):
    """What the backend chose, read from its own INFO log."""

    backend: str
    transports: dict[str, int] = Field(default_factory=dict, description="P2P/SHM/NET/... -> channel count")
    lines: list[str] = Field(default_factory=list, description="a few of the lines that prove it")
    ccl_ipc_exchange: str | None = None
    readable: bool = False


class RankProblem(BaseModel):
    kind: str = Field(description="hung | died | error | not-started")
    ranks: list[int]
    last_ops: dict[int, str] = Field(default_factory=dict)
    detail: str = ""
    log_tail: dict[int, list[str]] = Field(default_factory=dict)


class VerifyResult(BaseModel):
    backend: str
    device: str
    world_size: int
    dtype: str
    quick: bool
    torch_version: str | None = None
    backend_version: str | None = None
    results: list[OpResult] = Field(default_factory=list)
    tp_mlp: TpMlpResult | None = None
    expectation: Expectation | None = None
    transport: TransportInfo | None = None
    problem: RankProblem | None = None
    interrupted: bool = False
    wall_s: float = 0.0
    env: dict[str, str] = Field(default_factory=dict, description="NCCL_/CCL_/TORCH_ settings in effect")
    leftover_processes: list[int] = Field(default_factory=list)
