"""Issue 13, heldout50 lessons (glearn50a): host drivers and CUDA versions, inside containers and out.

Lines are written from the code that prints them (not copied from the heldout50 logs):
- NVIDIA's nv_pci_validate_bars (open-gpu-kernel-modules kernel-open/nvidia/nv-pci.c, 515.43.04 .. 595.45.04) prints
  "NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:" then "NVRM: BAR%d is %lluM @ 0x%llx
  (PCI:%04x:%02x:%02x.%x)"; it skips the upper half of a 64-bit BAR only when the BAR is prefetchable, so BAR2/BAR4 is
  a BAR presented as non-prefetchable (a VMM's VFIO: cloud-hypervisor#4451), not an unassigned BAR (0, 1, 3);
- RM's osInitNvMapping "*** Cannot attach gpu" (osinit.c) alone names no cause; in a confidential-computing guest
  (nvidia-smi conf-compute "CC status: ON") the GPU tears down between clients without persistence mode;
- Triton's libcuda lookup runs '/sbin/ldconfig' (2.2+) or 'ldconfig' (2.1): CPython's FileNotFoundError text, also
  quoted alone in prose;
- cudart's cudaErrorInsufficientDriver text "CUDA driver version is insufficient for CUDA runtime version" (HIP's
  reads "driver version is insufficient for runtime version"): on an AMD GPU it is a CUDA build, not a container
  cause; under Nix it is the driver's libcuda off nixpkgs' loader path (/run/opengl-driver/lib);
- a CUDA the log installs (conda's cudatoolkit, its download plan, torch's build CUDA) beside a driver that cannot
  run it (nvidia-smi's "CUDA Version", the driver branch: CUDA Toolkit release notes' driver table, minor-version
  compatibility from CUDA 11 on).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

HEADER = "[    1.204871] NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:\n"
BAR = "               NVRM: BAR{n} is 0M @ 0x0 (PCI:0000:00:06.0)\n"


@pytest.mark.parametrize("n", [2, 4])
def test_bar_upper_half_of_a_non_prefetchable_bar_is_not_an_unassigned_bar(tmp_path: Path, n: int) -> None:
    text = HEADER + BAR.format(n=n)
    assert causes(tmp_path, text) == []
    assert any("non-prefetchable" in x for x in notes(tmp_path, text))
    # the BARs a host can leave unplaced (BAR0 32-bit, BAR1/BAR3 64-bit) still name the host
    for unplaced in (0, 1, 3):
        assert causes(tmp_path, HEADER + BAR.format(n=unplaced)) == ["host.gpu-bar-unassigned"]


@pytest.mark.parametrize(
    "line",
    [
        "[  212.118530] NVRM: osInitNvMapping: *** Cannot attach gpu",
        "[  212.118536] NVRM: RmInitAdapter: osInitNvMapping failed, bailing out of RmInitAdapter",
    ],
)
def test_cannot_attach_gpu_in_a_cc_guest_suggests_persistence_mode(tmp_path: Path, line: str) -> None:
    cc = "CC status: ON\n"
    assert findings(tmp_path, cc + line + "\n") == [("nvidia.persistence-mode-off", "suggests")]
    # alone, or beside a CC mode read as off (kata-containers#11622's misread), it names nothing
    assert causes(tmp_path, line + "\n") == []
    misread = "NVRC::query_cc_mode[1]: CC mode for BDF 0000:02:00.0 (via BAR0): off (0x1)\n"
    assert causes(tmp_path, misread + line + "\n") == []


@pytest.mark.parametrize(
    "line",
    [
        "`No such file or directory: '/sbin/ldconfig'`",
        "No such file or directory: 'ldconfig'",
        "> No such file or directory: '/sbin/ldconfig'",
    ],
)
def test_ldconfig_missing_quoted_alone_names_the_host(tmp_path: Path, line: str) -> None:
    assert causes(tmp_path, "When I run it I get the following error:\n" + line + "\n") == ["host.ldconfig-not-found"]
    # another program's message about ldconfig, or another file, stays clean
    assert causes(tmp_path, "ls: cannot access '/sbin/ldconfig': No such file or directory\n") == []
    assert causes(tmp_path, "No such file or directory: '/sbin/ldconfig.real'\n") == []


CUDA35 = [
    "Faiss assertion 'err__ == cudaSuccess' failed in int faiss::gpu::getNumDevices() at faiss/gpu/utils/DeviceUtils.cu:36; details: CUDA error 35 CUDA driver version is insufficient for CUDA runtime version",
    "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version",
    "F0412 10:31:07.118233  3321 common.cpp:152] Check failed: error == cudaSuccess (35 vs. 0)  CUDA driver version is insufficient for CUDA runtime version",
]


@pytest.mark.parametrize("line", CUDA35)
@pytest.mark.parametrize(
    "amd",
    ["$ /opt/rocm-6.1.0/bin/rocminfo", "GPU: gfx1100 AMD Radeon RX 7900 XTX"],
)
def test_cuda_build_on_an_amd_gpu_is_no_container_cause(tmp_path: Path, line: str, amd: str) -> None:
    text = amd + "\n" + line + "\n"
    assert "device.kfd-missing" not in causes(tmp_path, text)
    assert "device.nvidia-node-missing" not in causes(tmp_path, text)
    # the same line on an NVIDIA host (nvidia-smi's table) keeps its NVIDIA reading
    smi = "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2     |\n"
    assert causes(tmp_path, smi + line + "\n")


@pytest.mark.parametrize("line", CUDA35)
@pytest.mark.parametrize(
    "nix",
    [
        "$ ls -l /nix/store/8q2vyjyf9ivbmlzx3pqh6l1i4bd4i8w7-cudatoolkit-11.8.0/lib",
        "We use Nix as a package manager on top of CentOS 7 (nixpkgs 23.05).",
        "$ nix develop .#cuda",
    ],
)
def test_cuda35_under_nix_is_the_driver_off_the_loader_path(tmp_path: Path, line: str, nix: str) -> None:
    assert causes(tmp_path, nix + "\n" + line + "\n")[0] == "nvidia.driver-libs-off-library-path"
    assert "nvidia.driver-libs-off-library-path" not in causes(tmp_path, line + "\n")


SMI = "| NVIDIA-SMI {v}       Driver Version: {v}       CUDA Version: {c}     |\n"


@pytest.mark.parametrize(
    ("driver", "built", "too_old"),
    [
        # nvidia-smi's CUDA Version and conda's cudatoolkit: before CUDA 11 the minor counts
        (SMI.format(v="418.67", c="10.1"), "conda install pytorch torchvision cudatoolkit=10.2 -c pytorch", True),
        (SMI.format(v="418.67", c="10.1"), "conda install pytorch torchvision cudatoolkit=10.1 -c pytorch", False),
        # from CUDA 11 on only the major: minor-version compatibility
        (SMI.format(v="470.182.03", c="11.4"), "conda install pytorch cudatoolkit=11.8 -c pytorch", False),
        (SMI.format(v="470.182.03", c="11.4"), "CUDA used to build PyTorch: 12.1", True),
        # conda's download plan and a driver branch said in prose (the release notes' driver table)
        ("Ubuntu 18.04 with NVIDIA drivers 390.", "    cudatoolkit-9.2            |                0       351.0 MB", True),
        ("Ubuntu 18.04 with NVIDIA drivers 396.", "    cudatoolkit-9.2            |                0       351.0 MB", False),
        ("apt install nvidia-driver-470", "conda install pytorch cudatoolkit=11.3 -c pytorch", False),
        ("apt install nvidia-driver-470", "CUDA used to build PyTorch: 12.4", True),
    ],
)
def test_toolkit_newer_than_the_driver_suggests_driver_too_old(
    tmp_path: Path, driver: str, built: str, too_old: bool
) -> None:
    got = causes(tmp_path, built + "\n" + driver + "\n")
    assert ("cuda.driver-too-old" in got) == too_old
    if too_old:
        assert findings(tmp_path, built + "\n" + driver + "\n")[0] == ("cuda.driver-too-old", "suggests")


DSO = (
    "2022-10-20 09:14:02.551201: E tensorflow/stream_executor/cuda/cuda_diagnostics.cc:313] kernel version {k} does not "
    "match DSO version {d} -- cannot find working devices in this configuration\n"
)


@pytest.mark.parametrize(
    ("image", "kernel", "dso", "want"),
    [
        # the DSO is the driver of the image's CUDA (11.7 ships 515), newer than the host's 470 module: the image's
        # forward-compat libcuda (NVIDIA/nvidia-docker#1704's family)
        ("FROM nvidia/cuda:11.7.1-cudnn8-runtime-ubuntu22.04", "470.182.3", "515.65.1", "cuda.forward-compat-unsupported"),
        ("docker run --gpus all nvidia/cuda:12.2.0-base-ubuntu22.04", "525.147.5", "535.104.5", "cuda.forward-compat-unsupported"),
        # a DSO that is not the image's CUDA driver, or older than the module: a host upgraded without a reboot
        ("FROM nvidia/cuda:11.4.3-cudnn8-runtime-ubuntu20.04", "470.182.3", "515.65.1", "nvidia.driver-library-mismatch"),
        ("FROM nvidia/cuda:11.6.2-base-ubuntu20.04", "515.48.7", "510.73.5", "nvidia.driver-library-mismatch"),
        ("", "470.182.3", "515.65.1", "nvidia.driver-library-mismatch"),
    ],
)
def test_kernel_dso_mismatch_with_the_images_compat_libcuda(
    tmp_path: Path, image: str, kernel: str, dso: str, want: str
) -> None:
    got = causes(tmp_path, image + "\n" + DSO.format(k=kernel, d=dso))
    assert got[0] == want
    if want == "cuda.forward-compat-unsupported":
        assert "nvidia.driver-library-mismatch" not in got
