"""Issue 13, heldout21 lessons (glearn21c): shared memory retold or contradicted, thrust's sort, torch's pidfd_getfd.

Lines are written from the code that prints them (not copied from the heldout21 logs): a user's retelling of the
DataLoader's shared-memory error ("the error message that there is not enough shared memory"), with the GPU-kernel
and PostgreSQL uses of the same words kept clean; torch's DataLoader bus-error blame (torch/utils/data/_utils/
signal_handling.py) in a log that states a /dev/shm of tens of GB (pytorch/pytorch#26009); thrust's device sort
(thrust/system/cuda/detail/sort.h "radix_sort: failed on 1st step" + cuda_category message) failing with
cudaErrorInvalidDevice on PyTorch 1.8.0 (pytorch/pytorch#54245), no visibility problem; torch's pidfd_getfd ENOSYS
check (c10/cuda/CUDACachingAllocator.cpp ExpandableSegment::fromShared).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

DATALOADER_BUS = (
    "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).\n"
)


@pytest.mark.parametrize(
    "text",
    [
        "I keep getting the error message that there is not enough shared memory when I start training.\n",
        "The job dies after a few steps and the error says not enough shared memory.\n",
        "Every launch fails: the log complains there was not enough shared memory during the first epoch.\n",
    ],
)
def test_not_enough_shared_memory_retold(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("shm.too-small", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # a GPU kernel's per-block shared memory, Vulkan, Triton, PostgreSQL: the same words, another memory
        "FATAL: Power Kernel: Not enough shared memory on GPU.\n",
        "error: not enough shared memory for the block sort\n",
        "The error says there is not enough shared memory for this kernel on the RTX 3060.\n",
        "ERROR:  not enough shared memory for data structure \"Buffer Descriptors\" (1048576 bytes requested)\n",
        "The Triton autotuner error says not enough shared memory, out of resource: shared memory, Required: 98304\n",
        # no report of an error at all
        "Our cluster has not enough shared memory budget notes in the README.\n",
    ],
)
def test_not_enough_shared_memory_elsewhere_stays_clean(tmp_path: Path, text: str) -> None:
    assert "shm.too-small" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "stated",
    [
        "The container runs with --ipc=host, so /dev/shm space of 250GB is available.\n",
        "df says /dev/shm is 126G inside the pod.\n",
        "There are 188 GB of /dev/shm on this node and usage never passed 2GB.\n",
        "/dev/shm size: 1TB\n",
    ],
)
def test_dataloader_bus_error_with_large_stated_shm_is_clean(tmp_path: Path, stated: str) -> None:
    text = stated + DATALOADER_BUS
    assert "shm.too-small" not in causes(tmp_path, text)
    assert any("not a /dev/shm size problem here" in n for n in notes(tmp_path, text))
    assert not any(n.startswith("hint: Start the container with --shm-size") for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        DATALOADER_BUS,  # the blame alone: as before
        "/dev/shm is 2GB in this container.\n" + DATALOADER_BUS,  # stated, but small
        "Docker gives /dev/shm of 64M by default.\n" + DATALOADER_BUS,
        "--ipc=host, /dev/shm space of 250GB\n" + DATALOADER_BUS
        + "OSError: [Errno 28] No space left on device: '/dev/shm/torch_123_456'\n",  # a line that measures it
    ],
)
def test_dataloader_bus_error_otherwise_keeps_shm(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text)[:1] == ["shm.too-small"]


@pytest.mark.parametrize(
    "text",
    [
        "RuntimeError: radix_sort: failed on 1st step: cudaErrorInvalidDevice: invalid device ordinal\n",
        "RuntimeError: radix_sort: failed on 2nd step: cudaErrorInvalidDevice: invalid device ordinal\n",
        "RuntimeError: radix_sort: failed on 1st step: invalid device ordinal\n",  # CUDA 10 thrust: no error name
        "RuntimeError: merge_sort: failed on 1st step: cudaErrorInvalidDevice: invalid device ordinal\n",
    ],
)
def test_thrust_sort_invalid_device_is_no_visibility_problem(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == []


def test_plain_invalid_device_ordinal_still_names_visibility(tmp_path: Path) -> None:
    assert "cuda.visible-devices-mismatch" in causes(tmp_path, "RuntimeError: CUDA error: invalid device ordinal\n")


@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: The kernel on this machine does not support the pidfd_getfd syscall needed to use IPC for CUDA "
        "tensors when expandable_segments:True is set. Consider using expandable_segments:False via "
        "torch.cuda.memory._set_allocator_settings('expandable_segments:False') for this allocation.\n",
        "RuntimeError: pidfd_getfd: Function not implemented\n",
    ],
)
def test_pidfd_getfd_enosys(tmp_path: Path, line: str) -> None:
    # ENOSYS is a kernel without the syscall (< 5.6) or a sandbox without it, in a container or not: no capability or
    # seccomp change helps, so it is gnew21's cuda.ipc-pidfd-unsupported, never the refusal cuda.ipc-pidfd-denied
    in_container = "docker run --gpus all --shm-size 16g trainer:latest\n" + line
    for text in (in_container, line):
        assert findings(tmp_path, text)[:1] == [("cuda.ipc-pidfd-unsupported", "suggests")]
        assert "cuda.ipc-pidfd-denied" not in causes(tmp_path, text)


SYSTEM_ERROR = "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)\n"


def _message(tmp_path: Path, text: str) -> str:
    from tpdoctor.explain import explain

    log = tmp_path / "m.log"
    log.write_text(text, encoding="utf-8")
    return " ".join(f.message for f in explain([str(log)]).findings if f.cause == "shm.too-small")


@pytest.mark.parametrize(
    "told",
    [
        "The crash goes away when we export NCCL_SHM_DISABLE=1.\n",
        "Setting NCCL_SHM_DISABLE=1 fixes the weight refit.\n",
        "It worked after adding NCCL_SHM_DISABLE=1 to the env of the trainer.\n",
    ],
)
def test_shm_disable_told_as_the_fix_is_not_read_as_set(tmp_path: Path, told: str) -> None:
    message = _message(tmp_path, SYSTEM_ERROR + told)
    assert "avoided the failure" in message and "NCCL_CUMEM_ENABLE" in message
    assert "is set, yet /dev/shm still fails" not in message


@pytest.mark.parametrize(
    "told",
    [
        "NCCL_SHM_DISABLE set by environment to 1\n",
        "We export NCCL_SHM_DISABLE=1 but it still fails the same way.\n",
    ],
)
def test_shm_disable_set_keeps_its_note(tmp_path: Path, told: str) -> None:
    message = _message(tmp_path, SYSTEM_ERROR + told)
    assert "is set, yet /dev/shm still fails" in message and "avoided the failure" not in message
