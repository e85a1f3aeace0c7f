"""Issue 13: torch's allocator failing a small request on a mostly free GPU under a finite address-space limit is the
limit (limits.address-space-too-low), measured on one H100 (bench/gpu/results/rlimit-as-h100x1-28: under
`ulimit -v 184677216` a one-rank NCCL all-reduce died with "Tried to allocate 20.00 MiB ... of which 78.02 GiB is free").

Lines are written from torch's format strings (c10/cuda/CUDACachingAllocator.cpp: "CUDA out of memory. Tried to
allocate %s. GPU %d has a total capacity of %s of which %s is free." since v2.1; "(GPU %d; %s total capacity; %s already
allocated; %s free; ..." before), not copied from a log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from tpdoctor.explain import explain

_AS = "limits.address-space-too-low"
_RESULTS = Path(__file__).resolve().parents[1] / "bench/gpu/results/rlimit-as-h100x1-28"


def _new(tried: str, total: str, free: str) -> str:
    return (f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {tried}. GPU 0 has a total capacity of "
            f"{total} of which {free} is free. Including non-PyTorch memory, this process has 1.15 GiB memory in use.\n")


def _old(tried: str, total: str, free: str) -> str:
    return (f"RuntimeError: CUDA out of memory. Tried to allocate {tried} (GPU 0; {total} total capacity; 0 bytes already "
            f"allocated; {free} free; 0 bytes reserved in total by PyTorch)\n")


@pytest.mark.parametrize("limit", ["$ ulimit -v 184677216\n", "#$ -l h_vmem=64G\n", "LimitAS=68719476736\n"])
@pytest.mark.parametrize("form", [_new, _old])
def test_a_small_request_on_a_free_gpu_under_a_limit_proves_it(tmp_path: Path, limit: str, form) -> None:  # type: ignore[no-untyped-def]
    found = _findings(tmp_path, limit + form("20.00 MiB", "79.18 GiB", "78.02 GiB"))
    assert found[:1] == [(_AS, "proves")], found


@pytest.mark.parametrize(
    "text",
    [
        # the GPU really is full: a limit beside it changes nothing
        "$ ulimit -v 184677216\n" + _new("20.00 MiB", "79.15 GiB", "12.81 MiB"),
        "$ ulimit -v 184677216\n" + _old("2.00 GiB", "15.78 GiB", "1.05 GiB"),
        # a large request against a free GPU is the request's size, not the limit's
        "$ ulimit -v 184677216\n" + _new("70.00 GiB", "79.18 GiB", "60.02 GiB"),
        # a free GPU but no finite limit in the log: not this cause (a per-process fraction, another process)
        _new("20.00 MiB", "79.18 GiB", "78.02 GiB"),
        "virtual memory          (kbytes, -v) unlimited\n" + _new("20.00 MiB", "79.18 GiB", "78.02 GiB"),
    ],
)
def test_neighbours_are_not_the_limit(tmp_path: Path, text: str) -> None:
    assert _AS not in _all(tmp_path, text), text


def test_the_measured_log_names_the_limit() -> None:
    # what the device printed (twenty-eighth session): the probe's shell line with the limit, then torch's allocator
    log = _RESULTS / "nccl-allreduce-just-below.log"
    report = explain([str(log)])
    top = [f for f in report.findings if f.severity.value != "notice"]
    assert top and top[0].cause == _AS and top[0].confidence == "proves", [(f.cause, f.confidence) for f in top]
