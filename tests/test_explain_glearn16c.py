"""Issue 13, heldout16 lessons (glearn16c): AMD device requests, ROCm masks and groups, NVML after idle, LXC hooks.

Positive lines are written from the code or docs that print or state them (not copied from the heldout16 logs):
moby's incompatibleDeviceRequest for a driver name no engine registers (daemon/devices.go handleDevice; only
"nvidia" and "cdi" are registered by name, AMD's driver is unnamed), a compose reservation naming an AMD driver,
Ollama's old nvcuda_check_vram context failure with 800, rocminfo's decimal/hex RET_IF_HSA_ERR status, a ROCm
mask above 0 with one render node passed, the render group missing from the image in words, and the NVIDIA hook
needing no-cgroups inside LXC.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # moby daemon/errors.go incompatibleDeviceRequest, driver names no engine registers
        ('Error response from daemon: could not select device driver "rocm" with capabilities: [[gpu]]\n',
         "runtime.gpu-request-invalid", "proves"),
        ('docker: Error response from daemon: could not select device driver "amdgpu" with capabilities: '
         '[[gpu compute]].\n', "runtime.gpu-request-invalid", "proves"),
        ('Error response from daemon: could not select device driver "gpu" with capabilities: [[gpu]]\n',
         "runtime.gpu-request-invalid", "proves"),
        ('could not select device driver "nvidia-container-runtime" with capabilities: [[gpu utility]]\n',
         "runtime.gpu-request-invalid", "proves"),
        # the compose reservation that produces it
        ("services:\n  app:\n    deploy:\n      resources:\n        reservations:\n          devices:\n"
         "            - driver: rocm\n              capabilities: [gpu]\n", "runtime.gpu-request-invalid",
         "suggests"),
        # Ollama gpu/gpu_info_nvcuda.c nvcuda_check_vram (v0.1.3x) and the later discover/ spelling
        ('time=2024-06-01T08:00:00.000Z level=INFO source=gpu.go:180 msg="error looking up nvidia GPU memory" '
         'error="nvcuda failed to get primary device context 800"\n', "device.nvml-cgroup-lost", "suggests"),
        # rocminfo RET_IF_HSA_ERR, rocm-1.x decimal and the %#x fallback
        ("hsa api call failure at line 1012, file: /build/rocminfo/rocminfo.cc. Call returned 4104\n",
         "device.kfd-missing", "suggests"),
        ("hsa api call failure at: /src/rocminfo.cc:1180\nCall returned 0x1008\n", "device.kfd-missing", "suggests"),
        # one render node passed, a mask above 0
        ("docker run -d --device /dev/kfd --device /dev/dri/renderD130 -e HIP_VISIBLE_DEVICES=2 ollama/ollama:rocm\n",
         "rocm.visible-devices-mismatch", "suggests"),
        # the render group missing from the image, in words
        ("The rocm/pytorch image has no render group, so the user cannot open /dev/kfd.\n",
         "device.group-name-unresolved", "suggests"),
        ("We should create the render group inside the container image with the host's GID.\n",
         "device.group-name-unresolved", "suggests"),
        ("The `render` group does not exist in the container.\n", "device.group-name-unresolved", "suggests"),
        # shadow-utils / adduser refusing the group the image lacks
        ("RUN usermod -aG render,video app\nusermod: group 'render' does not exist\n", "device.group-name-unresolved",
         "suggests"),
        ("gpasswd: group 'video' does not exist in /etc/group\n", "device.group-name-unresolved", "suggests"),
        # Ollama's troubleshooting (Linux docker) retold: the GPU first, the CPU after idle
        ("The server used the GPU for an hour and then fell back to the CPU after being idle.\n",
         "device.nvml-cgroup-lost", "suggests"),
        ("After a few hours the ollama container switches to CPU and only a restart fixes it.\n",
         "device.nvml-cgroup-lost", "suggests"),
        # the NVIDIA hook inside LXC needing no-cgroups
        ("Docker runs nested in an unprivileged LXD container, and nvidia-container-cli only works with no-cgroups = "
         "true.\n", "nvidia.hook-cgroup-denied", "suggests"),
        ("I had to pass --no-cgroups to nvidia-container-cli because it runs inside a Proxmox LXC.\n",
         "nvidia.hook-cgroup-denied", "suggests"),
    ],
)
def test_a_heldout16_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the names dockerd registers: the toolkit is missing, the request is fine
        ('Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]]\n',
         "runtime.gpu-request-invalid"),
        ('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n',
         "runtime.gpu-request-invalid"),
        ('could not select device driver "cdi" with capabilities: [].\n', "runtime.gpu-request-invalid"),
        # inxi prints "driver: amdgpu" for a healthy GPU; a compose NVIDIA reservation
        ("Graphics: Device-1: AMD Navi 31 [Radeon RX 7900 XTX] driver: amdgpu v: kernel\n",
         "runtime.gpu-request-invalid"),
        ("          devices:\n            - driver: nvidia\n              count: all\n", "runtime.gpu-request-invalid"),
        # another CUDA code on the same probe (801: not supported, a vGPU without CUDA) and a healthy probe
        ('msg="error looking up nvidia GPU memory" error="nvcuda failed to get primary device context 801"\n',
         "device.nvml-cgroup-lost"),
        ('level=INFO source=types.go:98 msg="inference compute" id=GPU-1 library=cuda compute=8.6\n',
         "device.nvml-cgroup-lost"),
        # suspend/resume is another cause; a fallback with no time in it
        ("After resuming from suspend, ollama falls back to CPU after a while.\n", "device.nvml-cgroup-lost"),
        ("Not enough VRAM, so llama.cpp falls back to CPU for 10 layers.\n", "device.nvml-cgroup-lost"),
        # the group exists: another shadow message
        ("usermod: user 'ollama' does not exist\n", "device.group-name-unresolved"),
        # a healthy rocminfo, another status
        ("ROCk module is loaded\nHSA System Attributes\nRuntime Version:         1.1\n", "device.kfd-missing"),
        ("Call returned 4096\n", "device.kfd-missing"),
        # the command passes /dev/kfd and the render nodes: 4104 no longer tells a container cause
        ('docker run -it --device="/dev/kfd" --device="/dev/dri/renderD128" rocm/rocm-terminal\n'
         "hsa api call failure at line 900, file: /src/rocminfo.cc. Call returned 4104\n", "device.kfd-missing"),
        # one render node with the mask at 0, or all of /dev/dri with the mask at 1
        ("docker run --device /dev/kfd --device /dev/dri/renderD129 -e HIP_VISIBLE_DEVICES=0 rocm/pytorch\n",
         "rocm.visible-devices-mismatch"),
        ("docker run --device /dev/kfd --device /dev/dri -e HIP_VISIBLE_DEVICES=1 rocm/pytorch\n",
         "rocm.visible-devices-mismatch"),
        # the render group named without saying it is missing from the image
        ("Add your user to the render group: sudo usermod -aG render $USER\n", "device.group-name-unresolved"),
        ("root is member of render group\n", "device.group-name-unresolved"),
        # no-cgroups for rootless Podman (another signature's cause wording), an LXC without no-cgroups
        ("nvidia-container-cli --load-kmods configure --no-cgroups --device=all /var/lib/containers/rootfs\n",
         "nvidia.hook-cgroup-denied"),
        ("lxc.cgroup2.devices.allow: c 195:* rwm\nlxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,"
         "create=file\n", "nvidia.hook-cgroup-denied"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found


def test_nvidia_driver_name_still_means_the_toolkit(tmp_path: Path) -> None:
    text = 'Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu utility]]\n'
    found = _findings(tmp_path, text)
    assert found and found[0] == ("runtime.nvidia-toolkit-missing", "proves"), found
