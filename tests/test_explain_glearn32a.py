"""Issue 13, heldout32 lessons (glearn32a): the NVIDIA driver and container toolkit as the host sees them.

Lines are written from the code and docs that print them (not copied from the heldout32 logs): the vGPU guest's
Xid 78 (open-gpu-kernel-modules gpu.c VGPU_START_ERROR "Guest driver is incompatible with host driver", in the
kernel's "NVRM: Xid (PCI:..): 78, pid=.., name=.., ..." form and retold); NVIDIA_VISIBLE_DEVICES observed as "void"
(moby setNvidiaGPUs for a device request without Count or DeviceIDs, Engine >= 27.3), not set by the user or a CDI
spec; an entrypoint that prepends /usr/local/cuda/compat and then fails; NVIDIA nodes passed with plain --device
flags and CUDA's insufficient-driver error (nvidia-docker#24); the Stack Overflow question on NVML's
Driver/library version mismatch named by its address. Clean: nvidia-smi without NVML in a container that --gpus
started (the runtime was there; nixpkgs#83713), libnvidia-container's EINVAL privilege change with high uids
(toolkit#99, a library bug).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # Xid 78, the vGPU guest driver from another vGPU release than the host's: kernel form, retold, lower case
        ("[   12.345678] NVRM: Xid (PCI:0001:00:00): 78, pid=912, name=nvidia-smi, Guest driver is incompatible "
         "with host driver\n", "nvidia.vgpu-guest-driver-mismatch", "proves"),
        ("NVRM: Xid (PCI:0000:02:00): 78, pid='<unknown>', name=<unknown>, Guest driver is incompatible with host "
         "driver\n", "nvidia.vgpu-guest-driver-mismatch", "proves"),
        ("dmesg shows Xid 78: guest driver is incompatible with the host driver\n",
         "nvidia.vgpu-guest-driver-mismatch", "proves"),
        # NVIDIA_VISIBLE_DEVICES observed as void in the container (Engine >= 27.3, a request without a count)
        ("The containers now show NVIDIA_VISIBLE_DEVICES=\"void\" and have no GPU.\n",
         "compose.gpu-reservation-incomplete", "suggests"),
        ("After the docker upgrade NVIDIA_VISIBLE_DEVICES is set to void inside the spawned container.\n",
         "compose.gpu-reservation-incomplete", "suggests"),
        ("docker inspect says NVIDIA_VISIBLE_DEVICES got overwritten with `void`.\n",
         "compose.gpu-reservation-incomplete", "suggests"),
        # an entrypoint prepending the forward-compat libcuda, then CUDA failing
        ("The start script prepends /usr/local/cuda/compat to LD_LIBRARY_PATH, so cuInit fails on the 580 driver.\n",
         "cuda.forward-compat-unsupported", "suggests"),
        ("entrypoint.sh prepended the cuda-compat libraries and the server falls back to CPU: CUDA_ERROR_NO_DEVICE\n",
         "cuda.forward-compat-unsupported", "suggests"),
        # the NVML mismatch question named by its address
        ("Same as https://stackoverflow.com/questions/43022843/nvidia-nvml-driver-library-version-mismatch after "
         "the playbook ran.\n", "nvidia.driver-library-mismatch", "suggests"),
    ],
)
def test_a_heldout32a_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    got = findings(tmp_path, text)
    assert got and got[0] == (cause, strength), got


def test_xid78_is_not_a_missing_driver(tmp_path: Path) -> None:
    text = (
        "NVRM: Xid (PCI:0002:00:00): 78, pid=1, name=nvidia-smi, Guest driver is incompatible with host driver\n"
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
        "NVIDIA driver is installed and running.\n"
    )
    got = causes(tmp_path, text)
    assert got[0] == "nvidia.vgpu-guest-driver-mismatch" and "device.no-driver" not in got, got


@pytest.mark.parametrize(
    "text",
    [
        # CUDA runtime's 35 in deviceQuery's words, nodes passed with --device only
        "$ docker run --device /dev/nvidiactl --device /dev/nvidia-uvm --device /dev/nvidia0 -it cuda-app "
        "./deviceQuery\ncudaGetDeviceCount returned 35\n-> CUDA driver version is insufficient for CUDA runtime "
        "version\n",
        "podman run --device=/dev/nvidia0 --device=/dev/nvidiactl img python -c 'import torch'\n"
        "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version\n",
    ],
)
def test_device_flags_without_the_runtime_name_the_toolkit(tmp_path: Path, text: str) -> None:
    got = causes(tmp_path, text)
    assert got and got[0] == "runtime.nvidia-toolkit-missing", got
    assert "device.nvidia-node-missing" not in got, got


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # void set on purpose, or by a CDI spec (nvidia-ctk cdi generate's common edits)
        ("docker run --rm -e NVIDIA_VISIBLE_DEVICES=void cpu-image make test\n", "compose.gpu-reservation-incomplete"),
        ("With CDI the spec sets NVIDIA_VISIBLE_DEVICES to void so the legacy hook stays out.\n",
         "compose.gpu-reservation-incomplete"),
        ("  ENV NVIDIA_VISIBLE_DEVICES=void\n", "compose.gpu-reservation-incomplete"),
        ("NVIDIA_VISIBLE_DEVICES=all\n", "compose.gpu-reservation-incomplete"),
        # the compat directory described without a failure
        ("The entrypoint prepends /usr/local/cuda/compat when the host driver is older than 12.9.\n",
         "cuda.forward-compat-unsupported"),
        # an Xid that is not 78
        ("NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, GPU has fallen off the bus.\n",
         "nvidia.vgpu-guest-driver-mismatch"),
        # --device with --gpus: the runtime is there
        ("docker run --gpus all --device /dev/nvidia0 img ./deviceQuery\ncudaGetDeviceCount returned 35\n"
         "-> CUDA driver version is insufficient for CUDA runtime version\n", "runtime.nvidia-toolkit-missing"),
        # the question's address without its slug
        ("see https://stackoverflow.com/questions/43022843 for other nvidia problems\n",
         "nvidia.driver-library-mismatch"),
    ],
)
def test_a_heldout32a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text)


def test_nvml_library_missing_after_gpus_is_not_a_missing_toolkit(tmp_path: Path) -> None:
    text = (
        "$ docker run --rm --gpus all nvidia/cuda:11.0-base nvidia-smi\n"
        "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display "
        "Driver is properly installed and present in your system.\n"
    )
    assert "runtime.nvidia-toolkit-missing" not in causes(tmp_path, text)
    assert any("--gpus" in n for n in notes(tmp_path, text))


def test_nvml_library_missing_without_a_gpu_request_still_names_the_toolkit(tmp_path: Path) -> None:
    text = (
        "$ docker run --rm nvidia/cuda:11.0-base nvidia-smi\n"
        "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display "
        "Driver is properly installed and present in your system.\n"
    )
    assert "runtime.nvidia-toolkit-missing" in causes(tmp_path, text)


def test_privilege_change_einval_is_no_rootless_setting(tmp_path: Path) -> None:
    text = (
        "Rootless docker with no-cgroups = true in /etc/nvidia-container-runtime/config.toml.\n"
        "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create "
        "failed: unable to start container process: error during container init: error running hook #0: error "
        "running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
        "nvidia-container-cli: initialization error: privilege change failed: invalid argument: unknown.\n"
    )
    got = causes(tmp_path, text)
    assert "nvidia.hook-cgroup-denied" not in got and "runtime.nvidia-toolkit-missing" not in got, got


def test_rootless_no_cgroups_prose_alone_still_names_the_cgroup(tmp_path: Path) -> None:
    text = "GPU containers only start with rootless docker after I set no-cgroups = true in config.toml\n"
    assert causes(tmp_path, text)[:1] == ["nvidia.hook-cgroup-denied"]
