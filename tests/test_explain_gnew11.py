"""Issue 13, gnew11: causes the catalogue lacked (the *-uncovered.md lists of heldout4..10), read in the code that
prints them.

- rocm.driver-too-old: ROCr's "HSA Error:  Incompatible kernel and userspace, %s disabled. Upgrade amdgpu.\\n"
  (ROCm/ROCR-Runtime runtime/hsa-runtime/core/runtime/amd_topology.cpp:148-150 @c7785a6d), and the ROCm twin of
  cuda.driver-too-old in a log of the AMD stack (explain/vendor.py TWINS).
- device.dxg-missing: WSL2's GPU is /dev/dxg with the Windows driver's libraries in /usr/lib/wsl (NVIDIA CUDA on WSL
  User Guide; intel/llvm sycl/doc/GetStartedGuide.md after intel/llvm#8576); the check rule reads the kernel release.
- nvidia.mps-not-shared: CUDA MPS on the host (NVIDIA Multi-Process Service docs) and a container that does not share
  its pipe directory and IPC namespace: 805 (cudaErrorMpsConnectionFailed) or 46 in exclusive-process mode.
- no-cgroups = true (nvidia-container-toolkit cmd/nvidia-container-runtime-hook/main.go: cli.NoCgroups ->
  --no-cgroups; libnvidia-container src/nvc_mount.c skips setup_device_cgroup) on a rootful engine: the nodes are
  mounted and not allowed, the existing device.cgroup-denied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from tpdoctor.model import CheckOptions
from tpdoctor.model.facts import DeviceNode, Facts
from tpdoctor.rules.devices import wsl2_kernel
from tpdoctor.rules.registry import run_fact_rules

WSL_PLATFORM = "Python platform: Linux-5.15.153.1-microsoft-standard-WSL2-x86_64-with-glibc2.35\n"
WSL_UNAME = "Linux gpu-box 6.6.36.3-microsoft-standard-WSL2 #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # ROCR amd_topology.cpp fprintf(stderr, "HSA Error:  Incompatible kernel and userspace, %s disabled. Upgrade
        # amdgpu.\n", name) with the agent's product name (two gfx906 boards)
        ("ROCk module is loaded\nHSA Error:  Incompatible kernel and userspace, Vega 20 [Radeon VII] disabled. "
         "Upgrade amdgpu.\n", "rocm.driver-too-old", "proves"),
        ("HSA Error:  Incompatible kernel and userspace, AMD Radeon Pro VII disabled. Upgrade amdgpu.\n"
         "RuntimeError: No HIP GPUs are available\n", "rocm.driver-too-old", "proves"),
        # coreutils ls "cannot access %s" and CPython's OSError for /dev/dxg under a WSL2 kernel
        (WSL_PLATFORM + "ls: cannot access '/dev/dxg': No such file or directory\n", "device.dxg-missing", "proves"),
        (WSL_UNAME + "FileNotFoundError: [Errno 2] No such file or directory: '/dev/dxg'\n",
         "device.dxg-missing", "proves"),
        # without a WSL line the missing /dev/dxg is still named, as a guess
        ("open /dev/dxg: no such file or directory\n", "device.dxg-missing", "suggests"),
        # /dev/dri never exists under WSL: the missing render nodes are the WSL device not passed
        (WSL_PLATFORM + "ls: cannot access '/dev/dri': No such file or directory\n"
         "RuntimeError: No XPU devices are available.\n", "device.dxg-missing", "proves"),
        # glibc's loader error for the WSL library, then torch finds no XPU (c10/xpu device_count_ensure_non_zero)
        (WSL_UNAME + "OSError: libdxcore.so: cannot open shared object file: No such file or directory\n"
         "RuntimeError: No XPU devices are available.\n", "device.dxg-missing", "suggests"),
        # llama.cpp ggml-sycl ggml_sycl_init "found %d SYCL devices:" with none, in a WSL2 container
        (WSL_UNAME + "ggml_sycl_init: found 0 SYCL devices:\n", "device.dxg-missing", "suggests"),
        # ROCm under WSL: rocminfo's "ROCk module is NOT loaded" is no missing /dev/kfd there
        (WSL_PLATFORM + "ROCk module is NOT loaded, possibly no GPU devices\n", "device.dxg-missing", "suggests"),
        # config.toml [nvidia-container-cli] no-cgroups = true, then NVML refused (nvml.h NVML_ERROR_UNKNOWN string)
        ("[nvidia-container-cli]\nenvironment = []\nno-cgroups = true\n"
         "$ docker run --rm --gpus all nvidia/cuda:12.2.0-base-ubuntu22.04 nvidia-smi\n"
         "Failed to initialize NVML: Unknown Error\n", "device.cgroup-denied", "suggests"),
        # the toolkit docs' rootless command, then CUDA's init error through torch
        ("$ sudo nvidia-ctk config --set nvidia-container-cli.no-cgroups --in-place\n"
         "Failed to initialize NVML: Unknown Error\n", "device.cgroup-denied", "suggests"),
        # CUDA MPS (nvidia-cuda-mps-control -d on the host), then CUDA <= 10's text for 46 in a container (caffe CHECK)
        ("$ nvidia-cuda-mps-control -d\n"
         "F0703 13:39:15.539633 97 common.cpp:165] Check failed: error == cudaSuccess (46 vs. 0) all CUDA-capable "
         "devices are busy or unavailable\n", "nvidia.mps-not-shared", "suggests"),
        # nvidia-smi's process table shows the MPS server; CUDA 11+ wording of 46 through torch
        ("|    0   N/A  N/A     12345    M+C   nvidia-cuda-mps-server                        30MiB |\n"
         "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n",
         "nvidia.mps-not-shared", "suggests"),
        # cudaErrorMpsConnectionFailed (805) on its own
        ("RuntimeError: CUDA error: MPS client failed to connect to the MPS control daemon or the MPS server\n",
         "nvidia.mps-not-shared", "suggests"),
    ],
)
def test_a_new_cause_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


def test_an_amd_log_names_the_rocm_driver_not_the_cuda_one(tmp_path: Path) -> None:
    # cudaErrorCallRequiresNewerDriver's string guesses cuda.driver-too-old; next to ROCr's own lines (the AMD stack,
    # nothing NVIDIA-only) the guess is the ROCm twin
    text = ("ROCk module is loaded\n:1:rocdevice.cpp :437 : 1 us: [pid:42 tid:0x7f] hsa_init failed.\n"
            "RuntimeError: API call is not supported in the installed CUDA driver\n")
    causes = [c for c, _ in _findings(tmp_path, text)]
    assert "rocm.driver-too-old" in causes and "cuda.driver-too-old" not in causes, causes


def test_an_nvidia_log_keeps_the_cuda_driver(tmp_path: Path) -> None:
    text = ("| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2 |\n"
            "RuntimeError: API call is not supported in the installed CUDA driver\n")
    causes = [c for c, _ in _findings(tmp_path, text)]
    assert "cuda.driver-too-old" in causes and "rocm.driver-too-old" not in causes, causes


@pytest.mark.parametrize(
    "text",
    [
        # the shipped default is commented out; false is the rootful setting
        "#no-cgroups = false\nFailed to initialize NVML: Unknown Error\n",
        "#no-cgroups = true\nFailed to initialize NVML: Unknown Error\n",
        "no-cgroups = false\nFailed to initialize NVML: Unknown Error\n",
    ],
)
def test_no_cgroups_unset_keeps_the_lost_rules_reading(tmp_path: Path, text: str) -> None:
    causes = [c for c, _ in _findings(tmp_path, text)]
    assert causes and causes[0] == "device.nvml-cgroup-lost", causes


@pytest.mark.parametrize(
    "text",
    [
        # a healthy WSL2 run: vLLM's pin_memory warning is no failure
        "WARNING 05-29 21:12:41 utils.py:465] Using 'pin_memory=False' as WSL is detected. This may slow down the "
        "performance.\nINFO 05-29 21:13:02 api_server.py:212] Started server process [1]\n",
        # /dev/dxg listed: it is there
        WSL_PLATFORM + "crw-rw-rw- 1 root root 10, 125 Dec  2 01:00 /dev/dxg\n",
        # no-cgroups alone, nothing failing (a rootless setup that works)
        "no-cgroups = true\n| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |\n",
        # a busy GPU with no MPS in sight: another process holds it in exclusive-process mode
        "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable\n",
        # MPS running and CUDA working
        "|    0   N/A  N/A     12345    M+C   nvidia-cuda-mps-server                        30MiB |\n",
        # ROCr's other HSA lines are no driver-age statement
        "HSA Error:  Incompatible arguments\n",
    ],
)
def test_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c in {"device.dxg-missing", "rocm.driver-too-old", "device.cgroup-denied",
                                 "nvidia.mps-not-shared"} for c, _ in found), found


def test_docker_refusing_an_absent_host_node_is_not_the_wsl_reading(tmp_path: Path) -> None:
    # moby daemon/oci_linux.go: the host has no /dev/dxg at all (not WSL, or WSL without GPU support)
    text = ('docker: Error response from daemon: error gathering device information while adding custom device '
            '"/dev/dxg": no such file or directory.\n')
    assert "device.dxg-missing" not in [c for c, _ in _findings(tmp_path, text)]


@pytest.mark.parametrize(
    ("release", "wsl2"),
    [
        ("5.15.153.1-microsoft-standard-WSL2", True),
        ("4.19.128-microsoft-standard", True),
        ("4.4.0-19041-Microsoft", False),  # WSL1: no GPU path at all
        ("6.8.0-49-generic", False),
        (None, False),
    ],
)
def test_wsl2_kernel(release: str | None, wsl2: bool) -> None:
    assert wsl2_kernel(release) is wsl2


def _check(release: str, dev: list[DeviceNode]) -> list[str]:
    facts = Facts()
    facts.kernel.release = release
    facts.dev = dev
    return [f.cause for f in run_fact_rules(facts, CheckOptions())]


def test_check_names_the_missing_dxg_under_wsl2_only() -> None:
    dxg = DeviceNode(path="/dev/dxg", kind="char", major=10, minor=125, mode=0o666, uid=0, gid=0)
    assert "device.dxg-missing" in _check("5.15.153.1-microsoft-standard-WSL2", [])
    assert "device.dxg-missing" not in _check("5.15.153.1-microsoft-standard-WSL2", [dxg])
    assert "device.dxg-missing" not in _check("6.8.0-49-generic", [])


def test_collect_and_check_read_a_wsl2_root(tmp_path: Path) -> None:
    # collect_dev lists /dev/dxg next to /dev/kfd and /dev/nvidia*; collect_kernel reads the release
    from fakeroot import FakeRoot, mknod
    from tpdoctor.facts.collect import collect_facts

    fr = FakeRoot(tmp_path).set_kernel("5.15.153.1-microsoft-standard-WSL2")
    facts = collect_facts(fr.root, {}, live=False)
    assert facts.node("/dev/dxg") is None
    assert "device.dxg-missing" in [f.cause for f in run_fact_rules(facts, CheckOptions())]
    mknod(fr.root, "/dev/dxg", 10, 125)
    facts = collect_facts(fr.root, {}, live=False)
    node = facts.node("/dev/dxg")
    assert node is not None and (node.kind, node.major, node.minor) == ("char", 10, 125)
    assert "device.dxg-missing" not in [f.cause for f in run_fact_rules(facts, CheckOptions())]
