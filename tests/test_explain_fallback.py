"""When no known cause matches: the first real error, its layer, and guesses that stay guesses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.fallback import first_error, layer_of, nearest_causes
from tpdoctor.explain.signatures import knowledge_base


@pytest.mark.parametrize(
    ("line", "layer"),
    [
        (
            "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited",
            "NCCL/RCCL",
        ),
        ("2025:01:01-00:00:00:(1) |CCL_ERROR| some oneCCL failure", "oneCCL"),
        ("RuntimeError: level_zero backend failed with error: 40", "Level Zero/SYCL"),
        ("RuntimeError: HIP error: hipErrorLaunchFailure", "ROCm/HIP"),
        ("RuntimeError: CUDA error: device-side assert triggered", "CUDA"),
        (
            "docker: Error response from daemon: driver failed programming external connectivity",
            "container runtime",
        ),
        ("torch.distributed.elastic.multiprocessing.errors.ChildFailedError:", "launcher"),
        ("[rank1]: RuntimeError: ProcessGroupXCCL: allreduce failed", "oneCCL"),
        ("2021:03:05-10:00:00:(  532) |ERROR| atl_something.cpp:10 foo: unexpected", "oneCCL"),
        (":1:rocdevice.cpp :437 : 1234 us: hsa_init failed.", "ROCm/HIP"),
        (
            "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:534] Read error [10.0.0.2]:45678: Connection reset by peer",
            "Gloo/network",
        ),
        ("ray.exceptions.RaySystemError: System error: Failed to unpickle serialized exception", "Ray"),
        ("KeyError: 'model.layers.0.weight'", "Python"),
    ],
)
def test_layer_of(line: str, layer: str) -> None:
    assert layer_of(line) == layer


def test_first_error_prefers_the_first_exception_line() -> None:
    lines = [
        ("a", 3, "WARNING something failed softly"),
        ("a", 9, "ValueError: bad"),
        ("a", 12, "RuntimeError: later"),
    ]
    assert first_error(lines) == ("a", 9, "ValueError: bad")


def test_nearest_causes_are_scored_and_unrelated_text_gets_none() -> None:
    kb = knowledge_base()
    near = nearest_causes(
        "NCCL WARN Error while creating shared memory segment /dev/shm/nccl-x (size 123)", kb
    )
    assert near and near[0].cause == "shm.too-small"
    assert nearest_causes("the quick brown fox jumps over the lazy dog", kb) == []


def test_unmatched_log_shows_first_error_layer_and_only_guesses(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(
        "INFO starting\nTraceback (most recent call last):\n"
        "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, internal error - please report\n"
    )
    report = explain([str(log)])
    assert not [f for f in report.findings if f.severity.value != "notice"]
    first = report.facts["first_error"]
    assert first["line"] == 3 and first["layer"] == "NCCL/RCCL"
    assert any(n.startswith("first error") for n in report.notes)


@pytest.mark.parametrize(
    "wrapper",
    [
        "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.",
        "The actor died because its node has died. Node Id: 4a1b",
        "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR",
        "ray.exceptions.WorkerCrashedError: The worker died unexpectedly while executing this task.",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
        "(RayWorkerWrapper pid=7) ActorDiedError: The actor died because of an error raised in its creation task",
        "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: 1) local_rank: 0 (pid: 9) of binary: /usr/bin/python3",
    ],
)
def test_launcher_wrappers_are_never_the_first_error(tmp_path: Path, wrapper: str) -> None:
    """Ray's and torchrun's death notices come after the real error; the fallback must skip them."""
    log = tmp_path / "w.log"
    log.write_text(f"{wrapper}\nRuntimeError: oneCCL: foo.cpp:1 bar: EXCEPTION: something unknown\n")
    report = explain([str(log)])
    assert not [f for f in report.findings if f.severity.value != "notice"]
    first = report.facts["first_error"]
    assert first["line"] == 2 and first["layer"] == "oneCCL"


# ---- a line its logger filed as information is no first error ----------------------------------------------------

NCCL_PROBE = "node1:149:149 [0] NCCL INFO NET/Plugin: Failed to find ncclCollNetPlugin_v8 symbol."


def test_an_nccl_info_line_with_failed_in_it_is_no_first_error() -> None:
    # NCCL probes a plugin's interface versions at INFO (src/plugin/net.cc); its failures are WARN lines
    assert first_error([("log", 3, NCCL_PROBE)]) is None
    warn = "node1:149:160 [0] transport/net_ib.cc:123 NCCL WARN NET/IB : Got async event : port error"
    assert first_error([("log", 3, NCCL_PROBE), ("log", 9, warn)]) == ("log", 9, warn)


def test_vllm_info_is_passed_over_for_its_error() -> None:
    info = "INFO 04-23 19:30:04 pynccl_utils.py:17] Failed to import NCCL library: libnccl.so.2: cannot open"
    error = "ERROR 04-23 19:30:04 pynccl.py:53] Failed to load NCCL library from libnccl.so.2"
    assert first_error([("log", 1, info), ("log", 2, error)]) == ("log", 2, error)


def test_a_tool_that_logs_its_failure_at_info_keeps_it() -> None:
    # Determined's agent reports the container's exit at INFO: only NCCL's and vLLM's INFO are passed over
    line = "[2022-02-11T11:05:43Z] 3628403e || INFO: container failed with non-zero exit code: 132"
    assert first_error([("log", 4, line)]) == ("log", 4, line)


def test_an_error_code_on_an_info_line_is_still_the_first_error() -> None:
    line = "node1:1:1 [0] NCCL INFO cudaGetDevice failed: cudaErrorNoDevice"
    assert first_error([("log", 2, line)], {("log", 2)}) == ("log", 2, line)
