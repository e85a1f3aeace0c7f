"""Issue 13, heldout46 round (glearn46d): precision leads the heldout45 learners left.

Lines are written from the format strings and tools that print them, not copied from a dev log:

- CUDA's 802 'system not yet initialized' (cudaErrorSystemNotReady) on a host the log shows in confidential-computing
  mode (nvidia-smi conf-compute, 'CC mode' as NVIDIA's gpu-admin-tools say it, a confidential VM, a TDX / SEV-SNP
  guest): the CC GPU ready state (nvidia.cc-ready-state-unset) leads and the Fabric Manager is demoted; without that
  context the Fabric Manager reading stays.
- thread creation refused with EAGAIN in a library's own words beside an EPERM line and Python's errno-less
  "can't start new thread": the task limit stays named beside clone3 (g45b-thread-eperm-not-pids no longer drops it).
- the RKNN runtime's 'failed to open rknpu module' where /dev/rknpu is shown absent or the container was started
  without the NPU's node: the node is missing, not group-denied; with the node present it stays group-denied.
- CMSSW's GPU-test skip notice: a cause only where the log shows the job was meant to have a GPU.
- Toil's 'accelerators: []' on a healthy run names nothing (a confirmation: that fact is read only beside a no-GPU
  failure).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes, causes, findings, notes

FM = "nvidia.fabric-manager-not-running"
CC = "nvidia.cc-ready-state-unset"

# CUDA's 802 in three printed forms: quoted alone (g45a.cuda-802-string-quoted), c10's cudaGetDeviceCount warning
# (c10/cuda/CUDAFunctions.cpp 'Error 802: system not yet initialized'), c10's CUDA_CHECK 'CUDA error: %s'.
ERR_802 = [
    "torch.cuda.is_available() warns 'system not yet initialized' and returns False\n",
    "UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions "
    "before calling NumCudaDevices() that might have already set an error? Error 802: system not yet initialized\n",
    "RuntimeError: CUDA error: system not yet initialized\n",
]

# the confidential-computing context, each form named
CC_CONTEXT = [
    "$ nvidia-smi conf-compute -grs\n",  # nvidia-smi's conf-compute subcommand (the ready-state query)
    "$ nvidia-smi conf-compute -f\n",  # the CC feature query
    "The node is an Azure confidential VM with one H100 NVL passed through.\n",
    "We run the model on an H100 with Confidential Computing enabled.\n",
    "The H100 is in CC mode inside the guest.\n",  # gpu-admin-tools' 'CC mode' (on / devtools)
    "Booting the TDX guest with the GPU bound to vfio-pci on the host.\n",
    "QEMU starts the SEV-SNP guest with the H200 passed through.\n",
]


@pytest.mark.parametrize("context", CC_CONTEXT)
@pytest.mark.parametrize("err", ERR_802)
def test_802_in_a_confidential_computing_log_names_the_cc_ready_state(tmp_path: Path, context: str, err: str) -> None:
    found = findings(tmp_path, context + err)
    assert found[0] == (CC, "suggests")
    assert FM not in causes(tmp_path, context + err)
    # the same 802 line without the context keeps the Fabric Manager reading
    assert causes(tmp_path, err)[0] == FM


@pytest.mark.parametrize(
    "neighbour",
    [
        "ECC mode is enabled on all eight GPUs.\n",  # ECC, not CC
        "The H100 has CC mode off.\n",  # gpu-admin-tools' third mode: no CC at all
        "CC mode is disabled on this node.\n",
        "This message is confidential.\n",  # the word without computing / a VM
    ],
)
def test_802_beside_a_cc_look_alike_keeps_the_fabric_manager(tmp_path: Path, neighbour: str) -> None:
    for err in ERR_802:
        assert causes(tmp_path, neighbour + err)[0] == FM
    # the real context in the same log turns it (fails without glearn46d's fact)
    assert causes(tmp_path, neighbour + CC_CONTEXT[3] + ERR_802[0])[0] == CC


def test_cc_context_alone_names_nothing(tmp_path: Path) -> None:
    log = "$ nvidia-smi conf-compute -f\nCC status: ON\nvLLM API server started on http://0.0.0.0:8000\n"
    assert causes(tmp_path, log) == []
    # and with the 802 after it, the ready state
    assert causes(tmp_path, "The guest is a confidential VM.\n" + ERR_802[1])[0] == CC


# thread creation refused with EAGAIN, in each library's own format (the errno a task limit returns)
EAGAIN = [
    # OpenBLAS driver/others/blas_server.c blas_thread_init
    "OpenBLAS blas_thread_init: pthread_create failed for thread 7 of 32: Resource temporarily unavailable\n",
    # NCCL src/misc/utils / include/checks.h SYSCHECK on pthread_create
    "misc/socket.cc:12 NCCL WARN Call to pthread_create failed : Resource temporarily unavailable\n",
    # gcc libgomp/team.c gomp_team_start
    "libgomp: Thread creation failed: Resource temporarily unavailable\n",
    # golang runtime/cgo gcc_libinit.c and runtime/os_linux.go newosproc
    "runtime/cgo: pthread_create failed: Resource temporarily unavailable\n",
    "runtime: failed to create new OS thread (have 14 already; errno=11)\n",
    # tsl env.cc PThread::PThread
    "F external/tsl/tsl/platform/default/env.cc:74] Check failed: ret == 0 (11 vs. 0)Thread tf_pool creation via "
    "pthread_create() failed.\n",
    # libstdc++ std::thread through std::system_error
    "terminate called after throwing an instance of 'std::system_error'\n  what():  Resource temporarily unavailable\n",
    # bash jobs.c make_child
    "/bin/bash: fork: retry: Resource temporarily unavailable\n",
]
EPERM = "OpenBLAS blas_thread_init: pthread_create failed for thread 3 of 32: Operation not permitted\n"
NO_THREAD = "RuntimeError: can't start new thread\n"


@pytest.mark.parametrize("eagain", EAGAIN)
def test_an_eagain_thread_line_keeps_the_pids_limit_beside_eperm(tmp_path: Path, eagain: str) -> None:
    log = "$ docker run --rm trainer python train.py\n" + eagain + NO_THREAD + EPERM
    found = causes(tmp_path, log)
    assert "limits.pids-exhausted" in found
    assert "seccomp.clone3-eperm" in found
    # without the EAGAIN line the EPERM still unsays the errno-less Python line (glearn45b's reading stays)
    only_eperm = causes(tmp_path, "$ docker run --rm trainer python train.py\n" + NO_THREAD + EPERM)
    assert only_eperm == ["seccomp.clone3-eperm"]


@pytest.mark.parametrize(
    "word",
    [
        "zmq.error.Again: Resource temporarily unavailable\n",  # a non-blocking socket, not a thread
        "open /dev/nvidia0: Resource temporarily unavailable\n",
    ],
)
def test_eagain_of_something_else_does_not_keep_the_pids_limit(tmp_path: Path, word: str) -> None:
    log = "$ docker run --rm trainer python train.py\n" + word + NO_THREAD + EPERM
    assert "limits.pids-exhausted" not in causes(tmp_path, log)
    # the thread's own EAGAIN does (fails without glearn46d)
    assert "limits.pids-exhausted" in causes(tmp_path, log + EAGAIN[2])


RKNN = "E RKNN: [10:02:33.517] failed to open rknpu module, need to insmod rknpu driver!\n"
RKNN_OLD = "E RKNN: failed to open rknpu module, need to insmod rknpu dirver!\n"


@pytest.mark.parametrize(
    "absent",
    [
        "ls: cannot access '/dev/rknpu': No such file or directory\n",  # coreutils ls
        "ls: /dev/rknpu: No such file or directory\n",  # busybox ls
        "$ docker run -it --rm -v $PWD:/work rknn-toolkit2:2.3.0 python3 /work/rknn_test.py\n",
        "$ podman run --rm -it rknn_lite2:latest python3 infer_rk3588.py\n",
    ],
)
@pytest.mark.parametrize("err", [RKNN, RKNN_OLD])
def test_rknn_open_failure_with_the_node_absent_names_the_missing_node(tmp_path: Path, absent: str, err: str) -> None:
    found = causes(tmp_path, absent + err)
    assert found[0] == "device.render-node-missing"
    assert "device.group-denied" not in found
    # alone the line keeps the maintainers' reading (a group / mode refusal)
    assert causes(tmp_path, err)[0] == "device.group-denied"


@pytest.mark.parametrize(
    "present",
    [
        "$ docker run -it --rm --device /dev/rknpu -v $PWD:/work rknn-toolkit2:2.3.0 python3 /work/rknn_test.py\n",
        "$ docker run -it --rm --device=/dev/dri rknn-toolkit2:2.3.0 python3 rknn_test.py\n",
        "$ docker run -it --rm --privileged rknn-toolkit2:2.3.0 python3 rknn_test.py\n",
        "$ docker run -it --rm -v /dev:/dev rknn-toolkit2:2.3.0 python3 rknn_test.py\n",
        "crw-rw---- 1 root video 511, 0 Jan  1 00:00 /dev/rknpu\n",  # the node is there
    ],
)
def test_rknn_open_failure_with_the_node_passed_stays_group_denied(tmp_path: Path, present: str) -> None:
    assert causes(tmp_path, present + RKNN)[0] == "device.group-denied"
    # the same log with the node shown missing turns it (fails without glearn46d)
    missing = "ls: cannot access '/dev/rknpu': No such file or directory\n"
    assert causes(tmp_path, missing + RKNN)[0] == "device.render-node-missing"


# CMSSW HeterogeneousCore/CUDAUtilities requireDevices.cc (and its ROCm twin): the test's own skip
SKIPS = [
    "Failed to initialise the CUDA runtime, the test will be skipped.\n",
    "No CUDA devices available, the test will be skipped.\n",
    "No ROCm devices available, the test will be skipped.\n",
]


@pytest.mark.parametrize(
    "expected",
    [
        "please test with enable gpu\n",  # cms-bot's command
        "ENABLE_BOT_TESTS=GPU\n",
        "**Additional Tests**: GPU\n",  # the bot's comment
        "request_GPUs = 1\n",  # HTCondor submit description
        "#SBATCH --gres=gpu:1\n",
    ],
)
@pytest.mark.parametrize("skip", SKIPS)
def test_cmssw_gpu_test_skip_is_a_cause_only_where_a_gpu_was_expected(tmp_path: Path, expected: str, skip: str) -> None:
    assert "device.no-gpu" in all_causes(tmp_path, expected + skip)
    # the intended skip of a CPU-only run: a note, no finding (fails without glearn46d)
    cpu_only = ">> Running unit test testCUDAService\n" + skip + ">> Test testCUDAService succeeded! exit code: 0\n"
    assert all_causes(tmp_path, cpu_only) == []
    assert any("intended exit" in n for n in notes(tmp_path, cpu_only))


def test_cmssw_skip_with_gpus_zero_requested_stays_a_note(tmp_path: Path) -> None:
    log = "request_GPUs = 0\n" + SKIPS[1]
    assert all_causes(tmp_path, log) == []


def test_healthy_toil_run_with_no_accelerators_names_nothing(tmp_path: Path) -> None:
    # DataBiosphere/toil src/toil/leader.py issueJob: 'Issued job %s with job batch system ID: %s and %s'
    # (Requirer.requirements_string()); a run whose jobs need no GPU asks for none and ends well
    log = (
        "[2024-05-02T10:11:12+0000] [MainThread] [I] [toil.leader] Issued job 'BlastJob' kind-BlastJob/instance-ab12 "
        "v1 with job batch system ID: 7 and disk: 2.0 Gi, memory: 2.0 Gi, cores: 1, accelerators: [], "
        "preemptible: False\n"
        "[2024-05-02T10:11:40+0000] [MainThread] [I] [toil.leader] Job ended: 'BlastJob' kind-BlastJob/instance-ab12 v1\n"
        "[2024-05-02T10:11:42+0000] [MainThread] [I] [toil.common] Successfully deleted the job store\n"
        "[2024-05-02T10:11:42+0000] [MainThread] [I] [toil] Finished toil run successfully.\n"
    )
    assert causes(tmp_path, log) == []
