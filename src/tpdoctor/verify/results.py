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
    timing: str = Field(
        default="loop",
        description="loop (eager calls under one timer) | cuda-graph / hip-graph (captured, replayed) | loop+events | loop+wallclock",
    )
    expected_us: float | None = Field(
        default=None, description="small messages: healthy upper bound of one call (latency.py)"
    )
    floor_us: float | None = Field(default=None, description="small messages: modeled floor of one call")
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
    batch: int | None = None


class PhaseCost(BaseModel):
    phase: str = Field(description="decode | prefill")
    tokens: int = Field(description="decode: batch (sequences); prefill: tokens in the chunk")
    allreduce_bytes: int
    allreduces: int
    measured_us: float | None = Field(default=None, description="one all-reduce, as measured")
    comm_us: float | None = Field(default=None, description="allreduces x measured: per step")
    floor_us: float | None = Field(default=None, description="allreduces x modeled floor")
    expected_max_us: float | None = Field(default=None, description="allreduces x floor x slack")
    vllm_comm_us: float | None = Field(
        default=None, description="--vllm-custom-ar: allreduces x vLLM's custom all-reduce time"
    )
    verdict: str = "not judged"


class InferenceProfile(BaseModel):
    model: str
    hidden: int
    layers: int
    tp: int
    dtype: str
    source: str
    latency_source: str | None = None
    phases: list[PhaseCost] = Field(default_factory=list)
    summary: str = ""


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


class EnvCause(BaseModel):
    """A variable in the ranks' environment that forces what the backend would choose."""

    name: str
    value: str
    forces: str = Field(description="channels | algorithm | protocol | transport | p2p-level | buffers")
    backend: str
    effect: str
    seen: str | None = Field(default=None, description="the log line or error that shows it took effect")


class TransportInfo(BaseModel):
    """What the backend chose, read from its own INFO log."""

    backend: str
    transports: dict[str, int] = Field(default_factory=dict, description="P2P/SHM/NET/... -> channel count")
    lines: list[str] = Field(default_factory=list, description="a few of the lines that prove it")
    ccl_ipc_exchange: str | None = None
    coll_channels: int | None = Field(default=None, description="NCCL's 'N coll channels' at init")
    env_lines: dict[str, str] = Field(
        default_factory=dict, description="NCCL_X -> its 'NCCL_X set by environment to ...' line"
    )
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
    latency: list[OpResult] = Field(
        default_factory=list, description="small all-reduces (8 KiB-16 MiB and the profile's sizes)"
    )
    vllm_latency: list[OpResult] = Field(
        default_factory=list, description="--vllm-custom-ar: vLLM's custom all-reduce at the small sizes"
    )
    vllm_note: str | None = Field(default=None, description="why vLLM's custom all-reduce did not run")
    tp_mlp: TpMlpResult | None = Field(default=None, description="the worst of tp_mlps")
    tp_mlps: list[TpMlpResult] = Field(default_factory=list, description="one per decode batch")
    profile: InferenceProfile | None = None
    env_causes: list[EnvCause] = Field(
        default_factory=list, description="variables that force channels/algorithm/protocol/transport"
    )
    expectation: Expectation | None = None
    transport: TransportInfo | None = None
    problem: RankProblem | None = None
    failure_lines: list[str] = Field(
        default_factory=list, description="backend WARN/error lines from the ranks' logs (at most 20)"
    )
    interrupted: bool = False
    wall_s: float = 0.0
    env: dict[str, str] = Field(default_factory=dict, description="NCCL_/CCL_/TORCH_ settings in effect")
    leftover_processes: list[int] = Field(default_factory=list)
