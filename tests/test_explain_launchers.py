"""Launchers and servers that say a container cause in their own words (issue 13, `glaunch`).

Every line is written from the upstream format string cited next to it (and in the signature's `source`):
- DeepSpeed deepspeed/launcher/runner.py main() / parse_resource_filter, deepspeed/env_report.py get_shm_size();
- Open MPI opal/mca/shmem/mmap/help-opal-shmem-mmap.txt [target full], opal/mca/btl/vader/help-btl-vader.txt
  [cma-permission-denied], btl_vader_get.c ("Read %ld, expected %lu, errno = %d"), orterun/prterun root check;
- Horovod horovod/runner/launch.py ("Unable to find a set of common task-to-task communication interfaces");
- JAX jax/_src/xla_bridge.py backends() / _init_backend / _suggest_missing_backends, XLA gpu_helpers.cc
  ("No visible GPU devices."), platform_util.cc ("no supported devices found for platform %s");
- Triton python_backend src/shm_manager.cc; llama.cpp common/arg.cpp; Ollama gpu/gpu.go, gpu/amd_linux.go;
- LMDeploy lmdeploy/pytorch/engine/executor/base.py and src/turbomind/utils/cuda_utils.h; NCCL
  src/transport/net_ib.cc ncclIbGetProperties; Accelerate src/accelerate/commands/launch.py; Horovod
  horovod/common/common.h SHUT_DOWN_ERROR and horovod/common/ops/nccl_operations.cc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.differential import shm_bytes
from tpdoctor.explain.downstream import is_generic
from tpdoctor.explain.fallback import first_error
from tpdoctor.explain.signatures import knowledge_base
from tpdoctor.explain.terminal import not_container_reason
from tpdoctor.model import Finding

DS_NO_GPU = "RuntimeError: Unable to proceed, no GPU resources available"
JAX_NO_GPU = (
    "RuntimeError: Unable to initialize backend 'cuda': FAILED_PRECONDITION: No visible GPU devices. "
    "(set JAX_PLATFORMS='' to automatically choose an available backend)"
)
JAX_CPU = (
    "WARNING:jax._src.xla_bridge:No GPU/TPU found, falling back to CPU. "
    "(Set TF_CPP_MIN_LOG_LEVEL=0 and rerun for more info.)"
)
LLAMA_NO_GPU = "warning: no usable GPU found, --gpu-layers option will be ignored"
OLLAMA_NO_GPU = 'time=2024-10-15T09:18:18.299Z level=INFO source=gpu.go:347 msg="no compatible GPUs were discovered"'
DS_SHM = " [WARNING] /dev/shm size might be too small, if running in docker increase to at least --shm-size='1gb' "
GDR = "hostA:31842:31905 [0] NCCL INFO NET/IB : GPU Direct RDMA Disabled for HCA 0 'mlx5_0' (no module)"


def _all(tmp_path: Path, *lines: str) -> list[Finding]:
    log = tmp_path / "run.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list(explain([str(log)]).findings)


def _causes(tmp_path: Path, *lines: str) -> list[tuple[str, str]]:
    return [(f.cause, f.confidence) for f in _all(tmp_path, *lines) if f.severity.value != "notice"]


# --- no GPU, in each framework's words --------------------------------------------------------------


def test_deepspeed_no_gpu_is_a_missing_gpu_or_mask(tmp_path: Path) -> None:
    assert _causes(tmp_path, DS_NO_GPU)[:1] == [("device.nvidia-node-missing", "suggests")]


def test_deepspeed_no_gpu_with_a_command_without_gpus_names_the_request(tmp_path: Path) -> None:
    found = _all(
        tmp_path,
        "$ docker run --rm -it -v $PWD:/w nvcr.io/nvidia/pytorch:24.05-py3 deepspeed train.py --deepspeed",
        DS_NO_GPU,
    )
    top = found[0]
    assert (top.cause, top.confidence) == ("device.nvidia-node-missing", "suggests")
    assert "without any GPU request" in top.message


def test_deepspeed_slot_past_the_gpus_names_the_mask(tmp_path: Path) -> None:
    causes = _causes(
        tmp_path,
        "Detected VISIBLE_DEVICES=2,3: setting --include=localhost:2,3",
        "ValueError: No slot '2' specified on host 'localhost'",
    )
    assert causes[:1] == [("cuda.visible-devices-mismatch", "suggests")]


def test_deepspeed_slot_on_a_remote_host_is_a_typo_not_the_container(tmp_path: Path) -> None:
    assert _causes(tmp_path, "ValueError: No slot '9' specified on host 'worker-1'") == []


@pytest.mark.parametrize(
    "line",
    [
        JAX_NO_GPU,
        "I0305 14:57:34.730122 140585066018624 xla_bridge.py:353] Unable to initialize backend 'cuda': "
        "FAILED_PRECONDITION: No visible GPU devices.",
        "RuntimeError: Backend 'gpu' failed to initialize: FAILED_PRECONDITION: No visible GPU devices.",
        "RuntimeError: Backend 'cuda' provides no devices.",
    ],
)
def test_jax_counts_no_cuda_gpu(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line)[:1] == [("device.nvidia-node-missing", "suggests")]


def test_jax_rocm_no_gpu_is_the_amd_nodes(tmp_path: Path) -> None:
    line = "RuntimeError: Unable to initialize backend 'rocm': FAILED_PRECONDITION: No visible GPU devices."
    assert _causes(tmp_path, line)[:1] == [("device.kfd-missing", "suggests")]


def test_jax_no_gpu_with_a_mask_past_the_passed_gpus_names_the_mask(tmp_path: Path) -> None:
    causes = _causes(
        tmp_path,
        "$ docker run --gpus 2 -e CUDA_VISIBLE_DEVICES=2,3 nvcr.io/nvidia/jax:24.04-py3 python train.py",
        JAX_NO_GPU,
    )
    assert causes[:1] == [("cuda.visible-devices-mismatch", "suggests")]


@pytest.mark.parametrize("line", [JAX_CPU, LLAMA_NO_GPU, OLLAMA_NO_GPU])
def test_cpu_fallback_lines_alone_name_nothing(tmp_path: Path, line: str) -> None:
    """JAX, llama.cpp and Ollama print these on every CPU-only build or host: no cause without context."""
    assert _causes(tmp_path, line) == []


@pytest.mark.parametrize(
    ("command", "line"),
    [
        ("$ docker run --rm nvcr.io/nvidia/jax:24.04-py3 python train.py", JAX_CPU),
        (
            "$ docker run -p 8080:8080 -v /models:/models ghcr.io/ggml-org/llama.cpp:server-cuda "
            "-m /models/q.gguf -ngl 99",
            LLAMA_NO_GPU,
        ),
    ],
)
def test_cpu_fallback_with_a_gpu_image_started_without_gpus_names_the_request(
    tmp_path: Path, command: str, line: str
) -> None:
    assert _causes(tmp_path, command, line)[:1] == [("device.nvidia-node-missing", "suggests")]


def test_cpu_fallback_with_gpus_requested_names_nothing(tmp_path: Path) -> None:
    assert _causes(tmp_path, "$ docker run --gpus all --rm nvcr.io/nvidia/jax:24.04-py3 python t.py", JAX_CPU) == []


def test_ollama_kfd_absent_in_the_container(tmp_path: Path) -> None:
    line = (
        'time=2024-06-01T10:00:00.000Z level=ERROR source=amd_linux.go:390 msg="amdgpu devices detected but '
        "permission problems block access: kfd driver not loaded.  If running in a container, remember to include "
        "'--device /dev/kfd --device /dev/dri'\""
    )
    assert _causes(tmp_path, line)[:1] == [("device.kfd-missing", "suggests")]


# --- /dev/shm -----------------------------------------------------------------------------------------


def test_triton_python_backend_cannot_grow_its_shm_region(tmp_path: Path) -> None:
    line = (
        "E0601 10:00:00.000000 1 model_lifecycle.cc:626] failed to load 'preprocess' version 1: Internal: Unable to "
        "initialize shared memory key 'triton_python_backend_shm_region_1' to requested size (1048576 bytes). If you "
        "are running Triton inside docker, use '--shm-size' flag to control the shared memory region size."
    )
    assert _causes(tmp_path, line)[:1] == [("shm.too-small", "proves")]


def test_open_mpi_backing_file_in_dev_shm_is_the_shm_size(tmp_path: Path) -> None:
    causes = _causes(
        tmp_path,
        "It appears as if there is not enough space for /dev/shm/osc_sm.node1.1a2b0001 (the shared-memory backing",
        "file). It is likely that your MPI job will now either abort or experience",
        "performance degradation.",
        "  Space Requested: 414724096 B",
        "  Space Available: 66736128 B",
    )
    assert causes[:1] == [("shm.too-small", "proves")]


def test_open_mpi_backing_file_in_the_session_directory_is_not_the_shm_size(tmp_path: Path) -> None:
    line = (
        "It appears as if there is not enough space for /tmp/openmpi-sessions-1001_at_mpi012_0/41788/1/"
        "shared_mem_pool.mpi012 (the shared-memory backing"
    )
    assert "shm.too-small" not in [c for c, _ in _causes(tmp_path, line)]


def test_ds_report_small_shm_alone_is_a_note(tmp_path: Path) -> None:
    found = _all(tmp_path, "shared memory (/dev/shm) size .... 64.00 MB", DS_SHM)
    assert [f.cause for f in found if f.severity.value != "notice"] == []


def test_ds_report_small_shm_then_a_bus_error_is_the_cause(tmp_path: Path) -> None:
    causes = _causes(tmp_path, DS_SHM, "Fatal Python error: Bus error")
    assert causes[:1] == [("shm.too-small", "suggests")]


# --- MPI launchers ----------------------------------------------------------------------------------


def test_mpirun_refuses_root(tmp_path: Path) -> None:
    assert _causes(tmp_path, "mpirun has detected an attempt to run as root.")[:1] == [
        ("mpi.run-as-root-refused", "proves")
    ]


def test_prterun_refuses_root(tmp_path: Path) -> None:
    assert _causes(tmp_path, "prterun has detected an attempt to run as root.")[:1] == [
        ("mpi.run-as-root-refused", "proves")
    ]


def test_cma_refusal_is_degraded_not_a_blocker(tmp_path: Path) -> None:
    found = [f for f in _all(tmp_path, "[a8c9914754d2:00040] Read -1, expected 131072, errno = 1")]
    assert [(f.cause, f.severity.value) for f in found] == [("mpi.cma-ptrace-denied", "degraded")]


def test_horovod_no_common_interface_is_the_network(tmp_path: Path) -> None:
    line = (
        "Exception: Unable to find a set of common task-to-task communication interfaces: "
        "[(0, {'lo': [('127.0.0.1', 33345)]}), (1, {'eth0': [('172.17.0.3', 44321)]})]"
    )
    assert _causes(tmp_path, line)[:1] == [("network.wrong-interface", "suggests")]


# --- failures with no container cause stay clean -------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        (
            "E external/xla/xla/service/platform_util.cc:198] unable to create StreamExecutor for CUDA:0: failed "
            "initializing StreamExecutor for CUDA device ordinal 0: INTERNAL: failed call to cuDevicePrimaryCtxRetain: "
            "CUDA_ERROR_OUT_OF_MEMORY: out of memory; total memory reported: 25396838400",
            "RuntimeError: Unable to initialize backend 'cuda': INTERNAL: no supported devices found for platform CUDA "
            "(you may need to uninstall the failing plugin package, or set JAX_PLATFORMS=cpu to skip this backend.)",
        ),
        (
            "WARNING:jax._src.xla_bridge:An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is "
            "not installed. Falling back to cpu.",
        ),
        ("RuntimeError: No enough gpu memory for kv cache.",),
        (
            "CUDA backend failed to initialize: Found cuDNN version 8700, but JAX was built against version 8904, which "
            "is newer. The copy of cuDNN that is installed must be at least as new as the version against which JAX was "
            "built. (Set TF_CPP_MIN_LOG_LEVEL=0 and rerun for more info.)",
        ),
    ],
)
def test_not_container_failures_stay_clean(tmp_path: Path, lines: tuple[str, ...]) -> None:
    assert _causes(tmp_path, *lines) == []


@pytest.mark.parametrize(
    "terminal",
    [
        # XLA refused every GPU it saw (memory held elsewhere, no VMM): xla/service/platform_util.cc
        "RuntimeError: Unable to initialize backend 'cuda': INTERNAL: no supported devices found for platform CUDA",
        # jaxlib's CUDA library check: jax/_src/xla_bridge.py _check_cuda_versions
        "RuntimeError: Unable to load cuSPARSE. Is it installed?",
        "RuntimeError: Found cuDNN version 8700, but JAX was built against version 8904, which is newer.",
        # LMDeploy's PyTorch engine: lmdeploy/pytorch/engine/executor/base.py
        "RuntimeError: No enough gpu memory for kv cache.",
        # DeepSpeed op_builder/builder.py: no nvcc in the image / nvcc against torch's CUDA
        "op_builder.builder.MissingCUDAException: CUDA_HOME does not exist, unable to compile CUDA op(s)",
        "deepspeed.ops.op_builder.builder.CUDAMismatchException: >- DeepSpeed Op Builder: Installed CUDA version 11.7 "
        "does not match the version torch was compiled with 12.1, unable to compile cuda/cpp extensions without a "
        "matching cuda version.",
    ],
)
def test_a_guess_before_a_terminal_failure_with_no_container_cause_is_demoted(tmp_path: Path, terminal: str) -> None:
    """The run ended with a failure no container setting causes: an earlier RDMA warning is only a guess."""
    warn = "node1:41:77 [0] NCCL WARN Call to ibv_open_device failed"
    assert _causes(tmp_path, warn)[:1] == [("rdma.ib-device-missing", "suggests")]
    found = _all(tmp_path, warn, terminal)
    assert [(f.cause, f.severity.value) for f in found] == [("rdma.ib-device-missing", "notice")]


# --- GPUDirect RDMA ----------------------------------------------------------------------------------


def test_gdr_without_peermem_on_two_nodes_is_degraded(tmp_path: Path) -> None:
    found = _all(
        tmp_path,
        GDR,
        "hostA:31842:31905 [0] NCCL INFO comm 0x55d0 rank 0 nRanks 16 nNodes 2 localRanks 8 localRank 0 MNNVL 0",
    )
    assert [(f.cause, f.severity.value) for f in found][:1] == [("rdma.gdr-module-missing", "degraded")]


def test_gdr_without_peermem_and_no_node_count_is_a_note(tmp_path: Path) -> None:
    assert _causes(tmp_path, GDR) == []


# --- wrappers and forms the existing mechanisms already read --------------------------------------------


def test_horovod_shutdown_is_a_wrapper_not_the_root() -> None:
    """horovod/common/common.h SHUT_DOWN_ERROR: the real exception is earlier in the log."""
    wrapper = (
        "horovod.common.exceptions.HorovodInternalError: Horovod has been shut down. This was caused by an exception "
        "on one of the ranks or an attempt to allreduce, allgather or broadcast a tensor after one of the ranks "
        "finished execution."
    )
    root = "ValueError: Total number of attention heads (32) must be divisible by tensor parallel size (3)."
    assert is_generic(wrapper)
    assert first_error([("log", 10, wrapper), ("log", 20, root)]) == ("log", 20, root)


def test_horovod_nccl_init_failure_is_the_generic_system_error(tmp_path: Path) -> None:
    """horovod/common/ops/nccl_operations.cc NCCLContext::ErrorCheck: op_name + " failed: " + ncclGetErrorString."""
    found = _all(tmp_path, "ncclCommInitRank failed: unhandled system error")
    assert found and found[0].confidence == "suggests"


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        ("invalid device ordinal", "cuda.visible-devices-mismatch"),
        ("no CUDA-capable device is detected", "cuda.visible-devices-mismatch"),
        ("peer access is not supported between these two devices", "nccl.p2p-unsupported"),
    ],
)
def test_lmdeploy_turbomind_cuda_errors_map_through_the_code_table(tmp_path: Path, error: str, cause: str) -> None:
    """InternLM/lmdeploy src/turbomind/utils/cuda_utils.h check(): "[TM][ERROR] CUDA runtime error: " +
    _cudaGetErrorEnum(result) + " " + file + ":" + line (v0.2-v0.6): read as torch's "CUDA error: <string>"."""
    line = f"RuntimeError: [TM][ERROR] CUDA runtime error: {error} /lmdeploy/src/turbomind/utils/cuda_utils.h:81"
    turbomind = _causes(tmp_path, line)
    assert turbomind == _causes(tmp_path, f"RuntimeError: CUDA error: {error}")
    assert [c for c, _ in turbomind][:1] == [cause]


def test_accelerate_zero_processes_alone_names_nothing(tmp_path: Path) -> None:
    assert _causes(tmp_path, "\t`--num_processes` was set to a value of `0`") == []


def test_accelerate_zero_processes_in_a_cuda_image_without_gpus(tmp_path: Path) -> None:
    causes = _causes(
        tmp_path,
        "$ docker run --rm -v $PWD:/w nvcr.io/nvidia/pytorch:24.05-py3 accelerate launch train.py",
        "The following values were not passed to `accelerate launch` and had defaults used instead:",
        "\t`--num_processes` was set to a value of `0`",
    )
    assert causes[:1] == [("device.nvidia-node-missing", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "[WARNING] [real_accelerator.py:162:get_accelerator] Setting accelerator to CPU. If you have GPU or other "
        "accelerator, we were unable to detect it.",
        "AssertionError: Megatron requires CUDA.",
    ],
)
def test_cpu_only_symptoms_select_the_request_only_with_a_command(tmp_path: Path, line: str) -> None:
    """DeepSpeed accelerator/real_accelerator.py get_accelerator; Megatron-LM initialize_megatron."""
    assert _causes(tmp_path, line) == []
    cmd = "$ docker run --rm --ipc=host nvcr.io/nvidia/pytorch:24.05-py3 torchrun --nproc-per-node 2 pretrain_gpt.py"
    assert _causes(tmp_path, cmd, line)[:1] == [("device.nvidia-node-missing", "suggests")]


# --- /dev/shm measured where the job runs (ds_report, df -h) selects the size --------------------------

ENOSPC = "OSError: [Errno 28] No space left on device"


def test_shm_bytes_reads_both_printers() -> None:
    assert shm_bytes("64.00 MB") == 64 << 20
    assert shm_bytes("64M") == 64 << 20
    assert shm_bytes("1.00 GB") == 1 << 30
    assert shm_bytes("16G") == 16 << 30
    assert shm_bytes("lots") is None


def test_ds_report_size_and_a_bus_error_name_the_measurement(tmp_path: Path) -> None:
    found = [
        f
        for f in _all(tmp_path, "shared memory (/dev/shm) size .... 64.00 MB", "Fatal Python error: Bus error")
        if f.severity.value != "notice"
    ]
    assert (found[0].cause, found[0].confidence) == ("shm.too-small", "suggests")
    assert "ds_report measured a 64 MiB /dev/shm" in found[0].message


def test_df_of_a_small_shm_makes_a_bare_enospc_the_shm_size(tmp_path: Path) -> None:
    df = "shm              64M     0   64M   0% /dev/shm"
    assert _causes(tmp_path, ENOSPC) == []
    assert _causes(tmp_path, "Filesystem      Size  Used Avail Use% Mounted on", df, ENOSPC)[:1] == [
        ("shm.too-small", "suggests")
    ]


def test_df_of_a_large_shm_selects_nothing(tmp_path: Path) -> None:
    assert _causes(tmp_path, "shm              16G     0   16G   0% /dev/shm", ENOSPC) == []


# --- UCX's shared-memory transport (Open MPI pml ucx, TensorRT-LLM, NIXL) ------------------------------


def test_ucx_cannot_fill_its_dev_shm_segment(tmp_path: Path) -> None:
    """openucx/ucx src/uct/sm/mm/posix/mm_posix.c uct_posix_test_mem (ENOSPC)."""
    line = (
        "[1652739463.054681] [node7:4071024:0]     mm_posix.c:206  UCX  ERROR Not enough memory to write total of "
        "33554432 bytes. Please check that /dev/shm or the directory you specified has more available memory."
    )
    assert _causes(tmp_path, line)[:1] == [("shm.too-small", "suggests")]


def test_ucx_peer_segment_absent_is_split_namespaces(tmp_path: Path) -> None:
    """mm_posix.c uct_posix_open_check_result with ENOENT on the peer's segment."""
    line = (
        "[1679000000.000000] [node1:12345:0]     mm_posix.c:233  UCX  ERROR shm_open(file_name=/ucx_shm_posix_2e841ba5 "
        "flags=0x0) failed: No such file or directory"
    )
    assert _causes(tmp_path, line)[:1] == [("topology.ranks-split-across-containers", "suggests")]


def test_ucx_peer_fd_link_refused_is_another_user_namespace(tmp_path: Path) -> None:
    """EACCES, unlike ENOENT, means the peer's /proc/<pid>/fd exists but the kernel's ptrace access check
    refused it (fs/proc/base.c proc_pid_get_link -> proc_fd_access_allowed -> ptrace_may_access,
    PTRACE_MODE_READ_FSCREDS): another user or another user namespace, i.e. a container (apptainer instance)
    per rank -- only suggested (glearn13b, openucx/ucx#9213)."""
    line = (
        "[1679000000.000000] [node1:12345:0]     mm_posix.c:233  UCX  ERROR open(file_name=/proc/4242/fd/17 "
        "flags=0x0) failed: Permission denied"
    )
    assert _causes(tmp_path, line)[:1] == [("topology.ranks-split-across-containers", "suggests")]


def test_triton_system_shm_region_from_another_ipc_namespace(tmp_path: Path) -> None:
    """triton-inference-server/core src/shared_memory_manager.cc OpenSharedMemoryRegion."""
    line = (
        "tritonclient.utils.InferenceServerException: [StatusCode.INTERNAL] failed to register shared memory region "
        "'input_data': Unable to open shared memory region: '/input_simple'"
    )
    assert _causes(tmp_path, line)[:1] == [("topology.ranks-split-across-containers", "suggests")]


def test_deepspeed_minor_cuda_mismatch_it_accepts_is_no_root() -> None:
    """op_builder/builder.py: a minor-version mismatch DeepSpeed accepts is printed and the run goes on."""
    kb = knowledge_base()
    ok = (
        "Installed CUDA version 11.7 does not match the version torch was compiled with 11.8 but since the APIs are "
        "compatible, accepting this combination"
    )
    refused = (
        "Installed CUDA version 11.7 does not match the version torch was compiled with 12.1, unable to compile "
        "cuda/cpp extensions without a matching cuda version."
    )
    assert not_container_reason(ok, kb) == ""
    assert not_container_reason(refused, kb) == "deepspeed.op-builder-cuda"


OMPI_NO_NICS = (
    "[[52137,1],0]: A high-performance Open MPI point-to-point messaging module",
    "was unable to find any relevant network interfaces:",
    "",
    "Module: OpenFabrics (openib)",
    "  Host: 6f222c4867e7",
)


def test_open_mpi_without_rdma_nics_on_one_node_is_a_note(tmp_path: Path) -> None:
    """opal/mca/btl/base/help-mpi-btl-base.txt [btl:no-nics]: every containerised single-node job prints it."""
    log = tmp_path / "ompi.log"
    log.write_text("\n".join(OMPI_NO_NICS) + "\n", encoding="utf-8")
    result = explain([str(log)])
    assert [f for f in result.findings if f.severity.value != "notice"] == []
    assert any("Open MPI's RDMA transport found no usable NIC" in n for n in result.notes)


def test_open_mpi_without_rdma_nics_across_nodes_is_the_missing_device(tmp_path: Path) -> None:
    init = "hostA:31842:31905 [0] NCCL INFO comm 0x55d0 rank 0 nRanks 16 nNodes 2 localRanks 8 localRank 0 MNNVL 0"
    assert _causes(tmp_path, *OMPI_NO_NICS, init)[:1] == [("rdma.ib-device-missing", "suggests")]


def test_llamacpp_invalid_device_ranks_after_the_line_that_says_why(tmp_path: Path) -> None:
    """ggml-cuda.cu ggml_backend_cuda_init: a downstream line; the runtime's own error before it leads."""
    alone = _causes(tmp_path, "ggml_backend_cuda_init: invalid device 0")
    assert [c for c, _ in alone][:1] == ["cuda.visible-devices-mismatch"]
    causes = _causes(
        tmp_path,
        "ggml_cuda_init: failed to initialize CUDA: CUDA driver version is insufficient for CUDA runtime version",
        "ggml_backend_cuda_init: invalid device 0",
    )
    # the CUDA runtime's 35 leads (its first reading since heldout8: no driver library at all, see
    # data/error_codes/cuda.yaml), not the downstream invalid-device line's mask mismatch
    assert [c for c, _ in causes][:1] == ["device.nvidia-node-missing"]
