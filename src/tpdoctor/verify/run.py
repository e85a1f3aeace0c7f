"""The whole `tpdoctor verify`: probe devices, launch the ranks, aggregate, judge, build the Report."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from tpdoctor.errors import NoGpuError, UsageError
from tpdoctor.model import Report
from tpdoctor.verify import inference, launcher, sizes, transport, verdict
from tpdoctor.verify.busbw import OPS, algbw_gbps, busbw_gbps
from tpdoctor.verify.envcause import env_causes
from tpdoctor.verify.expect import expect_for
from tpdoctor.verify.latency import model_for
from tpdoctor.verify.results import OpResult, TpMlpResult, VerifyResult
from tpdoctor.verify.worker import SMALL_OP, VLLM_OP

BACKENDS = ("auto", "nccl", "xccl", "ccl", "gloo")
# Set in every rank only when --no-nvls is given (see docs/verify.md, "NVLink SHARP").
NO_NVLS_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
ENV_PREFIXES = (
    "NCCL_",
    "CCL_",
    "TORCH_NCCL",
    "TORCH_SYMM",
    "NVSHMEM_",
    "CUDA_VISIBLE",
    "ROCR_",
    "HIP_VISIBLE",
    "ZE_",
    "FI_",
    "GLOO_",
    "RCCL_",
    "HSA_",
)


@dataclass
class VerifyOptions:
    gpus: int | None = None
    backend: str = "auto"
    sizes: str | None = None
    dtype: str = "bf16"
    quick: bool = False
    timeout: float = 120.0
    iters: int | None = None
    warmup: int | None = None
    expect_busbw: float | None = None
    no_nvls: bool = False
    logs_dir: Path | None = None
    small_sizes: str | None = None  # "none" skips the small-message path
    profile: str | None = None  # "inference"
    model: str | None = None  # a preset of inference.PRESETS
    model_hidden: int | None = None
    model_layers: int | None = None
    tp: int | None = None
    vllm_custom_ar: bool = False


PROFILES = ("inference",)
# nccl-tests' default is 20 timed iterations and 5 warm-up; a thousand times that is still a measurement
MAX_ITERS = 100_000
# Decode batches of the TP MLP check (one token per sequence).
MLP_BATCHES = (1, 64)
# The MLP's width when no model is named: llama-3-70b on a GPU; on CPU a small stand-in (the
# gloo path proves the machinery; a 8192x28672 GEMM per rank would take seconds there).
GPU_MLP = (8192, 28672)
CPU_MLP = (512, 1792)


@dataclass
class DeviceProbe:
    backend: str
    device_kind: str  # cuda | xpu | cpu
    vendor: str  # nvidia | amd | intel | cpu
    count: int
    torch_version: str


def probe(backend: str) -> DeviceProbe:
    """Which backend and how many devices. Imports torch; a missing piece is a clear error, not a traceback."""
    if importlib.util.find_spec("torch") is None:
        raise UsageError("verify needs PyTorch: pip install 'tpdoctor[verify]' (or torch>=2.2)")
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise UsageError(f"this torch build ({torch.__version__}) has no torch.distributed")
    cuda = torch.cuda.is_available()
    cuda_count = torch.cuda.device_count() if cuda else 0
    xpu = bool(getattr(torch, "xpu", None) and torch.xpu.is_available())
    xpu_count = torch.xpu.device_count() if xpu else 0
    gpu_vendor = "amd" if getattr(torch.version, "hip", None) else "nvidia"
    tv = str(torch.__version__)
    if backend == "auto":
        if cuda_count:
            backend = "nccl"
        elif xpu_count:
            backend = "xccl" if getattr(dist, "is_xccl_available", lambda: False)() else "ccl"
        else:
            raise NoGpuError(
                "no GPU is visible to torch here (CUDA/ROCm/XPU); `tpdoctor check` says why, "
                "and `--backend gloo` tests the launcher and the checks on CPU"
            )
    if backend == "nccl":
        if not cuda_count:
            raise NoGpuError(f"--backend nccl needs CUDA or ROCm GPUs; torch {tv} sees none")
        return DeviceProbe("nccl", "cuda", gpu_vendor, cuda_count, tv)
    if backend == "xccl":
        if not getattr(dist, "is_xccl_available", lambda: False)():
            raise UsageError(f"--backend xccl needs torch >= 2.8 built with XPU support (torch {tv})")
        if not xpu_count:
            raise NoGpuError("--backend xccl needs Intel XPU devices; torch sees none")
        return DeviceProbe("xccl", "xpu", "intel", xpu_count, tv)
    if backend == "ccl":
        if importlib.util.find_spec("oneccl_bindings_for_pytorch") is None:
            raise UsageError("--backend ccl needs oneccl_bindings_for_pytorch (intel/torch-ccl)")
        if xpu_count:
            return DeviceProbe("ccl", "xpu", "intel", xpu_count, tv)
        return DeviceProbe("ccl", "cpu", "cpu", os.cpu_count() or 1, tv)
    if backend == "gloo":
        return DeviceProbe("gloo", "cpu", "cpu", os.cpu_count() or 1, tv)
    raise UsageError(f"unknown backend {backend!r}: one of {', '.join(BACKENDS)}")


def plan(opts: VerifyOptions, dev: DeviceProbe) -> tuple[list[int], int, int]:
    on_cpu = dev.device_kind == "cpu"
    spec = opts.sizes or (
        (sizes.CPU_QUICK if opts.quick else sizes.CPU_SIZES)
        if on_cpu
        else (sizes.GPU_QUICK if opts.quick else sizes.GPU_SIZES)
    )
    try:
        size_list = [] if spec.strip().lower() == "none" else sizes.parse_sizes(spec)
    except ValueError as exc:
        raise UsageError(f"--sizes: {exc}") from None
    # nccl-tests' `-n 20 -w 5` on devices; a CPU run only has to prove the machinery.
    iters = opts.iters or (3 if on_cpu else 20)
    warmup = opts.warmup if opts.warmup is not None else (1 if on_cpu else 5)
    return size_list, iters, warmup


def plan_small(opts: VerifyOptions, dev: DeviceProbe, extra: list[int]) -> list[int]:
    """Sizes of the small-message (latency) path, plus the inference profile's exact sizes."""
    on_cpu = dev.device_kind == "cpu"
    spec = opts.small_sizes or (
        (sizes.CPU_SMALL_QUICK if opts.quick else sizes.CPU_SMALL)
        if on_cpu
        else (sizes.GPU_SMALL_QUICK if opts.quick else sizes.GPU_SMALL)
    )
    if spec.strip().lower() == "none":
        return sorted(set(extra))
    try:
        return sorted(set(sizes.parse_sizes(spec)) | set(extra))
    except ValueError as exc:
        raise UsageError(f"--small-sizes: {exc}") from None


def resolve_profile(opts: VerifyOptions) -> tuple[str, inference.ModelPreset] | None:
    if opts.profile is None:
        if opts.model or opts.model_hidden:
            raise UsageError("--model / --model-hidden go with --profile inference")
        return None
    if opts.profile not in PROFILES:
        raise UsageError(f"unknown profile {opts.profile!r}: one of {', '.join(PROFILES)}")
    try:
        return inference.resolve_model(opts.model, opts.model_hidden, opts.model_layers)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def worker_env(dev: DeviceProbe, opts: VerifyOptions) -> dict[str, str]:
    env = dict(os.environ)
    if dev.backend == "nccl":
        # Channel lines ("via P2P/CUMEM", "via SHM") are INFO of subsystem INIT; kept if the user chose otherwise.
        env.setdefault("NCCL_DEBUG", "INFO")
        # ENV: "NCCL_ALGO set by environment to ..." lines, evidence for verify.env-forced.
        env.setdefault("NCCL_DEBUG_SUBSYS", "INIT,GRAPH,ENV,P2P,SHM,NET")
    if dev.backend in ("xccl", "ccl"):
        env.setdefault("CCL_LOG_LEVEL", "info")  # prints the effective CCL_ZE_IPC_EXCHANGE
    if dev.device_kind == "cpu":
        env.setdefault("OMP_NUM_THREADS", "1")  # N CPU ranks must not fight over every core
        if Path("/sys/class/net/lo").exists():
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # one host: stay on loopback
    if opts.no_nvls:
        for k, v in NO_NVLS_ENV.items():
            env.setdefault(k, v)
    return env


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM to tpdoctor cleans up like Ctrl-C (only the main thread may set handlers)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def aggregate(
    events: dict[int, list[dict[str, Any]]], world: int, dtype: str
) -> tuple[list[OpResult], list[OpResult], list[OpResult], list[TpMlpResult]]:
    """Per (op, size): time averaged over ranks (nccl-tests' default), wrong elements summed."""
    per_step: dict[int, list[dict[str, Any]]] = {}
    for evs in events.values():
        for e in evs:
            if e["ev"] == "result":
                per_step.setdefault(int(e["step"]), []).append(e)
    results: list[OpResult] = []
    latency: list[OpResult] = []
    vllm: list[OpResult] = []
    mlps: list[TpMlpResult] = []
    for step in sorted(per_step):
        rs = per_step[step]
        op = rs[0]["op"]
        if op == VLLM_OP and not all(e.get("available") for e in rs):
            continue  # the reason is read by vllm_note()
        if op == "tp_mlp":
            worst = max(rs, key=lambda e: float(e["max_rel_err"]))
            mlps.append(
                TpMlpResult(
                    ok=all(bool(e["ok"]) for e in rs),
                    max_rel_err=float(worst["max_rel_err"]),
                    tolerance=float(worst["tolerance"]),
                    dtype=dtype,
                    shape=str(worst["shape"]),
                    batch=worst.get("batch"),
                )
            )
            continue
        small = op in (SMALL_OP, VLLM_OP)
        target = vllm if op == VLLM_OP else latency if small else results
        op = "all_reduce" if small else op
        if len(rs) < world:
            continue  # a rank did not finish this step: the problem report covers it
        secs = sum(float(e["seconds"]) for e in rs) / len(rs)
        nbytes = int(rs[0]["bytes"])
        target.append(
            OpResult(
                op=op,
                bytes=nbytes,
                count=int(rs[0]["count"]),
                dtype=dtype,
                iters=int(rs[0]["iters"]),
                time_us=round(secs * 1e6, 2),
                algbw_gbps=round(algbw_gbps(nbytes, secs), 2),
                busbw_gbps=round(busbw_gbps(op, nbytes, secs, world), 2),
                wrong=sum(int(e["wrong"]) for e in rs),
                timing=str(rs[0].get("timing", "loop")),
            )
        )
    return results, latency, vllm, mlps


def vllm_note(events: dict[int, list[dict[str, Any]]]) -> str | None:
    """The first reason a rank gave for not running vLLM's custom all-reduce."""
    for evs in events.values():
        for e in evs:
            if e["ev"] == "result" and e.get("op") == VLLM_OP and not e.get("available"):
                return str(e.get("reason") or "unavailable")
    return None


def worst_mlp(mlps: list[TpMlpResult]) -> TpMlpResult | None:
    """The failing case if any, else the one closest to its tolerance."""
    if not mlps:
        return None
    return min(mlps, key=lambda t: (t.ok, -t.max_rel_err / t.tolerance))


def failure_lines(lines: list[str], keep: int = 20) -> list[str]:
    """Backend warnings and errors from the ranks' logs (NCCL WARN, RCCL, oneCCL |CCL_ERROR|)."""
    out = [
        ln.strip()[:400]
        for ln in lines
        if " NCCL WARN " in ln or "|CCL_ERROR|" in ln or "algorithm/protocol" in ln or "Last error" in ln
    ]
    return out[:keep]


def run_verify(
    opts: VerifyOptions,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> VerifyResult:
    if opts.backend not in BACKENDS:
        raise UsageError(f"unknown backend {opts.backend!r}: one of {', '.join(BACKENDS)}")
    if opts.dtype not in ("bf16", "fp32"):
        raise UsageError("--dtype must be bf16 or fp32")
    # Option errors before the probe: it imports torch (seconds).
    # A count with no ceiling: `--gpus 1000000000 --backend gloo` (and `--tp`) launched ranks until the machine gave
    # out, `--iters 10**14` timed one size for ever (progress never stops, so the watchdog never fires): gsafe45
    from tpdoctor.limits import MAX_GPUS, cap_count, cap_seconds

    cap_seconds(opts.timeout, "--timeout")

    for flag, count, cap in (
        ("--gpus", opts.gpus, MAX_GPUS),
        ("--tp", opts.tp, MAX_GPUS),
        ("--iters", opts.iters, MAX_ITERS),
        ("--warmup", opts.warmup, MAX_ITERS),
    ):
        if count is not None:
            cap_count(count, flag, cap)
    if opts.tp is not None and opts.gpus is not None and opts.gpus != opts.tp:
        raise UsageError(f"--tp {opts.tp} and --gpus {opts.gpus} disagree: a TP group is one rank per GPU")
    prof_model = resolve_profile(opts)
    if opts.expect_busbw is not None and not (0 < opts.expect_busbw < float("inf")):
        # no busbw compares with nan, 0, -5 or inf meaningfully: "ceiling nan GB/s" was printed, exit 0 (gsafe43)
        raise UsageError(f"--expect-busbw must be a positive number of GB/s, not {opts.expect_busbw}")
    for flag, spec in (("--sizes", opts.sizes), ("--small-sizes", opts.small_sizes)):
        if spec and spec.strip().lower() != "none":
            try:
                sizes.parse_sizes(spec)
            except ValueError as exc:
                raise UsageError(f"{flag}: {exc}") from None
    dev = probe(opts.backend)
    world = opts.gpus if opts.gpus is not None else (dev.count if dev.device_kind != "cpu" else 2)
    if world < 1:
        raise UsageError("--gpus must be >= 1")
    if dev.device_kind != "cpu" and world > dev.count:
        raise NoGpuError(
            f"--gpus {world} asked for, but only {dev.count} {dev.vendor} GPU(s) are visible "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
        )
    if opts.tp is not None:
        world = opts.tp
        if dev.device_kind != "cpu" and world > dev.count:
            raise NoGpuError(f"--tp {world} asked for, but only {dev.count} {dev.vendor} GPU(s) are visible")
    size_list, iters, warmup = plan(opts, dev)
    extra = inference.profile_sizes(prof_model[1], opts.dtype) if prof_model else []
    small_list = plan_small(opts, dev, extra)
    if dev.device_kind == "cpu":
        mlp_hidden, mlp_ffn = CPU_MLP  # a model-sized GEMM would take seconds per rank on a CPU
    else:
        mlp_hidden, mlp_ffn = (prof_model[1].hidden, prof_model[1].ffn) if prof_model else GPU_MLP
    steps: list[tuple[str, int]] = (
        [("tp_mlp", b) for b in MLP_BATCHES]
        + [(SMALL_OP, s) for s in small_list]
        + [(VLLM_OP, s) for s in small_list if opts.vllm_custom_ar and s <= sizes.VLLM_CUSTOM_AR_MAX]
        + [(op, s) for op in OPS for s in size_list]
    )
    if on_plan:
        on_plan(len(steps) + 1)
    env = worker_env(dev, opts)
    exp = expect_for(dev.vendor, world, opts.expect_busbw) if world > 1 else None
    run_dir = opts.logs_dir or Path(tempfile.mkdtemp(prefix="tpdoctor-verify-"))
    config = {
        "backend": dev.backend,
        "device_kind": dev.device_kind,
        "dtype": opts.dtype,
        "iters": iters,
        "warmup": warmup,
        "timeout": opts.timeout,
        "steps": steps,
        "mlp_hidden": mlp_hidden,
        "mlp_ffn": mlp_ffn,
    }
    try:
        with _sigterm_as_interrupt():
            outcome = launcher.launch(world, config, run_dir, env, timeout=opts.timeout, on_event=on_event)
        results, latency, vllm_rows, mlps = aggregate(outcome.ranks, world, opts.dtype)
        verdict.judge(results, exp, world)
        log_lines: list[str] = []
        for path in outcome.log_paths.values():
            try:
                log_lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
            except OSError:
                pass
        tinfo, backend_version = transport.parse_logs(log_lines, dev.backend)
        lat_model = model_for(exp, world)
        if lat_model is not None and lat_model.link != "nvlink" and transport.fallbacks(tinfo):
            # PCIe without peer access: SHM may be NCCL's right choice there (transport-fallback is
            # only a notice), and NCCL's P2P latencies do not describe it.
            lat_model = None
        verdict.judge_latency(latency, lat_model, world)
    finally:
        if opts.logs_dir is None:
            shutil.rmtree(run_dir, ignore_errors=True)
    init = next((e for e in outcome.ranks.get(0, []) if e["ev"] == "done" and e.get("op") == "init"), {})
    profile = (
        inference.build_profile(
            prof_model[0], prof_model[1], world, opts.dtype, latency, lat_model, vllm_rows
        )
        if prof_model
        else None
    )
    rank_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIXES)}
    return VerifyResult(
        backend=dev.backend,
        device=str(init.get("device_name") or dev.device_kind),
        world_size=world,
        dtype=opts.dtype,
        quick=opts.quick,
        torch_version=dev.torch_version,
        backend_version=init.get("backend_version") or backend_version,
        results=results,
        latency=latency,
        vllm_latency=vllm_rows,
        vllm_note=vllm_note(outcome.ranks) if opts.vllm_custom_ar else None,
        tp_mlp=worst_mlp(mlps),
        tp_mlps=mlps,
        profile=profile,
        env_causes=env_causes(rank_env, dev.backend, tinfo, fallback=bool(transport.fallbacks(tinfo))),
        expectation=exp,
        transport=tinfo,
        problem=outcome.problem,
        failure_lines=failure_lines(log_lines),
        wall_s=round(outcome.wall_s, 2),
        env=rank_env,
        leftover_processes=outcome.leftover,
    )


def build_report(res: VerifyResult) -> Report:
    notes = [
        f"verify: {res.world_size} rank(s), backend {res.backend}"
        + (f" {res.backend_version}" if res.backend_version else "")
        + f", {res.device}, {res.dtype}, torch {res.torch_version}, {res.wall_s:.1f} s"
    ]
    exp = res.expectation
    if exp and exp.ceiling_gbps:
        notes.append(
            f"expected ring busbw ceiling {exp.ceiling_gbps:g} GB/s ({exp.link}, {exp.source}"
            + (f", {exp.raw_gbps:g} GB/s raw x {exp.efficiency:g}" if exp.raw_gbps and exp.efficiency else "")
            + ")"
        )
    elif exp:
        notes.append(f"bandwidth not judged: {'; '.join(exp.details) or exp.source}")
    if res.transport and res.transport.transports:
        notes.append(
            "transport: " + ", ".join(f"{t} x{c}" for t, c in sorted(res.transport.transports.items()))
        )
    if res.profile:
        notes.append(f"inference profile: {res.profile.summary} (model shape: {res.profile.source})")
    if res.vllm_note:
        notes.append(f"vLLM custom all-reduce not run: {res.vllm_note}")
    findings = verdict.findings(res)
    if res.env_causes and not any(f.cause == "verify.env-forced" for f in findings):
        notes.append(
            "set but not blamed (nothing measured was slow or failed): "
            + "; ".join(f"{c.name}={c.value} forces {c.forces}" for c in res.env_causes)
        )
    if res.leftover_processes:
        notes.append(f"processes left behind (could not be ended): {res.leftover_processes}")
    return Report(
        command="verify",
        findings=findings,
        facts={"verify": res.model_dump(mode="json"), "ranges": verdict.range_verdicts(res.results)},
        notes=notes,
    )
