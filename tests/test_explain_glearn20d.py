"""Issue 13, heldout20 lessons (glearn20d): shared memory and precision.

Lines are written from the code that prints them (not copied from the heldout20 logs): vLLM's check_shm_free_space
before its MessageQueue ring buffer (PR #48879), with and without the advice sentence; Open MPI's mmap shmem component
when the backing file's directory cannot be examined (opal_path_df failure) or a relocated backing store is refused;
the fix retold as "--ipc=host" (PaddleDetection#1651). And two precision lessons: NCCL's own GPU out-of-memory
(CUDACHECK "Cuda failure '%s'" / "Cuda failure %d '%s'", or said in prose) explains the ncclSystemError after it, so
/dev/shm is no longer guessed; vLLM v0.11.1-v0.11.2 asserted local_world_size against one node's GPUs for the Ray and
external_launcher backends too (PR #28873), so with those backends the assertion is no sign of too few GPUs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # vLLM check_shm_free_space: the bare form and the one with the advice
        ("(EngineCore pid=311) RuntimeError: Insufficient space in /dev/shm: 480 MiB required, 64 MiB free.\n",
         "shm.too-small", "proves"),
        ("RuntimeError: Insufficient space in /dev/shm: 40 MiB required, 12 MiB free. Increase /dev/shm "
         "(e.g. --shm-size or --ipc=host).\n", "shm.too-small", "proves"),
        # the KV offload tier on a host whose /dev/shm is full of leftovers: the same check, the same cause
        ("ERROR 09-15 16:50:01 [core.py:700] RuntimeError: Insufficient space in /dev/shm: 32768 MiB required, "
         "16962 MiB free.\n", "shm.too-small", "proves"),
        # Open MPI's mmap shmem component: opal_path_df on the backing file's directory failed (v3.1-v5)
        ("[host7:90210] shmem: mmap: an error occurred while determining whether or not "
         "/tmp/ompi.host7.1002/jf.0/777/sm_segment.host7.1002.1f2e0000.0 could be created.\n",
         "shm.not-writable", "suggests"),
        ("[n01:5] shmem: mmap: an error occurred while determining whether or not "
         "/dev/shm/vader_segment.n01.1f2e0001.3 could be created.\n", "shm.not-writable", "suggests"),
        # the relocated backing store refused for permissions (path_usable)
        ('[n01:5] shmem: mmap: WARNING: could not relocate backing store to "/dev/shm" (Permission denied).  '
         "Cannot continue with shmem mmap.\n", "shm.not-writable", "suggests"),
        # the fix retold: --ipc=host
        ("After adding --ipc=host to docker run, the 4-GPU job works now.\n", "shm.too-small", "suggests"),
        ("Using --ipc host for the container solved the NCCL hang.\n", "shm.too-small", "suggests"),
        ("docker run 的时候加上 --ipc=host 之后两卡训练就正常了\n", "shm.too-small", "suggests"),
    ],
)
def test_a_heldout20d_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # "--ipc=host" only as vLLM's advice is not a setting in use
        "RuntimeError: Insufficient space in /dev/shm: 240 MiB required, 64 MiB free. Increase /dev/shm "
        "(e.g. --shm-size or --ipc=host).\n",
    ],
)
def test_vllm_shm_advice_is_not_an_ipc_mode(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == ("shm.too-small", "proves"), found
    assert not any("ipc_mode=" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # other tools' free-space checks, not /dev/shm
        ("RuntimeError: Insufficient space in /tmp: 160 MiB required, 64 MiB free.\n", "shm.too-small"),
        ("Not enough /data space: 512.0 MiB required, 100.0 MiB free.\n", "shm.too-small"),
        # Open MPI's verbose df trace and a healthy segment creation
        ("[n01:5] shmem: mmap: backing store base directory: /dev/shm/vader_segment.n01.1\n", "shm.not-writable"),
        # a relocation that continues on the default path for a reason other than permissions
        ('shmem: mmap: WARNING: could not relocate backing store to "/scratch/x" (No such file or directory).  '
         "Continuing with default path.\n", "shm.not-writable"),
        # --ipc=host named without a fix, negated, conditional, across containers or for MPS
        ("docker run --gpus all --ipc=host --ulimit memlock=-1 -v /workspace:/workspace nvcr.io/nvidia/pytorch\n",
         "shm.too-small"),
        ("Adding --ipc=host did not fix the hang.\n", "shm.too-small"),
        ("With --ipc=host it works on one GPU but hangs on two.\n", "shm.too-small"),
        ("加了 --ipc=host 之后仍然卡住，没有解决\n", "shm.too-small"),
        ("Running the two containers with --ipc=host fixed the CUDA IPC error.\n", "shm.too-small"),
        ("With --ipc=host the MPS clients work now.\n", "shm.too-small"),
    ],
)
def test_a_heldout20d_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in _causes(tmp_path, text)


# NCCL's own GPU out-of-memory before the generic system error: not /dev/shm
_SYSERR = (
    "torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1191, unhandled system error, "
    "NCCL version 2.7.8\n"
)


@pytest.mark.parametrize(
    "oom",
    [
        "gpu1:559:653 [1] include/alloc.h:48 NCCL WARN Cuda failure 'out of memory'\n",
        "gpu1:559:653 [0] include/alloc.h:103 NCCL WARN Cuda failure 2 'out of memory'\n",
        "With NCCL_DEBUG=INFO it looks like NCCL init is hitting an OOM condition.\n",
        "NCCL ran out of GPU memory during init because XLA preallocated 90% of it.\n",
        "NCCL out of memory on dual 2080ti training\n",
    ],
)
def test_nccl_gpu_oom_explains_the_system_error(tmp_path: Path, oom: str) -> None:
    assert _causes(tmp_path, _SYSERR) == ["shm.too-small"]  # the generic guess alone
    text = oom + _SYSERR
    assert "shm.too-small" not in _causes(tmp_path, text)
    assert any("nccl.cuda-oom" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # a different Cuda failure, an OOM said not to be NCCL's, and shared memory out of space
        "gpu1:559:653 [1] include/alloc.h:48 NCCL WARN Cuda failure 'invalid argument'\n",
        "The NCCL error is not hitting an OOM condition; GPU memory is 10% used.\n",
        "gpu1:1:1 [0] include/shm.h:28 NCCL WARN Call to posix_fallocate failed : No space left on device\n",
    ],
)
def test_not_a_gpu_oom_keeps_the_shm_reading(tmp_path: Path, text: str) -> None:
    assert "shm.too-small" in _causes(tmp_path, text + _SYSERR)


# vLLM's local_world_size assertion: a Ray / external_launcher backend is the v0.11.1-v0.11.2 regression
_LWS = "AssertionError: local_world_size (16) must be less than or equal to the number of visible devices (8).\n"


@pytest.mark.parametrize(
    "backend",
    [
        "vllm serve org/model --tensor-parallel-size 16 --distributed-executor-backend ray\n",
        "vllm serve org/model --tensor-parallel-size 16 --distributed_executor_backend=ray\n",
        "(APIServer pid=1) INFO [utils.py:233] non-default args: {'model': 'org/model', "
        "'tensor_parallel_size': 16, 'distributed_executor_backend': 'ray'}\n",
        'llm = LLM(model="org/model", tensor_parallel_size=16, distributed_executor_backend="external_launcher")\n',
    ],
)
def test_local_world_size_under_ray_is_the_regression(tmp_path: Path, backend: str) -> None:
    assert "vllm.tp-exceeds-visible-gpus" in _causes(tmp_path, _LWS)
    found = _causes(tmp_path, backend + _LWS)
    assert "vllm.tp-exceeds-visible-gpus" not in found and "cuda.visible-devices-mismatch" not in found, found


@pytest.mark.parametrize(
    "backend",
    [
        "vllm serve org/model --tensor-parallel-size 16 --distributed-executor-backend mp\n",
        "vllm serve org/model --tensor-parallel-size 16\n",
        "(APIServer pid=1) INFO non-default args: {'distributed_executor_backend': 'uni'}\n",
    ],
)
def test_local_world_size_with_mp_still_names_too_few_gpus(tmp_path: Path, backend: str) -> None:
    assert _causes(tmp_path, backend + _LWS)[:1] == ["vllm.tp-exceeds-visible-gpus"]
