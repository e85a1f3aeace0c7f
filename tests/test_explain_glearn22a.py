"""Issue 13, heldout22 lessons (glearn22a): NVLS multicast, NCCL's /dev/shm segment removed, torch symmetric memory.

Lines are written from the format strings that print them (not copied from the heldout22 logs):
- NCCL src/transport/nvls.cc nvlsAllocateMem, cuMulticastBindMem failing: 'Failed to bind NVLink SHARP (NVLS) Multicast
  memory of size %ld : CUDA error %d '%s'.' + 'Do not force-enable NVLS (NCCL_NVLS_ENABLE=1) ...' (2.27-2.28, fatal only
  when forced, else an INFO line '... Proceeding without NVLS support.') or 'Disable NVLS (NCCL_NVLS_ENABLE=0) ...'
  (2.29+, always fatal); before 2.27 CUCHECK's 'transport/nvls.cc:N NCCL WARN Cuda failure %d '%s''. After CUDA has
  started this is the fabric manager's state (pytorch#177472, ci-infra#541); CUDA error 2 is the NVSwitch multicast
  objects used up by many communicators (NVIDIA/nccl#2077, fabric manager healthy): a library limit, no cause.
- NCCL src/misc/shmutils.cc ncclShmClose/ncclShmUnlink: 'unlink shared memory %s failed, error: %s' (2.16-2.22),
  '..., error: %s (%d)' (2.23+, the attach-side unlink an INFO line): ENOENT is the segment removed under the job,
  systemd-logind's RemoveIPC in the NCCL user guide ("systemd may remove files in shared memory ..."), also retold.
- torch c10/cuda/driver_api.h C10_CUDA_DRIVER_CHECK 'CUDA driver error: %s' from symmetric memory's driver-API calls:
  vLLM 0.11's VLLM_ALLREDUCE_USE_SYMM_MEM=1 default at TP=2 (vllm#26525), not a visible-devices mismatch; later vLLM
  and FlashInfer catch it and warn.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes, causes, findings

NVLS_229 = (
    "torch.distributed.DistBackendError: NCCL error in: /pytorch/torch/csrc/distributed/c10d/NCCLUtils.cpp:94, "
    "unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.29.7\n"
    "ncclUnhandledCudaError: Call to CUDA function failed.\n"
    "Last error:\n"
    "Failed to bind NVLink SHARP (NVLS) Multicast memory of size {size} : CUDA error {code} '{text}'.\n"
    "This is usually caused by a system or configuration error in the Fabric Manager or NVSwitches.\n"
    "Disable NVLS (NCCL_NVLS_ENABLE=0) if you wish to avoid this error in the future.\n"
)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # 2.29+: the bind failure is fatal; CUDA started, so the fabric's state broke after the GPUs registered
        (NVLS_229.format(size=4194304, code=401, text="the operation cannot be performed in the present state"),
         "nvidia.fabric-manager-restarted"),
        # 2.27/2.28 with NVLS forced on: the WARN form
        ("h100-07:2210:2291 [3] transport/nvls.cc:285 NCCL WARN Failed to bind NVLink SHARP (NVLS) Multicast memory of "
         "size 2097152 : CUDA error 999 'unknown error'.\n"
         "This is usually caused by a system or configuration error in the Fabric Manager or NVSwitches.\n"
         "Do not force-enable NVLS (NCCL_NVLS_ENABLE=1) if you wish to avoid this error in the future.\n",
         "nvidia.fabric-manager-restarted"),
        # the same line retold without its size
        ("  Failed to bind NVLink SHARP (NVLS) Multicast memory: CUDA error 401\n", "nvidia.fabric-manager-restarted"),
        # NCCL's shm segment gone under the job: 2.16-2.22 and 2.23+ forms
        ("NCCL WARN unlink shared memory /dev/shm/nccl-Qx81Lm failed, error: No such file or directory\n",
         "shm.removed-by-logind"),
        ("gpu03:4410:4482 [2] misc/shmutils.cc:173 NCCL WARN unlink shared memory /dev/shm/nccl-0aZk3P failed, "
         "error: No such file or directory (2)\n", "shm.removed-by-logind"),
        # the NCCL guide's systemd wording, retold
        ("systemd-logind deletes the /dev/shm files of the user when the ssh session ends, so NCCL crashes at init.\n",
         "shm.removed-by-logind"),
        ("It turned out systemd removed the NCCL shared memory segments because the slurm user was not logged in.\n",
         "shm.removed-by-logind"),
    ],
)
def test_a_glearn22a_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


def test_nvls_bind_names_the_fabric_manager_not_an_imex_channel(tmp_path: Path) -> None:
    # single-node NVLS binds POSIX-fd multicast handles: the IMEX channel is at most an alternative; a fabric manager
    # shown failing in the log leads over the bind line that follows from it
    bind = NVLS_229.format(size=2097152, code=401, text="the operation cannot be performed in the present state")
    assert causes(tmp_path, bind)[0] == "nvidia.fabric-manager-restarted"
    failing = "May 07 10:00:01 ip-10-0-0-1 systemd[1]: nvidia-fabricmanager.service: Failed with result 'exit-code'.\n"
    assert causes(tmp_path, failing + bind)[0] == "nvidia.fabric-manager-not-running"


@pytest.mark.parametrize(
    "text",
    [
        # 2.29+ with CUDA 2: multicast objects used up (nccl#2077), the fabric manager healthy
        NVLS_229.format(size=2097152, code=2, text="out of memory"),
        ("h200-2:88:140 [6] transport/nvls.cc:287 NCCL WARN Failed to bind NVLink SHARP (NVLS) Multicast memory of "
         "size 2097152 : CUDA error 2 'out of memory'.\n"),
        # before 2.27, an out-of-memory CUCHECK inside nvls.cc
        "node3:77:90 [1] transport/nvls.cc:254 NCCL WARN Cuda failure 2 'out of memory'\n",
        # 2.27/2.28 not forced: NCCL goes on without NVLS
        ("h100-07:2210:2291 [3] NCCL INFO Failed to bind NVLink SHARP (NVLS) Multicast memory of size 2097152 : CUDA "
         "error 401 'the operation cannot be performed in the present state'. Proceeding without NVLS support.\n"),
        # torch's driver-API check from symmetric memory, uncaught (vLLM 0.11, TP=2) and in a worker's traceback
        "RuntimeError: CUDA driver error: invalid device ordinal\n",
        ("(Worker_TP0 pid=301) ERROR 10-09 08:12:44 [multiproc_executor.py:597]     handle = "
         "torch_symm_mem.rendezvous(self.buffer, self.group.group_name)\n"
         "(Worker_TP0 pid=301) ERROR 10-09 08:12:44 [multiproc_executor.py:597] RuntimeError: CUDA driver error: "
         "invalid device ordinal\n"),
        # the fallbacks of later vLLM / FlashInfer all-reduce
        ("WARNING 11-02 10:00:00 [symm_mem.py:88] SymmMemCommunicator: symmetric memory initialization failed: CUDA "
         "driver error: invalid device ordinal Communicator is not available. To suppress this warning set "
         "VLLM_ALLREDUCE_USE_SYMM_MEM=0\n"),
        ("WARNING 03-01 12:00:00 [flashinfer_all_reduce.py:140] Failed to initialize FlashInfer All Reduce workspace: "
         "CUDA driver error: invalid device ordinal.\n"),
    ],
)
def test_a_glearn22a_look_alike_names_no_cause(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text) == []


UNLINK_ENOENT = (
    "gpu03:4410:4482 [2] misc/shmutils.cc:173 NCCL WARN unlink shared memory /dev/shm/nccl-0aZk3P failed, "
    "error: No such file or directory (2)\n"
)


@pytest.mark.parametrize(
    ("named", "clean", "cause"),
    [
        # the attach-side unlink (INFO since 2.23) and an unlink refused for another reason are not the removal
        (UNLINK_ENOENT, UNLINK_ENOENT.replace("misc/shmutils.cc:173 NCCL WARN", "NCCL INFO"), "shm.removed-by-logind"),
        (UNLINK_ENOENT, UNLINK_ENOENT.replace("No such file or directory (2)", "Permission denied (13)"),
         "shm.removed-by-logind"),
        # healthy NVLS set-up lines name nothing
        (NVLS_229.format(size=2097152, code=401, text="the operation cannot be performed in the present state"),
         "h100-07:2210:2210 [0] NCCL INFO NVLS multicast support is available on dev 0 (NVLS_NCHANNELS 16)\n"
         "h100-07:2210:2291 [0] NCCL INFO NVLS comm 0x5581 headRank 0 nHeads 8 nvlsRanks 8 buffSize 1048576\n",
         "nvidia.fabric-manager-restarted"),
        # systemd said not to remove it, or logind's own session lines
        ("Systemd may remove files in shared memory when it detects that the user is not logged in.\n",
         "systemd does not remove /dev/shm files of root.\n"
         "May 07 10:00:01 host systemd-logind[812]: Removed session 42.\n", "shm.removed-by-logind"),
        # the runtime's invalid device ordinal (device selection) is still the mask; the driver-API one is not
        ("RuntimeError: CUDA error: invalid device ordinal\nCUDA kernel errors might be asynchronously reported at some "
         "other API call, so the stacktrace below might be incorrect.\n",
         "RuntimeError: CUDA driver error: invalid device ordinal\n", "cuda.visible-devices-mismatch"),
    ],
)
def test_a_glearn22a_neighbour_is_told_apart(tmp_path: Path, named: str, clean: str, cause: str) -> None:
    assert causes(tmp_path, named)[:1] == [cause]
    assert cause not in all_causes(tmp_path, clean)
