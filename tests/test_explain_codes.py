"""The error-code tables: every code classified, and a code in a log (name, string or number) explained."""

from __future__ import annotations

import io

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.correlate import diagnose
from tpdoctor.explain.error_codes import CLASSES, TABLES, by_name, code_tables, lookup_number
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base
from tpdoctor.model import catalog
from tpdoctor.model.fixes import causes_with_fixes

ALL = [c for t in code_tables() for c in t.codes]


def _diagnose(text: str):  # type: ignore[no-untyped-def]
    scanner = Scanner(knowledge_base())
    scanner.scan_stream(io.BytesIO(text.encode()), "t.log")
    return diagnose(scanner.result, knowledge_base())


def test_every_table_is_loaded_with_its_source() -> None:
    assert [t.table for t in code_tables()] == list(TABLES)
    sizes = {t.table: len(t.codes) for t in code_tables()}
    # CUDA 13.0 has 132 cudaError_t values besides success; the driver 99 CUresult errors
    assert sizes["cuda"] >= 132 and sizes["cu_driver"] >= 99 and sizes["hip"] >= 70 and sizes["ze"] >= 100
    assert all(t.source for t in code_tables())


@pytest.mark.parametrize("code", ALL, ids=[f"{c.table}:{c.name}" for c in ALL])
def test_every_code_is_classified_with_a_meaning(code) -> None:  # type: ignore[no-untyped-def]
    assert code.klass in CLASSES
    assert len(code.meaning) >= 8, "no meaning for a code: it would be unexplained"
    if code.klass == "cause":
        assert code.causes and set(code.causes) <= set(catalog())
        assert set(code.causes) <= causes_with_fixes()


@pytest.mark.parametrize("code", ALL[::7], ids=[f"{c.table}:{c.name}" for c in ALL[::7]])
def test_a_code_named_in_a_log_is_reported_with_its_meaning(code) -> None:  # type: ignore[no-untyped-def]
    d = _diagnose(f"noise\nRuntimeError: backend failed: {code.name}\n")
    names = [s.code.name for s in d.codes]
    assert code.name in names
    if code.klass == "cause":
        assert code.causes[0] in [s.cause for s in d.supports]


@pytest.mark.parametrize(
    ("line", "name", "cause"),
    [
        (
            "RuntimeError: cuda runtime error (802) : system not yet initialized at THCGeneral.cpp:50",
            "cudaErrorSystemNotReady",
            "nvidia.fabric-manager-not-running",
        ),
        (
            "calling cuInit\ncuInit err: 802",
            "CUDA_ERROR_SYSTEM_NOT_READY",
            "nvidia.fabric-manager-not-running",
        ),
        (
            "RuntimeError: CUDA error: forward compatibility was attempted on non supported HW",
            "cudaErrorCompatNotSupportedOnDevice",
            "cuda.forward-compat-unsupported",
        ),
        (
            "host:1:1 [0] NCCL WARN Cuda failure 217 'peer access is not supported between these two devices'",
            "cudaErrorPeerAccessUnsupported",
            "nccl.p2p-unsupported",
        ),
        (
            "RuntimeError: Native API failed. Native API returns: 20 (UR_RESULT_ERROR_DEVICE_LOST)",
            "UR_RESULT_ERROR_DEVICE_LOST",
            "xpu.device-lost",
        ),
        (
            "RuntimeError: CUDA driver version is insufficient for CUDA runtime version",
            "cudaErrorInsufficientDriver",
            # cudart's 35 also means no libcuda at all (torch c10 device_count_impl): the missing GPU comes first
            "device.nvidia-node-missing",
        ),
        ("zeInit failed with error code 0x70000001", "ZE_RESULT_ERROR_DEVICE_LOST", "xpu.device-lost"),
        ("the server said: invalid device ordinal", None, None),
    ],
)
def test_codes_by_number_and_string(line: str, name: str | None, cause: str | None) -> None:
    d = _diagnose(line + "\n")
    if name is None:  # no CUDA/HIP context word: a bare string is not enough
        assert not d.codes
        return
    assert name in [s.code.name for s in d.codes]
    assert d.supports and d.supports[0].cause == cause


def test_numbers_resolve_per_table() -> None:
    assert lookup_number("cuda_code", "802") == by_name("cudaErrorSystemNotReady")
    assert lookup_number("ur_code", "20") == by_name("UR_RESULT_ERROR_DEVICE_LOST")
    assert lookup_number("ze_code", "0x70000001") == by_name("ZE_RESULT_ERROR_DEVICE_LOST")
    assert lookup_number("cuda_code", "123456") is None


def test_not_a_container_code_gives_a_note_not_a_cause(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "a.log"
    log.write_text("RuntimeError: CUDA error: an illegal memory access was encountered\n")
    report = explain([str(log)])
    assert not [f for f in report.findings if f.severity.value != "notice"]
    assert any("cudaErrorIllegalAddress" in n and "Not a container cause" in n for n in report.notes)
    assert report.facts["error_codes"][0]["class"] == "not-container"


def test_every_name_is_found_by_its_table_prefix() -> None:
    from tpdoctor.explain.error_codes import NAME_PREFIXES

    for t in code_tables():
        for c in t.codes:
            assert c.name.startswith(NAME_PREFIXES[t.table]), c.name
