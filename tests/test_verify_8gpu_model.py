"""The expected-bandwidth model at full node size (issue 8), checked against published 8xH200
figures (../shared/research/anchors.md §5, stas00/ml-engineering and nccl-tests#212/#272) because
no 8-GPU machine was lent: the model must call every healthy published reading ok, NVLS readings
above the ring ceiling included, and an SHM fallback degraded."""

from __future__ import annotations

import types

import pytest

from tpdoctor.verify import expect, verdict
from tpdoctor.verify.results import OpResult

GIB = 1 << 30


def _nvml(count: int, links_per_gpu: list[int]) -> types.SimpleNamespace:
    class FV:
        nvmlReturn = 0
        value = types.SimpleNamespace(uiVal=26562)  # MB/s per link, as NVML reports it on H100/H200

    return types.SimpleNamespace(
        NVML_NVLINK_MAX_LINKS=18,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetPciInfo=lambda h: types.SimpleNamespace(busId=b"00000000:%02x:00.0" % (0x18 + h)),
        nvmlDeviceGetNvLinkState=lambda h, link: 1 if link < links_per_gpu[h] else 0,
        nvmlDeviceGetFieldValues=lambda h, ids: [FV()],
    )


def _judge(op: str, nbytes: int, busbw: float, exp: expect.Expectation) -> str:
    r = OpResult(
        op=op,
        bytes=nbytes,
        count=nbytes // 2,
        dtype="bf16",
        iters=5,
        time_us=1.0,
        algbw_gbps=busbw,
        busbw_gbps=busbw,
        wrong=0,
    )
    verdict.judge([r], exp, 8)
    return r.verdict


def test_eight_h200_ceiling_is_the_nvlink4_ring_ceiling() -> None:
    e = expect.expect_nvidia(8, env={}, run=lambda c: None, nvml=_nvml(8, [18] * 8))  # type: ignore[arg-type]
    assert e.raw_gbps == pytest.approx(18 * 26.562, abs=0.1)
    # NCCL's practical ring ceiling on NVLink4 is ~370 GB/s (sjeaugey, nccl-tests#212).
    assert 360 <= (e.ceiling_gbps or 0) <= 375


@pytest.mark.parametrize(
    ("op", "nbytes", "busbw"),
    [
        ("all_reduce", 8 * GIB, 365.6),  # 8xH200 ring, NVLS off (stas00)
        ("all_reduce", 16 * GIB, 367.2),  # 8xH200 ring, 16 GiB
        ("all_gather", 16 * GIB, 361.4),
        ("reduce_scatter", 16 * GIB, 362.9),
        ("all_reduce", 16 * GIB, 480.0),  # NVLS on: above the ring ceiling, never a false alarm
        ("all_reduce", 4 * GIB, 363.3),  # 4xH200 ring at 8 GiB, as a lower healthy reading
    ],
)
def test_published_eight_gpu_readings_are_ok(op: str, nbytes: int, busbw: float) -> None:
    e = expect.expect_nvidia(8, env={}, run=lambda c: None, nvml=_nvml(8, [18] * 8))  # type: ignore[arg-type]
    assert _judge(op, nbytes, busbw, e) == "ok"


def test_shm_fallback_at_eight_gpus_is_degraded() -> None:
    e = expect.expect_nvidia(8, env={}, run=lambda c: None, nvml=_nvml(8, [18] * 8))  # type: ignore[arg-type]
    # The measured P2P-off reading (27.8 GB/s at 64 MiB on 2xH200) and a 10x drop at 1 GiB.
    assert _judge("all_reduce", 64 << 20, 27.8, e) == "degraded"
    assert _judge("all_reduce", GIB, 36.0, e) == "degraded"


def test_one_gpu_with_fewer_links_sets_the_ceiling_for_the_ring() -> None:
    # A ring runs at the pace of its slowest member: one GPU with 6 active links caps all 8.
    e = expect.expect_nvidia(8, env={}, run=lambda c: None, nvml=_nvml(8, [18] * 7 + [6]))  # type: ignore[arg-type]
    assert (e.ceiling_gbps or 0) == pytest.approx(6 * 26.562 * expect.NVLINK_EFFICIENCY, abs=0.5)
    assert _judge("all_reduce", 8 * GIB, 365.6, e) == "ok"


# 2xH200, NCCL 2.28.9, fp32, measured by bench/gpu/verify_h200.sh (docs/gpu-h200.md): a healthy
# pair, so every judged size must be ok; all_gather / reduce_scatter sit below the all-reduce
# busbw at the same size because they move half the bytes per rank.
MEASURED_2X_H200 = {
    "all_reduce": {64: 266.68, 256: 298.48, 1024: 329.79, 4096: 344.93},
    "all_gather": {64: 211.57, 256: 242.46, 1024: 266.3, 4096: 284.87},
    "reduce_scatter": {64: 205.06, 256: 235.98, 1024: 267.85, 4096: 282.56},
}


@pytest.mark.parametrize("op", sorted(MEASURED_2X_H200))
def test_measured_healthy_pair_is_ok_for_every_collective(op: str) -> None:
    e = expect.expect_nvidia(2, env={}, run=lambda c: None, nvml=_nvml(2, [18, 18]))  # type: ignore[arg-type]
    rows = [
        OpResult(
            op=op,
            bytes=mib << 20,
            count=1,
            dtype="fp32",
            iters=5,
            time_us=1.0,
            algbw_gbps=v,
            busbw_gbps=v,
            wrong=0,
        )
        for mib, v in MEASURED_2X_H200[op].items()
    ]
    verdict.judge(rows, e, 2)
    assert {r.verdict for r in rows} <= {"ok", "not judged"}
    assert [r.verdict for r in rows][-2:] == ["ok", "ok"]  # >= 1 GiB is always judged
    # the same collective over SHM (P2P off: ~27 GB/s) is degraded at every judged size
    slow = [r.model_copy(update={"busbw_gbps": 27.0, "algbw_gbps": 27.0}) for r in rows]
    verdict.judge(slow, e, 2)
    assert {r.verdict for r in slow} <= {"degraded", "not judged"} and "degraded" in {r.verdict for r in slow}
