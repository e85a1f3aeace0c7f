"""Issue 13, heldout7 lessons: the families behind its misses, read in the code that prints them.

Every positive line below is written from the upstream format string its signature cites (not copied from
the heldout7 logs): moby's device-driver and runtime errors, nvidia-docker 1.0's CUDA check, the NGC
entrypoint's driver check read against CUDA minor-version compatibility, the CUDA samples' "(error code %s)",
the kubelet's device-plugin admission errors, NCCL's NVLS CUDA checks, UCX's /dev/shm FIFO, libcompose's
unsupported key, rocminfo's legacy group check, and the device-cgroup EPERM read with NVML's Unknown Error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, notes
from tpdoctor.explain import explain


def _confidence(tmp_path: Path, text: str) -> dict[str, str]:
    log = tmp_path / "c.log"
    log.write_text(text)
    return {f.cause: f.confidence for f in explain([str(log)]).findings if f.severity.value != "notice"}


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # libcompose config/validation.go unsupportedConfigMessage and docker-compose <= 1.5 compose/config.py
        # process_container_options: "Unsupported config option for %s service: '%s'" (a compose-spec key)
        ("FATA[0000] Failed to read project: Unsupported config option for api service: 'runtime'\n",
         "compose.key-unsupported"),
        # moby < 23 daemon_unix.go "Unknown runtime specified %s", >= 23 runtime_unix.go
        # "unknown or invalid runtime name: %s", and the same retold in lower case
        ("docker: Error response from daemon: Unknown runtime specified nvidia.\n", "runtime.nvidia-toolkit-missing"),
        ("ERROR: for vllm  Cannot create container: unknown or invalid runtime name: nvidia\n",
         "runtime.nvidia-toolkit-missing"),
        ("After the upgrade I get unknown runtime specified nvidia when starting the stack.\n",
         "runtime.nvidia-toolkit-missing"),
        ("docker: Error response from daemon: Unknown runtime specified amd.\n", "runtime.amd-toolkit-missing"),
        # nvidia-docker 1.0 tools/src/nvidia-docker/utils.go cudaIsSupported: "unsupported CUDA version: %s < %s"
        # (the image's com.nvidia.cuda.version label, then the driver's CUDA version)
        ("nvidia-docker | 2016/05/01 10:00:00 Error: unsupported CUDA version: 8.0 < 7.5\n", "cuda.driver-too-old"),
        # NVIDIA/cuda-samples vectorAdd.cu: "Failed to allocate device vector A (error code %s)!" with
        # cudaGetErrorString(cudaErrorSystemNotReady) = "system not yet initialized"
        ("Failed to allocate device vector B (error code system not yet initialized)!\n",
         "nvidia.fabric-manager-not-running"),
        # kubelet devicemanager/manager.go "device plugin GetPreferredAllocation rpc failed with err: %v" inside
        # admission/errors.go "Allocate failed due to %v, which is unexpected"
        ("Warning  UnexpectedAdmissionError  5s  kubelet  Allocate failed due to device plugin GetPreferredAllocation "
         "rpc failed with err: rpc error: code = Unknown desc = error getting list of preferred allocation devices: "
         "failed to get nvlink state: Unknown Error, which is unexpected\n", "k8s.gpu-resource-unavailable"),
        ("Pod was rejected: Allocate failed due to rpc error: code = Unknown desc = no devices available, "
         "which is unexpected\n", "k8s.gpu-resource-unavailable"),
        # UCX mm_iface.c "mm_iface failed to allocate receive FIFO"; mm_posix.c "Not enough memory to write total
        # of %zu bytes. Please check that /dev/shm or the directory you specified has more available memory."
        ("[1710000000.000001] [pod-0:41:0]   mm_iface.c:700  UCX  ERROR mm_iface failed to allocate receive FIFO\n",
         "shm.too-small"),
        ("[1710000000.000001] [pod-0:41:0]   mm_posix.c:233  UCX  ERROR Not enough memory to write total of 8392704 "
         "bytes. Please check that /dev/shm or the directory you specified has more available memory.\n",
         "shm.too-small"),
    ],
)
def test_family_form_names_its_cause_first(tmp_path: Path, text: str, cause: str) -> None:
    assert causes(tmp_path, text)[:1] == [cause]


# NGC entrypoint (nvidia_entrypoint.sh): "ERROR: This container was built for NVIDIA Driver Release
# ${CUDA_DRIVER_VERSION%.*} or later, but" / "       version ${DRIVER_VERSION} was detected and compatibility mode
# is UNAVAILABLE." / "       [[${_CUDA_COMPAT_STATUS}]]"
def _ngc(built: str, detected: str) -> str:
    return (
        f"ERROR: This container was built for NVIDIA Driver Release {built} or later, but\n"
        f"       version {detected} was detected and compatibility mode is UNAVAILABLE.\n"
        "\n       [[]]\n"
    )


@pytest.mark.parametrize(
    ("built", "detected"),
    [("535.86", "510.85.02"), ("580.65", "570.133.20"), ("460.32", "450.51.06"), ("418.40", "410.79")],
)
def test_ngc_driver_below_the_minor_version_floor_proves_driver_too_old(
    tmp_path: Path, built: str, detected: str
) -> None:
    assert _confidence(tmp_path, _ngc(built, detected)) == {"cuda.driver-too-old": "proves"}


@pytest.mark.parametrize(
    ("built", "detected"),
    # same CUDA major, driver at or above the minor-version floor: the image usually runs (a note only)
    [("595.58", "580.126.09"), ("545.23", "535.129.03"), ("470.57", "460.32.03")],
)
def test_ngc_driver_within_minor_version_compatibility_stays_a_note(
    tmp_path: Path, built: str, detected: str
) -> None:
    text = _ngc(built, detected)
    assert causes(tmp_path, text) == []
    assert any("minor-version compatibility" in n for n in notes(tmp_path, text))


# NCCL src/transport/nvls.cc CUCHECK "Cuda failure %d '%s'": CUDA started, NVLS multicast setup failed. NVIDIA's NCCL
# maintainers read it as a fabric manager restarted without a GPU reset (NVIDIA/nccl#976, #1488, nccl-tests#276),
# so alone it suggests that; CUDA's 802 at init proves a fabric manager that is not running at all.
NVLS = "node1:77:90 [2] transport/nvls.cc:272 NCCL WARN Cuda failure 801 'operation not supported'\n"


@pytest.mark.parametrize(
    "line",
    [
        NVLS,
        "node1:77:90 [2] transport/nvls.cc:158 NCCL WARN Cuda failure 1 'invalid argument'\n",
        "gpu4:4962:5097 [1] transport/nvls.cc:223 NCCL WARN Cuda failure 999 'unknown error'\n",
        "transport/nvls.cc:165 NCCL WARN Cuda failure 'invalid argument'\n",
    ],
)
def test_nvls_cuda_failure_alone_suggests_a_restarted_fabric_manager(tmp_path: Path, line: str) -> None:
    got = _confidence(tmp_path, line)
    assert list(got)[:1] == ["nvidia.fabric-manager-restarted"]
    assert set(got.values()) == {"suggests"}


def test_nvls_cuda_failure_code_note_defers_to_the_context(tmp_path: Path) -> None:
    line = "node1:77:90 [2] transport/nvls.cc:158 NCCL WARN Cuda failure 1 'invalid argument'\n"
    got = notes(tmp_path, line)
    assert any("cudaErrorInvalidValue" in n and "nvidia.fabric-manager-restarted reads its context" in n for n in got)
    assert not any("cudaErrorInvalidValue" in n and "Not a container cause" in n for n in got)


def test_nvls_cuda_failure_with_cuda_802_names_fabric_manager(tmp_path: Path) -> None:
    text = "CUDA error: system not yet initialized\n" + NVLS
    assert causes(tmp_path, text) == ["nvidia.fabric-manager-not-running"]
    assert any("after the fabric manager failure" in n for n in notes(tmp_path, text))


def test_nvls_info_lines_of_a_healthy_run_name_nothing(tmp_path: Path) -> None:
    text = (
        "node1:77:90 [0] NCCL INFO NVLS multicast support is available on dev 0\n"
        "node1:77:90 [0] NCCL INFO NVLS comm 0x55d0 headRank 0 nHeads 8 buffSize 4194304 memSize 2097152\n"
        "node1:77:90 [0] NCCL INFO transport/nvls.cc:416 -> 0\n"
    )
    assert causes(tmp_path, text) == []


# moby daemon/errors.go "could not select device driver %q with capabilities: %v": driver "" / [[gpu]] is --gpus,
# served by NVIDIA's driver or (28.3+, daemon/devices_amd_linux.go) AMD's.
GPUS = 'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'


def test_gpus_without_driver_on_amd_image_names_amd_toolkit(tmp_path: Path) -> None:
    text = "$ docker run --rm --gpus all rocm/pytorch:latest rocminfo\n" + GPUS
    got = _confidence(tmp_path, text)
    assert list(got)[:1] == ["runtime.amd-toolkit-missing"]
    assert got.get("runtime.nvidia-toolkit-missing") == "suggests"


def test_gpus_without_driver_defaults_to_nvidia(tmp_path: Path) -> None:
    assert causes(tmp_path, "$ docker run --rm --gpus all nvidia/cuda:12.4.0-base nvidia-smi\n" + GPUS)[:1] == [
        "runtime.nvidia-toolkit-missing"
    ]


# rocminfo @rocm-3.3.0 CheckInitialState: "%s is member of video group" (video hard-coded), then rocminfo.cc
# RET_IF_HSA_ERR "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: ..."
HSA_OOR = (
    "hsa api call failure at: /src/rocminfo/rocminfo.cc:1102\n"
    "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources. "
    "This error may also occur when the core runtime library needs to spawn threads or create internal "
    "OS-specific events.\n"
)


def test_rocminfo_video_only_then_hsa_init_failure_names_the_group(tmp_path: Path) -> None:
    text = "ROCk module is loaded\nbob is member of video group\n" + HSA_OOR
    assert causes(tmp_path, text)[:1] == ["device.group-denied"]


def test_rocminfo_as_root_keeps_the_kfd_reading(tmp_path: Path) -> None:
    text = "ROCk module is loaded\nroot is member of video group\n" + HSA_OOR
    assert causes(tmp_path, text)[:1] == ["device.kfd-missing"]


@pytest.mark.parametrize(
    "line",
    ["rocminfo in the container shows Permission denied for /dev/kfd", "crw-rw---- 1 root **109** 236, 0 Jan 2 10:00 /dev/kfd"],
)
def test_kfd_denied_retold_and_bold_numeric_group(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, line + "\n")[:1] == ["device.group-denied"]


# NVML "Failed to initialize NVML: Unknown Error" (nvml.h NVML_ERROR_UNKNOWN) and EPERM on /dev/nvidiactl
STRACE_EPERM = 'open("/dev/nvidiactl", O_RDWR)                  = -1 EPERM (Operation not permitted)\n'


def test_nvml_unknown_with_node_eperm_is_lost_rules(tmp_path: Path) -> None:
    got = _confidence(tmp_path, "Failed to initialize NVML: Unknown Error\n" + STRACE_EPERM)
    assert list(got)[:1] == ["device.nvml-cgroup-lost"]
    assert got.get("device.cgroup-denied") != "proves"


def test_bind_mounted_node_eperm_stays_cgroup_denied(tmp_path: Path) -> None:
    text = "sh: 1: cannot create /dev/nvidiactl: Operation not permitted\n"
    assert causes(tmp_path, text)[:1] == ["device.cgroup-denied"]


@pytest.mark.parametrize("host", ["Cgroup Version: 2", "cgroup2fs", "the host runs cgroup v2"])
def test_nvml_unknown_on_cgroup_v2_names_the_old_toolkit(tmp_path: Path, host: str) -> None:
    text = f"{host}\n$ docker run --rm --gpus all nvidia/cuda:11.0-base nvidia-smi\nFailed to initialize NVML: Unknown Error\n"
    assert causes(tmp_path, text)[:1] == ["runtime.cgroupv2-unsupported"]


def test_nvml_unknown_without_cgroup_v2_keeps_lost_rules(tmp_path: Path) -> None:
    assert causes(tmp_path, "Failed to initialize NVML: Unknown Error\n")[:1] == ["device.nvml-cgroup-lost"]
