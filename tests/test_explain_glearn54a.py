"""Issue 13, heldout54 lessons (glearn54a).

Lines are written from the code that prints them (not copied from the heldout54 logs):
- Mesa's DRM node open by errno: GLX DRI2 (src/glx/dri2_glx.c dri2CreateScreen, "failed to open drm device: %s") and
  EGL on X11 (src/egl/drivers/dri2/platform_x11.c, "DRI2: could not open %s (%s)"): ENOENT is the node absent from the
  container (device.render-node-missing), ENXIO/ENODEV no driver behind it, EACCES on a card node the video group;
  libdrm's LIBGL_DEBUG=verbose probe of every minor (xf86drm.c drmOpenDevice "open result is %d, (%s)") stays clean;
- the RDMA nodes not mapped into the container and NCCL falling back to TCP, in words (vllm-project/vllm#41063; NCCL
  net_ib/init.cc "NET/IB : No device found."); a single-node NCCL_DEBUG=INFO run stays clean;
- the capabilities of a Docker API device request (docker-py DeviceRequest, docker inspect JSON, Go's %+v; moby
  daemon/nvidia_linux.go) and the words "only adds `compute`" beside NVML/nvidia-smi missing (meta-pytorch/torchx#906,
  fixed by PR #907 capabilities=[["compute", "utility"]]); dash's "nvidia-smi: not found";
- Jetson's Tegra GPU nodes (root:video 0660) for a non-root container user: cudaErrorNoDevice (100) with a Jetson and a
  non-root sign, libnvrm's "NvRmMemInitNvmap failed with %s" (NVIDIA/nvidia-docker#1449, rapidsai/node#87);
- CMake's NOTFOUND for a CUDA toolkit library (FindCUDA CUDA_cublas_LIBRARY, ...) in a docker build on L4T, where the
  CUDA libraries come through the NVIDIA runtime's CSV mounts (dusty-nv/jetson-containers#78); bare, it stays no cause.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# --- Mesa: the DRM node the X server named, opened in the container ---


@pytest.mark.parametrize(
    "text",
    [
        # GLX DRI2 (dri2_glx.c), then the driver load it gives up on
        "libGL error: failed to open drm device: No such file or directory\nlibGL error: failed to load driver: iris\n",
        "libGL error: failed to open drm device: No such file or directory\nlibGL error: failed to load driver: radeonsi\n",
        # EGL on X11 (platform_x11.c), current _EGL_WARNING and the old _EGL_FATAL
        "libEGL warning: DRI2: could not open /dev/dri/card0 (No such file or directory)\n",
        "libEGL fatal: DRI2: could not open /dev/dri/card1 (No such file or directory)\n",
        "libEGL warning: DRI2: could not open /dev/dri/renderD128 (No such file or directory)\n",
    ],
)
def test_mesa_drm_node_enoent_is_the_node_missing(tmp_path: Path, text: str) -> None:
    got = _causes(tmp_path, text)
    assert got[:1] == ["device.render-node-missing"]
    assert "device.cgroup-denied" not in got


@pytest.mark.parametrize(
    "line",
    [
        "libGL error: failed to open drm device: No such device or address",
        "libGL error: failed to open drm device: No such device",
        "libEGL warning: DRI2: could not open /dev/dri/card1 (No such device or address)",
    ],
)
def test_mesa_drm_node_enxio_is_no_driver(tmp_path: Path, line: str) -> None:
    got = _causes(tmp_path, line + "\n")
    assert got[:1] == ["device.no-driver"]
    assert "device.cgroup-denied" not in got


def test_egl_card_node_eacces_is_the_group(tmp_path: Path) -> None:
    got = _causes(tmp_path, "libEGL warning: DRI2: could not open /dev/dri/card0 (Permission denied)\n")
    assert got[:1] == ["device.group-denied"]


def test_mesa_drm_errno_decides_between_absent_and_denied(tmp_path: Path) -> None:
    # the denied errnos keep their own signatures (mesa.drm-open-denied, dri.render-open-eperm); ENOENT is not one
    assert _causes(tmp_path, "libGL error: failed to open drm device: Operation not permitted\n")[:1] == [
        "device.cgroup-denied"
    ]
    assert _causes(tmp_path, "libGL error: failed to open drm device: No such file or directory\n")[:1] == [
        "device.render-node-missing"
    ]


@pytest.mark.parametrize(
    "text",
    [
        # libdrm's verbose probe of the minors a healthy host lacks (xf86drm.c drmOpenDevice)
        "drmOpenDevice: node name is /dev/dri/card1\ndrmOpenDevice: open result is -1, (No such file or directory)\n"
        "drmOpenDevice: open result is -1, (No such file or directory)\ndrmOpenDevice: Open failed\n"
        "libGL: OpenDriver: trying /usr/lib/x86_64-linux-gnu/dri/i965_dri.so\n",
        # another program's own capitalised wording (a KMS tool on a host without that card)
        "[DRM] Failed to open DRM device: No such file or directory\n",
    ],
)
def test_other_drm_open_wordings_do_not_name_the_node(tmp_path: Path, text: str) -> None:
    assert "device.render-node-missing" not in _causes(tmp_path, text)
    # the same log with Mesa's own line does
    assert _causes(tmp_path, text + "libGL error: failed to open drm device: No such file or directory\n")[:1] == [
        "device.render-node-missing"
    ]


# --- RDMA nodes not in the container, told in words; NCCL falling back to TCP ---


@pytest.mark.parametrize(
    "line",
    [
        "the RDMA device nodes weren't mapped in (`/dev/infiniband` missing inside the container)",
        "/dev/infiniband is missing in the container, although ibv_devinfo works on the host",
        "The IB devices were not passed through to the pod.",
        "uverbs device files are not mapped into the worker containers",
        "### Gotcha: NCCL silently falls back to TCP without RDMA device passthrough",
        "On the second node NCCL fell back to TCP/IP for every all-reduce.",
    ],
)
def test_rdma_not_mapped_or_tcp_fallback_in_words(tmp_path: Path, line: str) -> None:
    got = _causes(tmp_path, line + "\n")
    assert got[:1] and got[0] in {"rdma.ib-device-missing", "network.socket-fallback"}


def test_single_node_nccl_info_without_ib_stays_clean(tmp_path: Path) -> None:
    # NCCL net_ib/init.cc and net_socket.cc, init.cc "Using network %s": printed by every healthy run without IB
    text = (
        "gb10-a:211:211 [0] NCCL INFO NET/Plugin: Could not find: libnccl-net.so. Using internal network plugin.\n"
        "gb10-a:211:211 [0] NCCL INFO NET/IB : No device found.\n"
        "gb10-a:211:211 [0] NCCL INFO NET/Socket : Using [0]enP7s7:192.168.1.10<0>\n"
        "gb10-a:211:211 [0] NCCL INFO Using network Socket\n"
        "gb10-a:211:233 [0] NCCL INFO comm 0x55d0 rank 0 nRanks 1 nNodes 1 localRanks 1 localRank 0 MNNVL 0\n"
        "gb10-a:211:233 [0] NCCL INFO Init COMPLETE\n"
    )
    assert _causes(tmp_path, text) == []
    # the same run with the reporter's words that the container had no RDMA nodes
    told = text + "(`/dev/infiniband` missing inside the container, so no RoCE between the two Sparks)\n"
    assert _causes(tmp_path, told)[:1] == ["rdma.ib-device-missing"]


def test_tcp_word_without_nccl_is_not_a_fallback(tmp_path: Path) -> None:
    # a load balancer falling back to TCP health checks is not NCCL; NCCL doing so is
    assert _causes(tmp_path, "The health checker falls back to TCP probes when HTTP fails.\n") == []
    assert _causes(tmp_path, "NCCL falls back to TCP when HTTP fails.\n")[:1] == ["network.socket-fallback"]


# --- the GPU request's driver capabilities without utility (NVML, nvidia-smi) ---

NVML_MISSING = "pynvml.NVMLError_LibraryNotFound: NVML Shared Library Not Found\n"


@pytest.mark.parametrize(
    "request_line",
    [
        # docker-py, as torchx's local_docker built it before PR #907
        'c.kwargs["device_requests"] = [DeviceRequest(count=4, capabilities=[["compute"]])]',
        "device_requests=[docker.types.DeviceRequest(count=-1, capabilities=[['compute']])]",
        # docker inspect --format '{{json .HostConfig.DeviceRequests}}'
        '[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu","compute"]],"Options":{}}]',
        # Go's %+v of container.DeviceRequest
        "DeviceRequests:[{Driver:nvidia Count:2 DeviceIDs:[] Capabilities:[[compute video]] Options:map[]}]",
    ],
)
def test_device_request_without_utility_names_the_capability(tmp_path: Path, request_line: str) -> None:
    assert _causes(tmp_path, request_line + "\n" + NVML_MISSING)[:1] == ["nvidia.driver-capabilities-missing"]


def test_device_request_without_utility_and_dash_nvidia_smi(tmp_path: Path) -> None:
    text = "DeviceRequest(count=1, capabilities=[['compute']])\nsh: 1: nvidia-smi: not found\n"
    assert _causes(tmp_path, text)[:1] == ["nvidia.driver-capabilities-missing"]


def test_device_request_of_gpu_alone_is_the_default_capabilities(tmp_path: Path) -> None:
    # [["gpu"]] sets no NVIDIA_DRIVER_CAPABILITIES (moby setNvidiaGPUs): the default compute,utility
    text = '[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":{}}]\n' + NVML_MISSING
    assert "nvidia.driver-capabilities-missing" not in _causes(tmp_path, text)
    narrowed = text.replace('[["gpu"]]', '[["gpu","compute"]]')
    assert _causes(tmp_path, narrowed)[:1] == ["nvidia.driver-capabilities-missing"]


@pytest.mark.parametrize(
    "text",
    [
        "Our launcher only adds `compute` to the device request.\n"
        "nvidia images need libraries like `libnvidia-ml` that are part of the `utility` capability.\n",
        "The scheduler only requests compute, so libnvidia-ml.so.1 (which comes with the utility capability) is absent.\n",
        # the words beside the failure they explain
        "The job runner only passes `compute`.\n" + NVML_MISSING,
        "the device request only sets compute\nsh: 1: nvidia-smi: not found\n",
    ],
)
def test_words_of_a_compute_only_request_name_the_capability(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == ["nvidia.driver-capabilities-missing"]


@pytest.mark.parametrize(
    "text",
    [
        # documentation of the capability alone: a note, no cause
        "NVML (`libnvidia-ml.so.1`) is part of the `utility` capability.\n",
        # both capabilities requested
        "The launcher only adds `compute, utility` now.\nlibnvidia-ml is part of the utility capability.\n",
        "It only adds compute and utility, see libnvidia-ml in the utility capability docs.\n",
    ],
)
def test_capability_words_without_a_compute_only_request_stay_clean(tmp_path: Path, text: str) -> None:
    assert "nvidia.driver-capabilities-missing" not in _causes(tmp_path, text)
    # beside a request that leaves utility out, the sentence names it
    only = "DeviceRequest(count=-1, capabilities=[['compute']])\n"
    assert _causes(tmp_path, only + text)[:1] == ["nvidia.driver-capabilities-missing"]


def test_dash_nvidia_smi_not_found_alone_is_no_gpu_request(tmp_path: Path) -> None:
    assert _causes(tmp_path, "/bin/sh: 1: nvidia-smi: not found\n")[:1] == ["runtime.nvidia-toolkit-missing"]


# --- Jetson: the Tegra GPU nodes belong to video; a non-root user outside it ---

DQ_FAIL = (
    "./deviceQuery Starting...\n\n CUDA Device Query (Runtime API) version (CUDART static linking)\n\n"
    "cudaGetDeviceCount returned 100\n-> no CUDA-capable device is detected\nResult = FAIL\n"
)


@pytest.mark.parametrize(
    "context",
    [
        "$ docker run --runtime nvidia --user 1000:1000 --rm nvcr.io/nvidia/l4t-base:r32.7.1 ./deviceQuery\n",
        "$ docker run --runtime=nvidia -u appuser -it dustynv/l4t-pytorch:r35.2.1 ./deviceQuery\n",
        "On our Jetson AGX Orin the same image works as root; as a non-root user it fails:\n",
        "podman run --device nvidia.com/gpu=all --user 1000 nvcr.io/nvidia/l4t-jetpack:r36.2.0 ./deviceQuery\n"
        "Linux orin 5.15.122-tegra #1 SMP PREEMPT aarch64\n",
    ],
)
def test_jetson_nonroot_no_device_is_the_video_group(tmp_path: Path, context: str) -> None:
    assert _findings(tmp_path, context + DQ_FAIL)[:1] == [("device.group-denied", "suggests")]


def test_jetson_nonroot_torch_no_gpus_is_the_video_group(tmp_path: Path) -> None:
    text = (
        "JetPack 5.1.2 on a Jetson Orin NX; the container runs as a non-root user\n"
        "RuntimeError: No CUDA GPUs are available\n"
    )
    assert _causes(tmp_path, text)[:1] == ["device.group-denied"]


@pytest.mark.parametrize(
    "text",
    [
        # Jetson as root: error 100 there is not the group
        "$ docker run --runtime nvidia --rm nvcr.io/nvidia/l4t-base:r32.7.1 ./deviceQuery\n" + DQ_FAIL,
        # a non-root user on an x86 host: the /dev/nvidia* nodes are 0666, not the group
        "$ docker run --gpus all --user 1000:1000 nvidia/cuda:12.4.1-base-ubuntu22.04 ./deviceQuery\n" + DQ_FAIL,
    ],
)
def test_error_100_without_both_signs_is_not_the_group(tmp_path: Path, text: str) -> None:
    assert "device.group-denied" not in _causes(tmp_path, text)
    # with both a Jetson sign and a non-root sign it is
    both = "Jetson Xavier NX, container started with docker run --runtime nvidia --user 1000 img\n" + text
    assert _causes(tmp_path, both)[:1] == ["device.group-denied"]


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("NvRmMemInitNvmap failed with Permission denied", "device.group-denied"),
        ("NvRmMemInitNvmap failed with No such file or directory", "device.nvidia-node-missing"),
    ],
)
def test_libnvrm_nvmap_open_by_errno(tmp_path: Path, line: str, cause: str) -> None:
    text = line + "\n549: Memory Manager Not supported\n****NvRmMemInit failed**** error type: 196626\n"
    assert _causes(tmp_path, text)[:1] == [cause]


# --- L4T: a docker build step without the CSV-mounted CUDA libraries ---

NOTFOUND = (
    "CMake Error: The following variables are used in this project, but they are set to NOTFOUND.\n"
    "Please set them or make sure they are set and tested correctly in the CMake files:\n"
    "{var} (ADVANCED)\n"
    '    linked by target "opencv_core" in directory /opt/opencv/modules/core\n'
    "-- Configuring incomplete, errors occurred!\n"
)


@pytest.mark.parametrize(
    "text",
    [
        "Step 6/11 : FROM nvcr.io/nvidia/l4t-base:r32.4.4\nStep 9/11 : RUN cmake -D WITH_CUDA=ON ..\n"
        + NOTFOUND.format(var="CUDA_cublas_LIBRARY")
        + "The command '/bin/sh -c cmake -D WITH_CUDA=ON ..' returned a non-zero code: 1\n",
        "$ docker build -t opencv:r32.5.0 -f Dockerfile.opencv .\nJetPack 4.5 on a Jetson Nano\n"
        + NOTFOUND.format(var="CUDA_cufft_LIBRARY"),
        "Building the image on our Jetson Xavier NX (L4T R32.6.1)\nRUN cmake -DWITH_CUDA=ON -DCUDA_ARCH_BIN=7.2 ..\n"
        + NOTFOUND.format(var="CUDA_nppc_LIBRARY"),
    ],
)
def test_l4t_build_cuda_library_notfound_is_the_build(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text)[:1] == ["runtime.build-without-gpu"]


@pytest.mark.parametrize(
    "text",
    [
        # bare: an x86 image without the toolkit's libraries is as likely (hard case, no cause)
        NOTFOUND.format(var="CUDA_cublas_LIBRARY"),
        # a build, but nothing shows L4T
        "$ docker build -t opencv .\n" + NOTFOUND.format(var="CUDA_cublas_LIBRARY"),
    ],
)
def test_cuda_library_notfound_without_l4t_build_is_no_cause(tmp_path: Path, text: str) -> None:
    assert "runtime.build-without-gpu" not in _causes(tmp_path, text)
    # the same build shown on L4T is named
    l4t = "$ docker build -t opencv:r32.4.4 .\nStep 1/9 : FROM nvcr.io/nvidia/l4t-base:r32.4.4\n" + text
    assert _causes(tmp_path, l4t)[:1] == ["runtime.build-without-gpu"]


def test_notes_say_why_the_capability_sentence_alone_is_not_a_cause(tmp_path: Path) -> None:
    text = "NVML (`libnvidia-ml.so.1`) is part of the `utility` capability.\n"
    assert any("libnvidia-ml comes with the utility driver capability" in n for n in _notes(tmp_path, text))
