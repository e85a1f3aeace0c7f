"""Issue 13, heldout46 lessons (glearn46b): Podman's compat API, Windows/WSL/Hyper-V, SYCL and a container's FD limit.

Lines are written from the code that prints them (not copied from the heldout46 logs): haproxy's FD-limit alert in
each of its forms (src/haproxy.c v1.5, v1.8-v3.2; src/limits.c v3.3+), ggml's SYCL platform exception
(dpct/helper.hpp get_preferred_gpu_platform_name) as llama_model_load and std::terminate print it, NVML's
NVML_ERROR_OPERATING_SYSTEM beside lspci's Hyper-V GPU-PV adapter (PCI 1414:008e), nvidia-smi's "couldn't communicate"
on a Windows build without WSL GPU support, and compose files run by `podman compose` / docker-compose on Podman
Desktop whose GPU request Podman's Docker API drops (pkg/api/handlers/compat/containers_create.go).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# --- haproxy's open-file limit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # v1.8-v3.2 (ha_alert under strict-limits, the default from v2.4; ha_warning otherwise)
        "[ALERT]    (12) : [haproxy.main()] Cannot raise FD limit to 20035, limit is 1024.\n",
        "[WARNING] 123/101112 (9) : [haproxy.main()] Cannot raise FD limit to 8227, limit is 4096.\n",
        # v1.5-v1.7 (Warning, no current limit)
        "[WARNING] 061/144051 (7) : [haproxy.main()] Cannot raise FD limit to 300011.\n",
        # v3.3+ src/limits.c apply_nofile_limit
        "[ALERT]    (8) : [haproxy.main()] Cannot raise FD limit to 40035, current limit is 1024 and hard limit is "
        "4096. You may prefer to let HAProxy adjust the limit by itself; for this, please just drop any 'maxconn' "
        "and 'ulimit-n' from the global section.\n",
        # check_nofile_lim_and_prealloc_fd, every version
        "[ALERT]    (8) : [haproxy.main()] FD limit (4096) too low for maxconn=20000/maxsock=40035. Please raise "
        "'ulimit-n' to 40035 or more to avoid any trouble.\n",
        # pasted without haproxy's prefix
        "appapi-harp  | Cannot raise FD limit to 65571, limit is 65536.\n",
    ],
)
def test_haproxy_fd_limit_forms(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line)[:1] == [("limits.nofile-too-low", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        # haproxy's memory limit
        "[WARNING] (7) : [haproxy.main()] Cannot fix MEM limit to 512 megs.\n",
        # the healthy haproxy start-up notices
        "[NOTICE]   (1) : haproxy version is 2.8.5-aaba8d0\n",
        "[NOTICE]   (1) : path to executable is /usr/local/sbin/haproxy\n",
    ],
)
def test_haproxy_neighbours_clean(tmp_path: Path, line: str) -> None:
    assert "limits.nofile-too-low" not in _causes(tmp_path, line)


# --- ggml SYCL: no GPU platform -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "llama_model_load: error loading model: can not find preferred GPU platform\n",
        "terminate called after throwing an instance of 'std::runtime_error'\n  what():  can not find preferred GPU "
        "platform\n",
        "local-ai  | 9:01AM DBG GRPC(model.gguf-127.0.0.1:40111): stderr llama_model_load: error loading model: can not "
        "find preferred GPU platform\n",
    ],
)
def test_sycl_no_preferred_platform(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line)[:1] == [("device.render-node-missing", "suggests")]


def test_sycl_platform_listing_clean(tmp_path: Path) -> None:
    text = (
        "ggml_sycl_init: found 1 SYCL devices:\n"
        "[level_zero:gpu:0] Intel(R) Arc(TM) A770 Graphics 1.3 [1.3.26241]\n"
        "get_memory_info: [warning] ext_intel_free_memory is not supported (export/set ZES_ENABLE_SYSMAN=1 to support)\n"
    )
    assert _causes(tmp_path, text) == []


# --- Hyper-V GPU-PV: NVML blocked without /dev/dxg ------------------------------------------------------------------

_NVML_BLOCKED = "Failed to initialize NVML: GPU access blocked by the operating system\n"


@pytest.mark.parametrize(
    "adapter",
    [
        "9a3c:00:00.0 3D controller: Microsoft Corporation Device 008e\n",  # an older pci.ids
        "5d2f:00:00.0 3D controller [0302]: Microsoft Corporation Basic Render Driver [1414:008e]\n",  # lspci -nn
    ],
)
def test_gpupv_guest_nvml_blocked_is_dxg(tmp_path: Path, adapter: str) -> None:
    text = "$ uname -r\n6.2.0-39-generic\n$ lspci\n" + adapter + _NVML_BLOCKED
    found = _findings(tmp_path, text)
    assert found[:1] == [("device.dxg-missing", "suggests")]
    assert "device.cgroup-denied" not in [c for c, _ in found]


def test_nvml_blocked_in_container_stays_cgroup(tmp_path: Path) -> None:
    # the same NVML error without a GPU-PV adapter: the device-cgroup reading stays
    text = "$ docker exec -it trainer nvidia-smi\n" + _NVML_BLOCKED
    assert _causes(tmp_path, text)[:1] == ["device.cgroup-denied"]


def test_gpupv_adapter_alone_clean(tmp_path: Path) -> None:
    text = "$ lspci\n1f2e:00:00.0 3D controller: Microsoft Corporation Basic Render Driver\n"
    assert _causes(tmp_path, text) == []


# --- a Windows build that gives WSL no GPU --------------------------------------------------------------------------

_SMI = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA "
    "driver is installed and running.\n"
)


@pytest.mark.parametrize(
    "build",
    [
        "Microsoft Windows [Version 10.0.18362.1082]\n",  # cmd.exe banner / ver
        "Windows build number: 10.0.17134.590\n",  # the WSL issue template
        "Edition Windows 10 Pro, Version 1909 (OS Build 18363.1256)\n",  # winver
    ],
)
def test_old_windows_build_smi_not_missing_driver(tmp_path: Path, build: str) -> None:
    text = build + "In Ubuntu on WSL I run nvidia-smi:\n" + _SMI
    assert "device.no-driver" not in _causes(tmp_path, text)
    assert any("older than 2004" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    "build",
    [
        "Microsoft Windows [Version 10.0.19045.3930]\n",  # 22H2: WSL 2 has GPU paravirtualisation
        "Microsoft Windows [Version 10.0.22631.4169]\n",  # Windows 11
    ],
)
def test_new_windows_build_keeps_missing_driver(tmp_path: Path, build: str) -> None:
    text = build + "$ sudo docker run --rm --runtime=nvidia nvidia/cuda:12.2.0-base-ubuntu22.04 nvidia-smi\n" + _SMI
    assert "device.no-driver" in _causes(tmp_path, text)


# --- Podman's Docker API drops the GPU request ----------------------------------------------------------------------


def test_podman_compose_cdi_device_no_gpu(tmp_path: Path) -> None:
    text = (
        "services:\n"
        "  llm:\n"
        "    image: ollama/ollama\n"
        "    devices:\n"
        "      - nvidia.com/gpu=all\n"
        "$ podman compose up -d\n"
        'time=2025-01-20T10:00:00.000Z level=INFO source=gpu.go:392 msg="no compatible GPUs were discovered"\n'
    )
    assert _findings(tmp_path, text)[:1] == [("runtime.podman-compat-gpu-request-dropped", "suggests")]


def test_podman_compose_cdi_error_is_not_dropped(tmp_path: Path) -> None:
    # the request reached the CDI code: the spec is the story, not the compat API
    text = (
        "    devices:\n"
        '      - "nvidia.com/gpu=all"\n'
        "$ podman compose up\n"
        'Error: unresolvable CDI devices nvidia.com/gpu=all\n'
    )
    assert "runtime.podman-compat-gpu-request-dropped" not in _causes(tmp_path, text)


def test_podman_compose_cdi_device_working_clean(tmp_path: Path) -> None:
    text = (
        "    devices:\n"
        "      - nvidia.com/gpu=all\n"
        "$ podman compose up\n"
        'time=2025-01-20T10:00:00.000Z level=INFO source=types.go:131 msg="inference compute" id=GPU-1 '
        'library=cuda variant=v12 compute=8.9 driver=12.8 name="NVIDIA GeForce RTX 4090"\n'
    )
    assert _causes(tmp_path, text) == []


@pytest.mark.parametrize(
    "client",
    ["Docker Compose version v2.31.0\n", "PS C:\\llm> docker-compose up -d\n", "$ docker compose up -d\n"],
)
def test_podman_desktop_docker_compose_driver_nvidia(tmp_path: Path, client: str) -> None:
    text = (
        "Podman Desktop 1.16 on Windows 11, podman version 5.3.1\n"
        + client
        + "    deploy:\n"
        "      resources:\n"
        "        reservations:\n"
        "          devices:\n"
        "            - driver: nvidia\n"
        "              count: all\n"
        "              capabilities: [gpu]\n"
    )
    assert _findings(tmp_path, text)[:1] == [("runtime.podman-compat-gpu-request-dropped", "suggests")]


def test_docker_desktop_compose_driver_nvidia_clean(tmp_path: Path) -> None:
    # the same reservation under Docker's own engine: no Podman named, nothing to say
    text = (
        "Docker Compose version v2.31.0\n"
        "    deploy:\n"
        "      resources:\n"
        "        reservations:\n"
        "          devices:\n"
        "            - driver: nvidia\n"
        "              count: all\n"
        "              capabilities: [gpu]\n"
    )
    assert "runtime.podman-compat-gpu-request-dropped" not in _causes(tmp_path, text)


def test_podman_desktop_cdi_devices_clean(tmp_path: Path) -> None:
    # Podman Desktop with docker-compose and a CDI device (Podman >= 5.4 passes Driver "cdi"): no driver: nvidia
    text = (
        "Podman Desktop 1.17, podman version 5.4.1\n"
        "Docker Compose version v2.34.0\n"
        "    devices:\n"
        "      - nvidia.com/gpu=all\n"
    )
    assert "runtime.podman-compat-gpu-request-dropped" not in _causes(tmp_path, text)


# --- vLLM's P2P check failing between NVLink GPUs -------------------------------------------------------------------

_CUSTOM_AR_OFF = (
    "(VllmWorker rank=0 pid=311) WARNING 10-20 09:00:00 [custom_all_reduce.py:82] Custom allreduce is disabled because "
    "your platform lacks GPU P2P capability or P2P test failed. To silence this warning, specify "
    "disable_custom_all_reduce=True explicitly.\n"
)


@pytest.mark.parametrize(
    "nvlink",
    [
        "The two H100 NVL cards are NVLink-connected (12 links).\n",
        "NVLink is active between GPU 0 and GPU 1.\n",
        "GPU0 and GPU1 are bridged with NVLink.\n",
        # nvidia-smi topo -m
        "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tNV12\t0-31\t0\nGPU1\tNV12\t X \t0-31\t0\n",
    ],
)
def test_custom_ar_off_between_nvlink_gpus(tmp_path: Path, nvlink: str) -> None:
    assert _findings(tmp_path, nvlink + _CUSTOM_AR_OFF)[:1] == [("vllm.custom-allreduce-p2p", "suggests")]


def test_custom_ar_off_with_hami_core_names_interposer(tmp_path: Path) -> None:
    text = (
        "[HAMI-core Msg(311:140000000000000:libvgpu.c:836)]: Initializing.....\n"
        "NVLink is active between GPU 0 and GPU 1.\n" + _CUSTOM_AR_OFF
    )
    assert _causes(tmp_path, text)[:1] == ["k8s.gpu-sharing-interposer"]


@pytest.mark.parametrize(
    "context",
    [
        "",  # a PCIe pair prints this on every working start
        "These two RTX 4090 cards have no NVLink connected.\n",
        "NVLink is not active on this box.\n",
        "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tPHB\t0-31\t0\nGPU1\tPHB\t X \t0-31\t0\n",
    ],
)
def test_custom_ar_off_without_nvlink_stays_notice(tmp_path: Path, context: str) -> None:
    assert _causes(tmp_path, context + _CUSTOM_AR_OFF) == []
