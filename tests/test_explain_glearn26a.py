"""Issue 13, heldout26 lessons (glearn26a): HPC, batch and launcher families.

Lines are written from the code that prints them (not copied from the heldout26 logs):
- MPICH's yaksa CUDA backend (yaksuri_cudai_base.h "CUDA Error (%s:%s,%d): %s") probing CUDA in MPI_Init on a
  CPU-only node: a library setting (MPIR_CVAR_ENABLE_GPU=0), not a container cause;
- Cray MPICH's GPU transport layer "GTL_DEBUG: [rank] <cuda call>: no CUDA-capable device is detected": a GPU-aware
  step that got no GPU (srun without --gpus);
- NCCL's socket connect to a loopback peer, in every version's form (socket.h connectAddress, "Net : Connect to",
  "socketStartConnect: Connect to", os/linux.cc "<func>: connect to ... failed" / "exceeded error retry count");
- a SIGBUS told by gfortran / Open MPI's stacktrace / gdb with Open MPI's shared-memory transport named;
- enroot's hook runner "[ERROR] <hook> exited with return code N" after a file tool's ENOSPC.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import notes as _notes
from tpdoctor.explain import explain

NO_DEV = "no CUDA-capable device is detected"


# ---------------------------------------------------------------- MPICH's own CUDA probe (negative)
@pytest.mark.parametrize(
    "line",
    [
        f"CUDA Error (yaksuri_cuda_init_hook:src/backend/cuda/hooks/yaksuri_cuda_init_hooks.c,181): {NO_DEV}",
        f"[1] CUDA Error (yaksuri_cudai_get_ptr_attr:src/backend/cuda/hooks/yaksuri_cuda_init_hooks.c,40): {NO_DEV}",
    ],
)
def test_mpich_yaksa_cuda_probe_is_not_a_container_cause(tmp_path: Path, line: str) -> None:
    text = "srun -n 4 ./app\n" + line + "\n"
    got = _causes(tmp_path, text)
    assert "cuda.visible-devices-mismatch" not in got
    assert "device.nvidia-node-missing" not in got
    assert any("MPIR_CVAR_ENABLE_GPU=0" in n for n in _notes(tmp_path, text))
    # neighbour: the same words from the program itself still name the mask
    assert "cuda.visible-devices-mismatch" in _causes(tmp_path, f"CUDA error: {NO_DEV}\n")


# ---------------------------------------------------------------- Cray MPICH GTL: a step without a GPU
@pytest.mark.parametrize(
    "line",
    [
        f"GTL_DEBUG: [0] cudaHostRegister: {NO_DEV}",
        f"GTL_DEBUG: [12] cudaHostUnregister: {NO_DEV}",
        f"GTL_DEBUG: [3] cudaMalloc: {NO_DEV}",
        f"1: GTL_DEBUG: [1] cuPointerGetAttribute: {NO_DEV}",
    ],
)
def test_cray_gtl_no_device_is_a_step_without_gpu(tmp_path: Path, line: str) -> None:
    got = _causes(tmp_path, line + "\n")
    assert got and got[0] == "slurm.job-without-gpu"
    assert "cuda.visible-devices-mismatch" not in got
    # neighbour: another GTL error is no missing GPU
    assert "slurm.job-without-gpu" not in _causes(tmp_path, "GTL_DEBUG: [0] cudaHostRegister: invalid argument\n")


# ---------------------------------------------------------------- NCCL connect to a loopback peer
@pytest.mark.parametrize(
    "line",
    [
        # (the WARN forms of src/include/socket.h connectAddress v2.4-v2.11, "Net : Connect to" v2.12 and the retry
        # count exceeded were already named network.wrong-interface by nccl.socket-connect-failed /
        # nccl.connect-retry-exceeded; they are examples of nccl.connect-to-loopback-failed, checked by the scanner
        # in test_explain_signatures.py)
        # src/misc/socket.cc socketStartConnect, v2.13-v2.27, as torch's "Last error:" repeats it
        "ncclSystemError: System call (e.g. socket, malloc) or external library call failed or device error. "
        "Last error: socketStartConnect: Connect to 127.0.0.1<40417> failed : Software caused connection abort",
        # src/os/linux.cc, newest
        "node-3:811:900 [0] os/linux.cc:302 NCCL WARN ncclOsSocketStartConnect: connect to 127.0.0.1<60001> failed : No route to host",
        # the same, as torch's DistBackendError repeats it (rank prefixes, no WARN)
        "10: Last error: 10: socketStartConnect: Connect to 127.0.1.1<50331> failed : Connection refused",
    ],
)
def test_nccl_connect_to_loopback_is_wrong_interface(tmp_path: Path, line: str) -> None:
    log = tmp_path / "l.log"
    log.write_text(line + "\n", encoding="utf-8")
    found = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert found and found[0].cause == "network.wrong-interface"
    # named as the loopback peer (nccl.connect-to-loopback-failed), not only as some unreachable address
    assert "loopback address (127.x)" in found[0].message
    # neighbours: the INFO retry of a healthy start-up race, a healthy bootstrap line
    for ok in (
        "node-3:811:900 [0] NCCL INFO socketPollConnect: connect to 127.0.0.1<60001> returned Connection refused, "
        "retrying (3/34) after sleep for 300 msec",
        "node-3:811:811 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.3<0>",
    ):
        assert "network.wrong-interface" not in _causes(tmp_path, ok + "\n")


# ---------------------------------------------------------------- SIGBUS with Open MPI's shared-memory transport
SM = "mpirun --mca btl self,vader -np 72 ./model"


@pytest.mark.parametrize(
    "line",
    [
        "Program received signal SIGBUS: Access to an undefined portion of a memory object.",
        "[ip-10-0-0-7:01234] Signal: Bus error (7)",
        'Thread 1 "model" received signal SIGBUS, Bus error.',
    ],
)
def test_sigbus_with_ompi_shared_memory_is_shm(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, SM + "\n" + line + "\n")[:1] == ["shm.too-small"]
    # neighbours: the SIGBUS alone, the transport alone
    assert "shm.too-small" not in _causes(tmp_path, line + "\n")
    assert _causes(tmp_path, SM + "\nrank 0: step 100 done\n") == []


# ---------------------------------------------------------------- enroot hook on a full data path
HOOK = "[ERROR] /etc/enroot/hooks.d/{hook} exited with return code {rc}"


@pytest.mark.parametrize(
    ("tool", "hook"),
    [
        ("sed: couldn't close stdout: No space left on device", "10-shadow.sh"),
        ("cp: error writing '/home/u/.local/share/enroot/pytorch/home/u/.bashrc': No space left on device", "10-home.sh"),
        ("mkdir: cannot create directory '/home/u/.local/share/enroot/x/run/nvidia': No space left on device", "98-nvidia.sh"),
    ],
)
def test_enroot_hook_enospc_is_the_data_path(tmp_path: Path, tool: str, hook: str) -> None:
    text = "$ enroot start pytorch nvidia-smi\n" + tool + "\n" + HOOK.format(hook=hook, rc=1) + "\n"
    assert _causes(tmp_path, text)[:1] == ["slurm.enroot-path-unusable"]
    # neighbours: the ENOSPC without an enroot hook, the hook failing for another reason
    assert "slurm.enroot-path-unusable" not in _causes(tmp_path, "python train.py\n" + tool + "\n")
    other = "sed: -e expression #1, char 5: unterminated `s' command\n" + HOOK.format(hook=hook, rc=1) + "\n"
    assert "slurm.enroot-path-unusable" not in _causes(tmp_path, other)
