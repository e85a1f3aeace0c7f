"""Generic downstream wrappers never stand for the root: not as the first error, not as proof.

Texts are the wrappers' own words from upstream (sources in explain/downstream.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.correlate import Support
from tpdoctor.explain.downstream import is_generic
from tpdoctor.explain.fallback import first_error
from tpdoctor.explain.signatures import knowledge_base

WRAPPERS = [
    # vllm/v1/engine/utils.py wait_for_engine_startup
    "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}",
    # vllm/v1/executor/multiproc_executor.py worker_main
    "(Worker_TP1 pid=1874769) ERROR 03-24 09:46:59 [multiproc_executor.py:852] WorkerProc failed to start.",
    # ray/exceptions.py ActorDiedError
    "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.",
    # torch NCCLUtils.hpp C10D_NCCL_CHECK with ncclSystemError's string
    "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error "
    "(run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5",
    # torch ProcessGroupNCCL.cpp watchdog
    "[rank0]:[E ProcessGroupNCCL.cpp:1316] [PG 0 Rank 0] Process group watchdog thread terminated with exception: "
    "CUDA error: an illegal memory access was encountered",
    # torch/distributed/elastic/multiprocessing/errors
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
]
ROOTS = [
    "ValueError: Total number of attention heads (32) must be divisible by tensor parallel size (3).",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB",
    "RuntimeError: No CUDA GPUs are available",
]


@pytest.mark.parametrize("line", WRAPPERS)
def test_wrappers_are_generic(line: str) -> None:
    assert is_generic(line)


@pytest.mark.parametrize("line", ROOTS)
def test_roots_are_not_generic(line: str) -> None:
    assert not is_generic(line)


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_first_error_skips_a_wrapper_printed_before_the_root(wrapper: str) -> None:
    lines = [("log", 10, wrapper), ("log", 20, ROOTS[0])]
    assert first_error(lines) == ("log", 20, ROOTS[0])


def test_first_error_falls_back_to_a_wrapper_when_nothing_else_is_there() -> None:
    assert first_error([("log", 5, WRAPPERS[0])]) == ("log", 5, WRAPPERS[0])


def test_explain_names_the_root_not_the_wrapper(tmp_path: Path) -> None:
    log = tmp_path / "vllm.log"
    log.write_text("\n".join([WRAPPERS[1], WRAPPERS[0], ROOTS[0]]) + "\n", encoding="utf-8")
    report = explain([str(log)])
    assert not report.findings
    assert report.facts["first_error"]["text"] == ROOTS[0]


def test_a_downstream_line_never_proves() -> None:
    s = Support("shm.too-small")
    s.add("nccl.unhandled-system-error", "proves", [], 3, "", downstream=True)
    assert (s.strength, s.specific) == ("suggests", False)
    s.add("nccl.shm-extend-failed", "proves", [], 9, "", downstream=False)
    assert (s.strength, s.specific) == ("proves", True)


def test_every_signature_of_a_generic_line_is_downstream() -> None:
    """Consistency: a signature whose examples are all wrappers must be marked downstream."""
    for sig in knowledge_base().signatures:
        if sig.examples and all(is_generic(e) for e in sig.examples):
            assert sig.downstream, sig.id


NCCL_GENERIC = WRAPPERS[3]


@pytest.mark.parametrize(
    "root",
    [
        # c10/cuda/CUDACachingAllocator.cpp
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 79.15 GiB",
        # C10_CUDA_CHECK with cudaErrorMemoryAllocation's string
        "RuntimeError: CUDA error: out of memory",
        # cudaErrorNoKernelImageForDevice (a not-container code of the CUDA table)
        "RuntimeError: CUDA error: no kernel image is available for execution on the device",
    ],
)
def test_a_known_non_container_root_drops_a_guess_only_generic_lines_back(tmp_path: Path, root: str) -> None:
    log = tmp_path / "ranks.log"
    log.write_text(f"[rank1]: {root}\n[rank0]: {NCCL_GENERIC}\n", encoding="utf-8")
    report = explain([str(log)])
    assert [f.cause for f in report.findings] == []
    assert any("dropped: only generic downstream errors" in n for n in report.notes)


def test_the_generic_line_alone_still_gives_its_guess(tmp_path: Path) -> None:
    log = tmp_path / "rank0.log"
    log.write_text(NCCL_GENERIC + "\n", encoding="utf-8")
    assert [(f.cause, f.confidence) for f in explain([str(log)]).findings] == [("shm.too-small", "suggests")]


def test_a_specific_cause_stays_next_to_a_non_container_root(tmp_path: Path) -> None:
    """The drop only touches guesses: a cause its own line backs is kept."""
    log = tmp_path / "both.log"
    log.write_text(
        "RuntimeError: CUDA error: out of memory\n"
        "misc/shmutils.cc:72 NCCL WARN Error: failed to extend /dev/shm/nccl-Oh6I9y to 9637892 bytes\n",
        encoding="utf-8",
    )
    assert [f.cause for f in explain([str(log)]).findings] == ["shm.too-small"]
