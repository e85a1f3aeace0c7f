"""heldout17 lessons (glearn17d): device plumbing families behind its misses.

Positive lines are written from the code or the docs that print or state them (not copied from the
heldout17 logs): libnvidia-container's device cgroup write error cut inside the cgroup path
(src/nvc_mount.c setup_cgroup), rocminfo's lsmod check retold (ROCm/rocminfo#49), vLLM's TP size above the
GPUs a pod got, the /dev/dri mounts named as the fix, the toolkit's driver root commented out, MIG with a
device count of one, and a CUDA UUID mask next to a GPU count request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

CGROUP = "/sys/fs/cgroup/devices/docker/3b9e0c7d2a1f4e5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # the hook's cgroup v1 write, cut inside the path, or with another errno
        ('docker: Error response from daemon: OCI runtime create failed: running prestart hook 0 caused '
         '"error running hook: exit status 1, stdout: , stderr: nvidia-container-cli: mount error: write error: '
         + CGROUP + "\n", "nvidia.hook-cgroup-denied"),
        ("nvidia-container-cli: mount error: open failed: " + CGROUP + "/devices.allow: no such file or directory\n",
         "nvidia.hook-cgroup-denied"),
        # lsmod missing in the image, in words
        ("rocminfo fails inside the container because it is unable to run lsmod inside docker\n",
         "rocm.lsmod-missing"),
        ("lsmod is not installed in the docker image, so rocminfo says ROCk is not loaded\n",
         "rocm.lsmod-missing"),
        ("Our container image has no lsmod (kmod is not installed)\n", "rocm.lsmod-missing"),
        # rocminfo failing where the shell has no lsmod (its popen of "lsmod | grep amdgpu")
        ("sh: 1: lsmod: not found\n   [WARN] rocminfo failed (may require GPU hardware)\n", "rocm.lsmod-missing"),
        # vLLM told to use more GPUs than the pod got
        ("vLLM expects 8 GPUs to be visible in the container but only 2 were allocated\n",
         "vllm.tp-exceeds-visible-gpus"),
        ("The server does not start: with tensor_parallel_size 4 it expected more GPUs than were assigned to the pod\n",
         "vllm.tp-exceeds-visible-gpus"),
        # the /dev/dri mounts as the fix
        ("Mounting /dev/dri into the container fixed the Level Zero initialisation failure\n",
         "device.render-node-missing"),
        ("This commit passes /dev/dri device nodes to the CI container to avoid oneCCL init errors\n",
         "device.render-node-missing"),
        # the driver root commented out as the fix
        ("Solved it by commenting out this line in /etc/nvidia-container-runtime/config.toml:\n\n"
         "    root = \"/run/nvidia/driver\"\n", "nvidia.toolkit-driver-root-wrong"),
        # MIG and a single CUDA device
        ("MIG mode is enabled on the A100 with 3 instances\n\ntorch.cuda.device_count() returns 1\n",
         "nvidia.mig-multi-instance"),
        ("  MIG 3g.40gb     Device  0: (UUID: MIG-0a1b2c3d-4e5f-6789-abcd-ef0123456789)\n"
         "print(torch.cuda.device_count()) gives 1\n", "nvidia.mig-multi-instance"),
        # an NVIDIA Container Toolkit older than 1.8 with cgroup v2
        ("ii  nvidia-container-toolkit   1.7.0-1   amd64   NVIDIA container runtime hook\n"
         "$ docker info | grep -i cgroup\n Cgroup Driver: systemd\n Cgroup Version: 2\n", "runtime.cgroupv2-unsupported"),
        ("After the upgrade to Ubuntu 22.04 GPU containers fail\nlibnvidia-container1:\n  Installed: 1.4.0-1\n"
         "  Candidate: 1.4.0-1\n", "runtime.cgroupv2-unsupported"),
        # a UUID mask with a GPU count request
        ("    environment:\n      - CUDA_VISIBLE_DEVICES=GPU-8f2c1a3b-7d6e-4f50-9a1b-2c3d4e5f6a7b\n"
         "    deploy:\n      resources:\n        reservations:\n          devices:\n"
         "            - driver: nvidia\n              count: 1\n              capabilities: [gpu]\n",
         "cuda.visible-devices-mismatch"),
        ("docker run --gpus 1 -e CUDA_VISIBLE_DEVICES=GPU-8f2c1a3b-7d6e-4f50-9a1b-2c3d4e5f6a7b ollama/ollama\n",
         "cuda.visible-devices-mismatch"),
    ],
)
def test_a_heldout17_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # a healthy toolkit config: the driver root commented out (the default), or a fix of another key
        ('[nvidia-container-cli]\n#root = "/run/nvidia/driver"\n#path = "/usr/bin/nvidia-container-cli"\n',
         "nvidia.toolkit-driver-root-wrong"),
        ("Fixed it by commenting out no-cgroups in /etc/nvidia-container-runtime/config.toml\n",
         "nvidia.toolkit-driver-root-wrong"),
        # lsmod used normally
        ("$ lsmod | grep amdgpu\namdgpu              9854976  0\n", "rocm.lsmod-missing"),
        ("lsmod in the host shows amdgpu loaded\n", "rocm.lsmod-missing"),
        # a TP size that fits
        ("INFO 05-02 10:00:00 llm_engine.py:100] Initializing an LLM engine with tensor_parallel_size=4\n",
         "vllm.tp-exceeds-visible-gpus"),
        # /dev/dri passed in a command, no fix told
        ("docker run --device /dev/dri -it intel/oneapi-basekit\n", "device.render-node-missing"),
        # MIG mode disabled (nvidia-smi's table) with one GPU, or a count above one
        ("| N/A   34C    P0    40W / 400W |      0MiB / 40960MiB |      0%      Default |\n"
         "|                               |                      |             Disabled |\n"
         "torch.cuda.device_count() returns 1\n", "nvidia.mig-multi-instance"),
        ("MIG mode is enabled\ntorch.cuda.device_count() returns 12\n", "nvidia.mig-multi-instance"),
        # a toolkit of 1.8 or later on cgroup v2, or an old one on Ubuntu 20.04 (cgroup v1)
        ("ii  nvidia-container-toolkit   1.14.3-1   amd64   NVIDIA container runtime hook\n Cgroup Version: 2\n",
         "runtime.cgroupv2-unsupported"),
        ("Ubuntu 20.04.3 LTS\nnvidia-container-toolkit:\n  Installed: 1.5.1-1\n", "runtime.cgroupv2-unsupported"),
        # a UUID mask with the GPU selected by id, or a count alone
        ("      - CUDA_VISIBLE_DEVICES=GPU-8f2c1a3b-7d6e-4f50-9a1b-2c3d4e5f6a7b\n"
         "              device_ids: ['GPU-8f2c1a3b-7d6e-4f50-9a1b-2c3d4e5f6a7b']\n", "cuda.visible-devices-mismatch"),
        ("            - driver: nvidia\n              count: 1\n              capabilities: [gpu]\n",
         "cuda.visible-devices-mismatch"),
        ("docker run --gpus 1 ollama/ollama\n", "cuda.visible-devices-mismatch"),
        # hsa_init out of resources after amdkfd itself refused the open on the host (ENOMEM): no container cause
        ("ROCk module is loaded\nUnable to open /dev/kfd read-write: Cannot allocate memory\n"
         "hsa api call failure at: /src/rocminfo/rocminfo.cc:1142\nCall returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The "
         "runtime failed to allocate the necessary resources.\n", "device.kfd-missing"),
        # the devices.allow write refused is proven elsewhere; a healthy container start
        ("nvidia-container-cli: initialization error: load library failed\n", "nvidia.hook-cgroup-denied"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found
