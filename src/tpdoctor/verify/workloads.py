"""The torch code each rank runs: timed collectives with exact checks, and a tiny TP MLP.

Imported only inside a worker process (torch is an optional extra). Backend-specific code is
kept to device selection and timing:
  nccl  CUDA (NVIDIA) or ROCm/HIP (RCCL behind the same name; torch.cuda is HIP there)
  xccl  XPU, built into torch >= 2.8 (PyTorch docs, torch.distributed "Backends")
  ccl   XPU or CPU through oneccl_bindings_for_pytorch ("import oneccl_bindings_for_pytorch"
        registers the backend; intel/torch-ccl README)
  gloo  CPU tensors, N processes: the CI path
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp32": torch.float32}
# Relative tolerance of the TP MLP against one device: fp32 allows TF32 matmuls (1e-3 relative
# covers them); bf16 rounds each partial sum (2^-8 unit roundoff, a few roundings). A missing or
# wrong all-reduce gives errors of order 1.
TP_TOLERANCE = {"bf16": 3e-2, "fp32": 1e-3}


def pattern_period(nranks: int) -> int:
    """Period m of the fill pattern: values 1..m, so a sum over n ranks stays <= 256, exact in bf16."""
    m = 128
    while m > 1 and nranks * m > 256:
        m //= 2
    return m


@dataclass
class Ctx:
    backend: str
    device_kind: str  # cuda | xpu | cpu
    rank: int
    world: int
    dtype_name: str
    iters: int
    warmup: int
    local_rank: int | None = None  # the device index on this host; the rank when None (one host)

    @property
    def device(self) -> torch.device:
        index = self.rank if self.local_rank is None else self.local_rank
        return torch.device("cpu") if self.device_kind == "cpu" else torch.device(self.device_kind, index)

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.dtype_name]

    def sync(self) -> None:
        if self.device_kind == "cuda":
            torch.cuda.synchronize()
        elif self.device_kind == "xpu":
            torch.xpu.synchronize()

    def barrier(self) -> None:
        """All ranks line up before a timed loop (a 1-element all-reduce works on every backend)."""
        t = torch.zeros(1, device=self.device)
        dist.all_reduce(t)
        self.sync()

    def seconds(self, fn: Callable[[], Any], iters: int) -> float:
        """Time `iters` back-to-back calls, as nccl-tests does (one timer around the loop)."""
        if self.device_kind == "cuda":
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end)) / 1000.0
        self.sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        self.sync()
        return time.perf_counter() - t0


def setup(cfg: dict[str, Any], rank: int) -> tuple[Ctx, dict[str, Any]]:
    """Select the device and initialise the process group: env:// rendezvous set by the launcher,
    or `cfg["init_method"]` (tcp://head:port, as vLLM's Ray executor passes it) with
    `cfg["local_rank"]` the device index on this node (`tpdoctor cluster verify`)."""
    backend, kind = cfg["backend"], cfg["device_kind"]
    local = int(cfg.get("local_rank", rank))
    if backend == "ccl":
        import oneccl_bindings_for_pytorch  # noqa: F401  registers the "ccl" backend
    if kind == "cuda":
        torch.cuda.set_device(local)
        # fp32 must mean fp32 in the MLP check; TF32 would only be covered by the tolerance.
        torch.backends.cuda.matmul.allow_tf32 = False
    elif kind == "xpu":
        torch.xpu.set_device(local)
    kwargs: dict[str, Any] = {
        "backend": backend,
        "init_method": cfg.get("init_method", "env://"),
        "rank": rank,
        "world_size": cfg["world"],
        # Our watchdog ends a hung group; the backend's own timeout must not fire first.
        "timeout": timedelta(seconds=float(cfg["timeout"]) + 60.0),
    }
    if backend == "nccl":
        # Eager communicator creation: NCCL init (and its transport log) happens here, not in op 1.
        kwargs["device_id"] = torch.device("cuda", local)
    dist.init_process_group(**kwargs)
    ctx = Ctx(backend, kind, rank, cfg["world"], cfg["dtype"], cfg["iters"], cfg["warmup"], local)
    ctx.barrier()
    info: dict[str, Any] = {"torch": torch.__version__, "device": str(ctx.device)}
    if kind == "cuda":
        info["device_name"] = torch.cuda.get_device_name(local)
        try:
            v = torch.cuda.nccl.version()  # type: ignore[no-untyped-call]
            info["backend_version"] = ".".join(str(x) for x in v) if isinstance(v, tuple) else str(v)
        except Exception:
            pass
        if getattr(torch.version, "hip", None):
            info["hip"] = torch.version.hip
    return ctx, info


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _all_gather(out: torch.Tensor, inp: torch.Tensor) -> None:
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    fn(out, inp)


def _reduce_scatter(out: torch.Tensor, inp: torch.Tensor) -> None:
    fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    fn(out, inp)


def element_count(nbytes: int, elsize: int, world: int, period: int) -> int:
    """Elements of the whole array, rounded down to a multiple of world*period (at least one)."""
    unit = world * period
    return max(unit, (nbytes // elsize) // unit * unit)


def run_collective(ctx: Ctx, op: str, nbytes: int, *, corrupt: bool = False) -> dict[str, Any]:
    """Warm up, time `iters` calls on a zero buffer (a sum of zeros never overflows), then one
    call on an exact pattern and count the elements that differ from the closed form."""
    n, r, m, dt, dev = ctx.world, ctx.rank, pattern_period(ctx.world), ctx.dtype, ctx.device
    elsize = torch.tensor([], dtype=dt).element_size()
    count = element_count(nbytes, elsize, n, m)
    shard = count // n
    if op == "all_reduce":
        # torch's all_reduce is in-place (nccl-tests' "in-place" columns).
        inp = out = torch.zeros(count, dtype=dt, device=dev)
        fn: Callable[[], Any] = lambda: dist.all_reduce(out)  # noqa: E731
    elif op == "all_gather":
        inp = torch.zeros(shard, dtype=dt, device=dev)
        out = torch.empty(count, dtype=dt, device=dev)
        fn = lambda: _all_gather(out, inp)  # noqa: E731
    elif op == "reduce_scatter":
        inp = torch.zeros(count, dtype=dt, device=dev)
        out = torch.empty(shard, dtype=dt, device=dev)
        fn = lambda: _reduce_scatter(out, inp)  # noqa: E731
    else:
        raise ValueError(f"unknown collective {op!r}")
    for _ in range(ctx.warmup):
        fn()
    ctx.barrier()
    secs = ctx.seconds(fn, ctx.iters) / ctx.iters

    # Exact check: rank k holds row_k[j] = (j + k) % m + 1 repeated; sums stay integers <= 256.
    ar = torch.arange(m, device=dev, dtype=torch.int64)
    rows = torch.stack([(ar + k) % m + 1 for k in range(n)])  # [n, m] int64
    inp.view(-1, m).copy_(rows[r].to(dt))
    if corrupt:
        inp.view(-1)[0] += 1  # test hook: one wrong element on this rank
    fn()
    ctx.sync()
    if op == "all_gather":
        wrong = int((out.view(n, -1, m) != rows.to(dt)[:, None, :]).sum().item())
    else:
        wrong = int((out.view(-1, m) != rows.sum(0).to(dt)).sum().item())
    return {"bytes": count * elsize, "count": count, "seconds": secs, "wrong": wrong, "iters": ctx.iters}


def tp_mlp(ctx: Ctx, *, skip_allreduce: bool = False) -> dict[str, Any]:
    """Column-parallel then row-parallel linear (Megatron-style) with one all-reduce, against the
    same MLP on one device. Every rank builds the same weights from one seed."""
    n, r = ctx.world, ctx.rank
    batch, hidden = 16, 256
    ffn = n * -(-1024 // n)  # 4*hidden, rounded up to a multiple of the TP size
    g = torch.Generator().manual_seed(20240607)
    x = torch.randn(batch, hidden, generator=g)
    w1 = torch.randn(hidden, ffn, generator=g) / hidden**0.5
    w2 = torch.randn(ffn, hidden, generator=g) / ffn**0.5
    x, w1, w2 = (t.to(device=ctx.device, dtype=ctx.dtype) for t in (x, w1, w2))
    k = ffn // n
    partial = torch.nn.functional.gelu(x @ w1[:, r * k : (r + 1) * k]) @ w2[r * k : (r + 1) * k, :]
    if not skip_allreduce:
        dist.all_reduce(partial)
    ref = torch.nn.functional.gelu(x @ w1) @ w2
    ctx.sync()
    err = float((partial.float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1e-30))
    tol = TP_TOLERANCE[ctx.dtype_name]
    return {
        "max_rel_err": err,
        "tolerance": tol,
        "ok": err <= tol,
        "shape": f"x[{batch},{hidden}] W1[{hidden},{ffn}] W2[{ffn},{hidden}] tp={n}",
    }
