"""verify's pure parts: sizes, busbw, transport parsing, the expected-bandwidth model, verdicts."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from tpdoctor.model import Severity
from tpdoctor.verify import busbw, expect, sizes, transport, verdict
from tpdoctor.verify.launcher import Rank
from tpdoctor.verify.results import Expectation, OpResult, TpMlpResult, VerifyResult
from tpdoctor.verify.run import aggregate, build_report
from tpdoctor.verify.worker import parse_faults

MIB, GIB = 1 << 20, 1 << 30


def test_sizes_range_list_and_units() -> None:
    assert sizes.parse_sizes("1M..4G") == [MIB * 4**k for k in range(7)]
    assert sizes.parse_sizes("1M..8M:2") == [MIB, 2 * MIB, 4 * MIB, 8 * MIB]
    assert sizes.parse_sizes("64M, 1M,64MiB") == [MIB, 64 * MIB]
    assert sizes.parse_size("4k") == 4096
    assert sizes.human(256 * MIB) == "256 MiB" and sizes.human(1536) == "1.5 KiB"
    for bad in ("", "1X", "4G..1M", "1M..4G:1", "-1M"):
        with pytest.raises(ValueError):
            sizes.parse_sizes(bad)


def test_busbw_factors_follow_nccl_tests() -> None:
    # nccl-tests 2xH200 row: 268435456 B in 892.91 us -> 300.63 GB/s algbw = busbw at n=2.
    assert busbw.busbw_gbps("all_reduce", 268435456, 892.91e-6, 2) == pytest.approx(300.63, abs=0.01)
    assert busbw.bus_factor("all_reduce", 4) == pytest.approx(1.5)
    assert busbw.bus_factor("all_gather", 8) == pytest.approx(7 / 8)
    assert busbw.bus_factor("reduce_scatter", 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        busbw.bus_factor("broadcast", 2)


P2P_LOG = """\
vm:1201:1201 [0] NCCL INFO NCCL version 2.28.9+cuda13.0
vm:1201:1201 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read
vm:1201:1201 [0] NCCL INFO Channel 01/0 : 0[0] -> 1[1] via P2P/CUMEM/read
vm:1202:1202 [1] NCCL INFO Channel 00/0 : 1[1] -> 0[0] via P2P/CUMEM/read
vm:1202:1202 [1] NCCL INFO Connected all rings, use ring PXN 0 GDR 1
"""
SHM_LOG = """\
vm:1301:1301 [0] NCCL INFO Channel 00 : 0[0] -> 1[1] via SHM/direct/direct
vm:1301:1301 [0] NCCL INFO Channel 01/0 : 0[0] -> 1[1] via SHM/direct/direct
vm:1301:1301 [0] NCCL INFO Channel 00/0 : 1[0] -> 0[0] [receive] via NET/Socket/0
old:1:1 [0] NCCL INFO Channel 00 : 0[3000] -> 1[4000] via P2P/IPC
"""


def test_transport_parser_counts_channels_per_transport() -> None:
    info, version = transport.parse_logs(P2P_LOG.splitlines(), "nccl")
    assert version == "2.28.9+cuda13.0"
    assert info.transports == {"P2P": 3} and info.readable
    assert transport.fallbacks(info) == {}
    info, _ = transport.parse_logs(SHM_LOG.splitlines(), "nccl")
    assert info.transports == {"SHM": 2, "NET/Socket": 1, "P2P": 1}
    assert transport.fallbacks(info) == {"SHM": 2, "NET/Socket": 1}
    ccl, _ = transport.parse_logs(
        ["2025:11:26-12:43:48:(4016676) |CCL_INFO| CCL_ZE_IPC_EXCHANGE: drmfd"], "xccl"
    )
    assert ccl.ccl_ipc_exchange == "drmfd" and ccl.readable


NVLINK_S = """\
GPU 0: NVIDIA H200 (UUID: GPU-2398d937)
\t Link 0: 26.562 GB/s
\t Link 1: 26.562 GB/s
GPU 1: NVIDIA H200 (UUID: GPU-9c7aae7a)
\t Link 0: 26.562 GB/s
\t Link 1: <inactive>
"""


def test_nvlink_model_from_nvidia_smi_takes_the_slowest_gpu() -> None:
    def run(cmd: Any) -> str | None:
        return NVLINK_S if list(cmd) == ["nvidia-smi", "nvlink", "-s"] else None

    e = expect.expect_nvidia(2, env={}, run=run, use_nvml=False)
    assert e.link == "nvlink" and e.raw_gbps == pytest.approx(26.6, abs=0.1)  # GPU 1 has one active link
    assert e.ceiling_gbps == pytest.approx(26.562 * expect.NVLINK_EFFICIENCY, abs=0.1)


def test_nvlink_model_from_nvml_h200() -> None:
    calls: list[str] = []

    class FV:
        nvmlReturn = 0
        value = types.SimpleNamespace(uiVal=26562)

    fake = types.SimpleNamespace(
        NVML_NVLINK_MAX_LINKS=18,
        nvmlInit=lambda: calls.append("init"),
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetPciInfo=lambda h: types.SimpleNamespace(busId=b"00000000:1%d:00.0" % h),
        nvmlDeviceGetNvLinkState=lambda h, link: 1,
        nvmlDeviceGetFieldValues=lambda h, ids: [FV()],
    )
    e = expect.expect_nvidia(2, env={"CUDA_VISIBLE_DEVICES": "0,1"}, run=lambda c: None, nvml=fake)  # type: ignore[arg-type]
    assert calls == ["init", "shutdown"]
    assert e.raw_gbps == pytest.approx(478.1, abs=0.1)  # 18 x 26.562: NV18 on H200
    assert 360 <= (e.ceiling_gbps or 0) <= 375  # NCCL's practical ring ceiling on NVLink4 (~370)


def test_pcie_model_reads_sysfs(tmp_path: Path) -> None:
    for bdf, width in (("0000:18:00.0", "16"), ("0000:3b:00.0", "8")):
        d = tmp_path / "sys/bus/pci/devices" / bdf
        d.mkdir(parents=True)
        (d / "max_link_speed").write_text("16.0 GT/s PCIe\n")
        (d / "current_link_width").write_text(width + "\n")

    def run(cmd: Any) -> str | None:
        if "--query-gpu=index,pci.bus_id" in cmd:
            return "0, 00000000:18:00.0\n1, 00000000:3B:00.0\n"
        return "GPU 0: X\nGPU 1: Y\n" if "nvlink" in cmd else None

    e = expect.expect_nvidia(2, env={}, run=run, use_nvml=False, sysfs_root=tmp_path)
    assert e.link == "pcie"
    assert e.raw_gbps == pytest.approx(16 * 8 * (128 / 130) / 8, abs=0.1)  # the x8 GPU bounds the ring
    assert expect.pcie_encoding(5.0) == 0.8 and expect.pcie_encoding(64.0) == pytest.approx(242 / 256)


def test_visible_devices_and_bus_ids() -> None:
    assert expect.visible_indices(2, {"CUDA_VISIBLE_DEVICES": "3,1,2"}) == [3, 1]
    assert expect.visible_indices(2, {"CUDA_VISIBLE_DEVICES": "GPU-abc"}) is None
    assert expect.sysfs_bdf("00000000:3B:00.0") == "0000:3b:00.0"
    assert expect.expect_for("intel", 2).link == "unknown"
    assert expect.expect_for("nvidia", 2, user_gbps=100.0).ceiling_gbps == 100.0


def _result(busbw_at: dict[int, float], expectation: Expectation, **kw: Any) -> VerifyResult:
    rows = [
        OpResult(
            op="all_reduce",
            bytes=b,
            count=b // 2,
            dtype="bf16",
            iters=20,
            time_us=1.0,
            algbw_gbps=v,
            busbw_gbps=v,
            wrong=kw.pop(f"wrong_{b}", 0),
        )
        for b, v in busbw_at.items()
    ]
    res = VerifyResult(
        backend="nccl",
        device="NVIDIA H200",
        world_size=2,
        dtype="bf16",
        quick=True,
        results=rows,
        expectation=expectation,
        **kw,
    )
    verdict.judge(res.results, expectation, 2)
    return res


H200 = Expectation(link="nvlink", raw_gbps=478.1, efficiency=0.774, ceiling_gbps=370.0, source="test")


def test_healthy_h200_readings_are_ok_and_small_sizes_not_judged() -> None:
    # The 2xH200 nccl-tests readings (research/gpu/README.md).
    res = _result({MIB: 63.7, 64 * MIB: 269.0, 256 * MIB: 300.6, GIB: 329.3, 4 * GIB: 345.0}, H200)
    assert [r.verdict for r in res.results] == ["not judged", "ok", "ok", "ok", "ok"]
    assert verdict.findings(res) == []
    assert build_report(res).exit_code == 0


def test_p2p_disabled_is_degraded_with_transport_fallback() -> None:
    # NCCL_P2P_DISABLE=1 on 2xH200: SHM, 27.8 GB/s at 64 MiB (research/gpu/README.md).
    info, _ = transport.parse_logs(SHM_LOG.splitlines()[:2], "nccl")
    res = _result({64 * MIB: 27.8, 256 * MIB: 30.0}, H200, transport=info, env={"NCCL_P2P_DISABLE": "1"})
    assert {r.verdict for r in res.results} == {"degraded"}
    found = {f.cause: f for f in verdict.findings(res)}
    assert set(found) == {"verify.bandwidth-degraded", "verify.transport-fallback"}
    assert found["verify.transport-fallback"].severity is Severity.degraded
    assert any("NCCL_P2P_DISABLE=1" in e.text for e in found["verify.transport-fallback"].evidence)
    assert "8%" in found["verify.bandwidth-degraded"].message  # 27.8 of 370
    assert build_report(res).exit_code == 4


def test_wrong_results_and_mlp_mismatch_are_blockers() -> None:
    res = _result({64 * MIB: 300.0}, H200, **{f"wrong_{64 * MIB}": 2})
    res.tp_mlp = TpMlpResult(ok=False, max_rel_err=0.8, tolerance=0.03, dtype="bf16", shape="s")
    assert res.results[0].verdict == "failed"
    causes = {f.cause for f in verdict.findings(res)}
    assert causes == {"verify.wrong-results", "verify.tp-mlp-mismatch"}
    assert build_report(res).exit_code == 3


def test_transport_fallback_without_nvlink_is_only_a_notice() -> None:
    info, _ = transport.parse_logs(SHM_LOG.splitlines()[:1], "nccl")
    pcie = Expectation(link="pcie", raw_gbps=31.5, efficiency=0.7, ceiling_gbps=22.0)
    res = _result({256 * MIB: 20.0}, pcie, transport=info)
    (f,) = verdict.findings(res)
    assert f.cause == "verify.transport-fallback" and f.severity is Severity.notice


def test_aggregate_averages_time_over_ranks_and_sums_wrong() -> None:
    ev = {
        r: [
            {
                "ev": "result",
                "step": 1,
                "op": "all_reduce",
                "bytes": 1 << 28,
                "count": 1 << 27,
                "seconds": s,
                "wrong": w,
                "iters": 20,
            }
        ]
        for r, s, w in ((0, 0.0009, 0), (1, 0.0011, 1))
    }
    (row,), latency, vllm, mlps = aggregate(ev, 2, "bf16")
    assert (
        latency == []
        and vllm == []
        and mlps == []
        and row.wrong == 1
        and row.time_us == pytest.approx(1000.0)
    )
    assert row.busbw_gbps == pytest.approx((1 << 28) / 1e-3 / 1e9, rel=1e-3)


def test_event_reader_waits_for_complete_lines(tmp_path: Path) -> None:
    p = tmp_path / "rank0.events.jsonl"
    p.write_text(json.dumps({"ev": "start", "step": 0, "op": "init"}) + "\n" + '{"ev": "do')
    r = Rank(0, proc=None, events_path=p, log_path=tmp_path / "x.log")  # type: ignore[arg-type]
    assert len(r.read_events()) == 1
    with p.open("a") as f:
        f.write('ne", "step": 0, "op": "init"}\n')
    assert r.read_events()[0]["ev"] == "done" and r.last_op() == "after init (step 0)"


def test_fault_spec_parsing() -> None:
    f = parse_faults("hang:1:all_gather, die:0, corrupt:2, tp-skip")
    assert f.hang == {1: "all_gather"} and f.die == {0: None} and f.corrupt == {2} and f.tp_skip
    with pytest.raises(ValueError):
        parse_faults("explode:1")


def test_compare_script_reads_nccl_tests_and_verify_json(shared_dir: Path) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench/gpu/compare_nccl_tests.py"
    spec = importlib.util.spec_from_file_location("compare_nccl_tests", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    nccl = mod.parse_nccl_tests((shared_dir / "research/gpu/h200x2-nccl-tests-allreduce.txt").read_text())
    assert nccl[268435456] == (300.63, 300.45, 0) and len(nccl) == 7
    doc = {
        "facts": {
            "verify": {
                "dtype": "fp32",
                "results": [
                    {"op": "all_reduce", "bytes": 268435456, "busbw_gbps": 295.0},
                    {"op": "all_reduce", "bytes": 1 << 30, "busbw_gbps": 300.0},
                    {"op": "all_gather", "bytes": 1 << 30, "busbw_gbps": 1.0},
                ],
            }
        }
    }
    ver, dtype = mod.parse_verify(doc)
    text, ok = mod.table(nccl, ver, dtype)
    assert not ok  # 300 of 330.12 at 1 GiB misses the 3% target; 295 of 300.45 is within it
    assert "| 256 MiB | 295.0 | 300.45 | 300.63 | 0.982 | within 3% |" in text and "**MISSED**" in text


def test_plot_draws_a_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tpdoctor.verify.plot import plot

    res = _result({MIB: 60.0, 256 * MIB: 300.0, 4 * GIB: 345.0}, H200)
    plot(res, tmp_path / "busbw.png")
    assert (tmp_path / "busbw.png").read_bytes()[:4] == b"\x89PNG"


def test_xccl_below_floor_names_the_pcie_slot_cause() -> None:
    # llm-scaler KNOWN_ISSUES #02: 33 GB/s bi-directional on a dual-GPU card left at Auto/x16.
    pcie = Expectation(link="pcie", raw_gbps=31.5, efficiency=0.8, ceiling_gbps=25.0, source="test")
    res = _result({64 * MIB: 5.0, 256 * MIB: 6.0}, pcie)
    nccl = {f.cause for f in verdict.findings(res)}
    assert "verify.bandwidth-degraded" in nccl and "oneccl.p2p-slot-limited" not in nccl
    res = res.model_copy(update={"backend": "xccl"})
    found = {f.cause: f for f in verdict.findings(res)}
    assert found["oneccl.p2p-slot-limited"].confidence == "suggests"


def test_verify_backend_xccl_needs_torch_xccl() -> None:
    """`verify --backend xccl` uses torch.distributed's own 'xccl' (torch >= 2.8 XPU builds,
    ProcessGroupXCCL in intel/torch-xpu-ops); this CPU torch has none, which is a usage error."""
    import torch.distributed as dist

    from conftest import run_cli

    if getattr(dist, "is_xccl_available", lambda: False)():
        pytest.skip("this torch has XCCL: the GPU tests cover it")
    r = run_cli("verify", "--backend", "xccl", "--quick")
    assert r.returncode == 2 and "xccl needs torch >= 2.8" in r.stderr


@pytest.mark.parametrize("spec", ["1" * 5000, "1M..4M:" + "9" * 5000, "\u0661\u0662K", "64" + "0" * 30])
def test_a_size_of_thousands_of_digits_is_a_size_error_not_pythons(spec: str) -> None:
    """review43: `int()` of 4,301+ digits raised Python's own 'Exceeds the limit (4300 digits)' message as the option
    error; now ASCII digits, at most 20 (a factor at most 6), and the message quotes at most 40 characters."""
    with pytest.raises(ValueError) as err:
        sizes.parse_sizes(spec)
    assert "4300" not in str(err.value) and len(str(err.value)) < 200, str(err.value)[:120]
