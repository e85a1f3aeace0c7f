"""verify's small-message path and `--profile inference`: the latency floor, the profile's
arithmetic, the model presets, the TP MLP tolerance, and the nccl-tests comparison script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tpdoctor.model import Severity
from tpdoctor.verify import inference, latency, verdict
from tpdoctor.verify.results import Expectation, OpResult, VerifyResult

KIB, MIB = 1 << 10, 1 << 20
H200 = Expectation(link="nvlink", raw_gbps=478.1, efficiency=0.774, ceiling_gbps=370.0, source="test")
PCIE = Expectation(link="pcie", raw_gbps=31.5, efficiency=0.7, ceiling_gbps=22.1, source="test")


def _row(nbytes: int, us: float, timing: str = "cuda-graph", wrong: int = 0) -> OpResult:
    return OpResult(
        op="all_reduce",
        bytes=nbytes,
        count=nbytes // 4,
        dtype="fp32",
        iters=20,
        time_us=us,
        algbw_gbps=nbytes / us / 1e3,
        busbw_gbps=nbytes / us / 1e3,
        wrong=wrong,
        timing=timing,
    )


def _nccl_tests_times(path: Path) -> dict[int, float]:
    """size -> out-of-place time (us) of an all_reduce_perf table."""
    out = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) >= 13 and f[0].isdigit():
            out[int(f[0])] = float(f[5])
    return out


def test_floor_follows_nccl_tuning_constants() -> None:
    m = latency.model_for(H200, 2)
    assert m is not None
    # ring LL: 6.6 base + 2 steps x 0.6 us; Simple: 8.4 + 2 x 3.4 (NCCL 2.28.9 tuning.cc)
    assert m.latency_us("LL") == pytest.approx(7.8) and m.latency_us("Simple") == pytest.approx(15.2)
    assert m.bandwidth_gbps("LL") == pytest.approx(141.0)  # min(llMaxBw, 370 x 0.5)
    floor_1m, proto_1m = m.floor_us(MIB)
    assert proto_1m == "LL" and floor_1m == pytest.approx(7.8 + MIB / 141e3, abs=0.01)
    floor_16m, proto_16m = m.floor_us(16 * MIB)
    assert proto_16m == "Simple" and floor_16m == pytest.approx(15.2 + 16 * MIB / 370e3, abs=0.01)
    # 8 ranks: 14 ring steps; the floor grows with the rank count
    m8 = latency.model_for(H200, 8)
    assert m8 is not None and m8.floor_us(8 * KIB)[0] > m.floor_us(8 * KIB)[0]
    # PCIe has its own per-step latency; one rank, unknown links: no model
    mp = latency.model_for(PCIE, 2)
    assert mp is not None and mp.latency_us("LL") == pytest.approx(6.6 + 2 * 1.0)
    assert latency.model_for(H200, 1) is None
    assert latency.model_for(Expectation(link="unknown"), 2) is None
    assert latency.model_for(Expectation(link="user", ceiling_gbps=100.0), 2) is None


def test_measured_2xh200_nccl_tests_sit_between_floor_and_limit(shared_dir: Path) -> None:
    times = _nccl_tests_times(shared_dir / "research/gpu/h200x2-nccl-tests-allreduce.txt")
    m = latency.model_for(H200, 2)
    assert m is not None
    for size in (MIB, 4 * MIB, 16 * MIB):
        floor = m.floor_us(size)[0]
        assert floor <= times[size] <= m.limit_us(size), (size, floor, times[size])


def test_judge_latency_only_trusts_graph_timings() -> None:
    m = latency.model_for(H200, 2)
    rows = [
        _row(8 * KIB, 9.0),
        _row(64 * KIB, 40.0),
        _row(MIB, 30.0, timing="loop"),
        _row(16 * KIB, 9.0, wrong=3),
    ]
    verdict.judge_latency(rows, m, 2)
    assert [r.verdict for r in rows] == ["ok", "degraded", "not judged", "failed"]
    assert rows[0].floor_us == pytest.approx(7.86, abs=0.05) and rows[0].expected_us == pytest.approx(
        2 * rows[0].floor_us, abs=0.02
    )
    assert "host overhead" in rows[2].note
    one = [_row(8 * KIB, 9.0)]
    verdict.judge_latency(one, None, 1)
    assert one[0].verdict == "not judged"


def test_presets_and_custom_models() -> None:
    name, p = inference.resolve_model("Llama-3-70B", None, None)
    assert name == "llama-3-70b" and (p.hidden, p.layers, p.ffn) == (8192, 80, 28672)
    assert inference.PRESETS["llama-3-8b"].hidden == 4096 and inference.PRESETS["llama-3-8b"].layers == 32
    assert inference.PRESETS["qwen2.5-72b"].ffn == 29568
    assert all(pr.source.startswith("https://huggingface.co/") for pr in inference.PRESETS.values())
    name, p = inference.resolve_model(None, 5120, 40)
    assert name == "custom" and (p.hidden, p.layers, p.ffn) == (5120, 40, 20480)
    with pytest.raises(ValueError, match="unknown model"):
        inference.resolve_model("gpt-5", None, None)
    with pytest.raises(ValueError, match="--model-hidden"):
        inference.resolve_model(None, None, None)


def test_decode_and_prefill_sizes() -> None:
    p = inference.PRESETS["llama-3-70b"]
    # batch x hidden x 2 bytes (bf16): 16 KiB at batch 1, 1 MiB at batch 64
    assert [inference.decode_bytes(p, b, "bf16") for b in (1, 8, 64)] == [16 * KIB, 128 * KIB, MIB]
    assert inference.decode_bytes(p, 1, "fp32") == 32 * KIB
    sizes = inference.profile_sizes(p, "bf16")
    assert sizes == sorted({16 * KIB, 128 * KIB, MIB, 8 * MIB, 32 * MIB, 128 * MIB})


def test_measured_time_is_exact_or_log_interpolated() -> None:
    rows = [_row(8 * KIB, 8.0), _row(32 * KIB, 16.0), _row(64 * KIB, 1.0, wrong=1)]
    assert inference.measured_us(rows, 8 * KIB) == 8.0
    assert inference.measured_us(rows, 16 * KIB) == pytest.approx(11.31, abs=0.01)  # geometric mean
    assert inference.measured_us(rows, 64 * KIB) is None  # only a wrong row there, outside the range
    assert inference.measured_us(rows, 4 * KIB) is None


def test_profile_verdict_per_token() -> None:
    model = inference.PRESETS["llama-3-8b"]  # 32 layers: 64 all-reduces per decode step
    sizes = inference.profile_sizes(model, "bf16")
    m = latency.model_for(H200, 2)
    assert m is not None
    healthy = [_row(s, m.floor_us(s)[0] * 1.3) for s in sizes]
    prof = inference.build_profile("llama-3-8b", model, 2, "bf16", healthy, m)
    dec1 = prof.phases[0]
    assert (dec1.phase, dec1.tokens, dec1.allreduce_bytes, dec1.allreduces) == ("decode", 1, 8 * KIB, 64)
    assert dec1.comm_us == pytest.approx(64 * healthy[0].time_us, abs=0.1)
    assert dec1.expected_max_us == pytest.approx(64 * m.limit_us(8 * KIB), abs=0.1)
    assert {ph.verdict for ph in prof.phases} == {"ok"}
    assert "communication adds" in prof.summary and "per token at batch 1" in prof.summary
    assert f"expected <= {dec1.expected_max_us:g} us" in prof.summary

    slow = [_row(s, m.floor_us(s)[0] * 4) for s in sizes]
    prof2 = inference.build_profile("llama-3-8b", model, 2, "bf16", slow, m)
    assert {ph.verdict for ph in prof2.phases} == {"degraded"}
    res = VerifyResult(
        backend="nccl",
        device="H200",
        world_size=2,
        dtype="bf16",
        quick=False,
        profile=prof2,
        expectation=H200,
    )
    (f,) = verdict.findings(res)
    assert f.cause == "verify.latency-degraded" and f.severity is Severity.degraded
    assert "communication adds" in f.message

    one = inference.build_profile("llama-3-8b", model, 1, "bf16", healthy, None)
    assert {ph.verdict for ph in one.phases} == {"not judged"} and "one rank" in one.summary


def test_tp_mlp_tolerance_and_shape() -> None:
    workloads = pytest.importorskip("tpdoctor.verify.workloads")
    u = 2.0**-8
    # (2n + 2) bf16 roundings + 2 GEMMs of K fp32 accumulations, relative to max|output|
    assert workloads.tp_tolerance("bf16", 2, 28672) == pytest.approx(6 * u + 2 * 28672 * 2.0**-24)
    assert 0.02 < workloads.tp_tolerance("bf16", 2, 28672) < 0.03
    assert workloads.tp_tolerance("bf16", 8, 8192) > workloads.tp_tolerance("bf16", 2, 8192)
    assert workloads.tp_tolerance("fp32", 2, 1024) < 1e-3
    assert workloads.mlp_shape(29568, 8) == 29568 and workloads.mlp_shape(1792, 3) == 1794


def test_tp_mlp_tolerance_separates_a_missing_allreduce() -> None:
    """One rank's share of the row-parallel output against the full output, at decode shapes:
    the error a skipped all-reduce leaves is far above the tolerance at TP 2 and 8."""
    torch = pytest.importorskip("torch")
    workloads = pytest.importorskip("tpdoctor.verify.workloads")
    g = torch.Generator().manual_seed(1)
    hidden, ffn = 256, 1024
    for n in (2, 8):
        x = torch.randn(64, hidden, generator=g)
        w1 = torch.randn(hidden, ffn, generator=g) / hidden**0.5
        w2 = torch.randn(ffn, hidden, generator=g) / ffn**0.5
        k = ffn // n
        part = torch.nn.functional.gelu(x @ w1[:, :k]) @ w2[:k]
        full = torch.nn.functional.gelu(x @ w1) @ w2
        err = float((part - full).abs().max() / full.abs().max())
        assert err > 5 * workloads.tp_tolerance("bf16", n, ffn)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch")
def test_gloo_profile_run_measures_the_profile_sizes(tmp_path: Path) -> None:
    from conftest import run_cli

    p = run_cli(
        "verify", "--backend", "gloo", "--tp", "2", "--profile", "inference", "--model-hidden", "256",
        "--model-layers", "2", "--sizes", "none", "--small-sizes", "none", "--format", "json",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    v = json.loads(p.stdout)["facts"]["verify"]
    measured = {r["bytes"] for r in v["latency"]}
    assert measured == {256 * 2 * t for t in (1, 8, 64, 512, 2048, 8192)}
    assert all(r["timing"] == "loop+wallclock" and r["wrong"] == 0 for r in v["latency"])
    by_size = {r["bytes"]: r["time_us"] for r in v["latency"]}
    for ph in v["profile"]["phases"]:
        assert ph["allreduces"] == 4 and ph["comm_us"] == pytest.approx(
            4 * by_size[ph["allreduce_bytes"]], abs=0.1
        )
    assert [m["batch"] for m in v["tp_mlps"]] == [1, 64] and all(m["ok"] for m in v["tp_mlps"])
    assert v["results"] == []


def test_bad_profile_options_are_one_line_usage_errors() -> None:
    from conftest import run_cli

    for args in (
        ("--profile", "inference", "--model", "gpt-5"),
        ("--profile", "training", "--model", "llama-3-8b"),
        ("--model", "llama-3-8b"),
        ("--tp", "2", "--gpus", "3"),
        ("--small-sizes", "8Q"),
    ):
        p = run_cli("verify", "--backend", "gloo", *args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_compare_small_script(tmp_path: Path, shared_dir: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "compare_small", Path(__file__).parents[1] / "bench/gpu/compare_small.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    nccl = mod.parse_times((shared_dir / "research/gpu/h200x2-nccl-tests-allreduce.txt").read_text())
    assert nccl[MIB] == (16.45, 18.04)
    ver = {MIB: (18.5, "cuda-graph"), 4 * MIB: (45.0, "cuda-graph")}
    text, ok = mod.table(nccl, ver, "fp32")
    assert not ok and "**MISSED**" in text and "within 10%" in text  # 45.0 / 34.72 = 1.30


def test_vllm_custom_ar_rows_and_reasons_are_aggregated() -> None:
    from tpdoctor.verify.run import aggregate, vllm_note
    from tpdoctor.verify.worker import SMALL_OP, VLLM_OP

    def ev(step: int, op: str, secs: float, **kw: object) -> dict[str, object]:
        base = {"ev": "result", "step": step, "op": op, "bytes": 16 * KIB, "count": 8 * KIB, "iters": 20}
        return {**base, "seconds": secs, "wrong": 0, "timing": "cuda-graph", **kw}

    events = {
        r: [ev(1, SMALL_OP, 20e-6), ev(2, VLLM_OP, 8e-6, available=True, timing="vllm-custom-ar+cuda-graph")]
        for r in (0, 1)
    }
    results, lat, vllm, mlps = aggregate(events, 2, "bf16")
    assert results == [] and mlps == [] and [r.time_us for r in lat] == [20.0]
    assert [(r.op, r.time_us, r.timing) for r in vllm] == [("all_reduce", 8.0, "vllm-custom-ar+cuda-graph")]
    assert vllm_note(events) is None
    # profile: vLLM's per-step time next to NCCL's
    model = inference.ModelPreset(8192, 10, 28672, "test")
    prof = inference.build_profile("m", model, 2, "bf16", lat, None, vllm)
    assert prof.phases[0].comm_us == 400.0 and prof.phases[0].vllm_comm_us == 160.0
    off = {
        r: [{"ev": "result", "step": 1, "op": VLLM_OP, "available": False, "reason": "vllm not importable"}]
        for r in (0, 1)
    }
    assert aggregate(off, 2, "bf16")[2] == [] and vllm_note(off) == "vllm not importable"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch")
def test_vllm_custom_ar_is_optional() -> None:
    from conftest import run_cli

    p = run_cli(
        "verify",
        "--backend",
        "gloo",
        "--gpus",
        "2",
        "--quick",
        "--sizes",
        "none",
        "--vllm-custom-ar",
        "--format",
        "json",
    )
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["facts"]["verify"]["vllm_latency"] == [] and d["findings"] == []
    assert "vLLM custom all-reduce not run: needs CUDA/ROCm GPUs" in d["notes"]
