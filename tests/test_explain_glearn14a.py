"""Issue 13, heldout14 lessons (glearn14a): Intel and AMD/ROCm families behind its misses.

Positive lines are written from the code or the docs that print or state them (not copied from the
heldout14 logs): oneCCL's ze_call::do_call and libomptarget's Level Zero error format around
zeMemOpenIpcHandle's INVALID_ARGUMENT (compute-runtime ContextImp::openIpcMemHandle), SELinux's
container_use_devices boolean and container_device_t type, Docker's 64 MB /dev/shm default retold,
rocminfo's `lsmod | grep amdgpu` check (ROCm 4.0-5.4) and the kmod package, /dev/kfd left out of a
device list, the udev render group, rootless Podman's unmapped groups and missing device cgroup with a
render-node subset (hsa_init 0x1008 = HSA_STATUS_ERROR_OUT_OF_RESOURCES).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

ROCK = "ROCk module is NOT loaded, possibly no GPU devices\n"
NO_CUDA = 'RuntimeError: No CUDA GPUs are available\n'


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # oneCCL src/common/ze/ze_call.cpp do_call: CCL_THROW("ze error at ", name, ", code: ", to_string(res))
        ("2026:08:01-10:00:00:(  532) |CCL_ERROR| ze_call.cpp:28 do_call: EXCEPTION: ze error at zeMemOpenIpcHandle, "
         "code: ZE_RESULT_ERROR_INVALID_ARGUMENT\n", "nccl.p2p-unsupported"),
        # the same code as a number (libomptarget's CALL_ZE_RET "Error: %s:%s failed with error code %d, %s")
        ("Target LEVEL_ZERO RTL --> Error: openIpcHandle:zeMemOpenIpcHandle failed with error code 2013265924, "
         "ZE_RESULT_ERROR_INVALID_ARGUMENT\n", "nccl.p2p-unsupported"),
        ("zeMemOpenIpcHandle returned 0x78000004\n", "nccl.p2p-unsupported"),
        # SELinux retold, and its boolean / type (container-selinux container.te, user-container-selinux)
        ("The pod runs as non-root and SELinux denies access to /dev/dri/renderD129 when clinfo starts.\n",
         "lsm.selinux-device-denied"),
        ("opening /dev/dri/card1 was blocked by SELinux on the worker\n", "lsm.selinux-device-denied"),
        ("It only works after `setsebool -P container_use_devices on` on each node.\n", "lsm.selinux-device-denied"),
        ("$ getsebool container_use_devices\ncontainer_use_devices --> off\n", "lsm.selinux-device-denied"),
        ("securityContext:\n  seLinuxOptions:\n    type: container_device_t\n", "lsm.selinux-device-denied"),
        # Docker's default --shm-size (64 MiB) retold
        ("Inside the container /dev/shm defaults to 64M, which is not enough for the NCCL SHM transport.\n",
         "shm.too-small"),
        ("The shm-size is too small for intra-node MPI.\n", "shm.too-small"),
        # rocminfo 4.0-5.4: popen("lsmod | grep amdgpu"); the image lacks kmod
        ("rocminfo fails in the image because the kmod package is not installed:\n" + ROCK, "rocm.lsmod-missing"),
        (ROCK + "After installing kmod in the Dockerfile rocminfo lists the GPUs.\n", "rocm.lsmod-missing"),
        # /dev/kfd left out of a device list
        ("The add-on passes /dev/dri but /dev/kfd is not passed to the container, so ollama runs on the CPU.\n",
         "device.kfd-missing"),
        ("compose: devices are mapped without /dev/kfd\n", "device.kfd-missing"),
        # udev's render group (systemd 50-udev-default.rules) and a bare "No CUDA GPUs" from ROCm torch
        ("The CI container mounts /dev/kfd and /dev/dri and only passes --group-add video; renderD128 is owned by "
         "group render.\n" + NO_CUDA, "device.group-denied"),
        # rootless Podman, GPU unused, root works
        ("With rootless podman the model does not use the GPU at all; as root it does.\n", "userns.gid-unmapped"),
        # rootless Podman + one render node + hsa_init 0x1008 (AMD's reproduction in ROCm/ROCm#3144)
        ("Running as a user (rootless podman) with --device=/dev/kfd --device=/dev/dri/renderD129:\n"
         "hsa_init returned 0x1008\n", "device.render-node-missing"),
        ("rootless podman run --device /dev/kfd --device /dev/dri/renderD128 rocm/dev-ubuntu-22.04 rocminfo\n"
         "hsa api call failure at: /src/rocminfo/rocminfo.cc:1250\n"
         "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources.\n",
         "device.render-node-missing"),
    ],
)
def test_a_heldout14_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # another Level Zero call, and a successful IPC open with a debug line
        ("|CCL_ERROR| ze_call.cpp:28 do_call: EXCEPTION: ze error at zeCommandListAppendMemoryCopy, code: "
         "ZE_RESULT_ERROR_DEVICE_LOST\n", "nccl.p2p-unsupported"),
        ("|CCL_DEBUG| call ze function: zeMemOpenIpcHandle\n", "nccl.p2p-unsupported"),
        # SELinux named without the GPU, or enforcing as a fact
        ("SELinux denies access to /var/lib/registry for the registry pod\n", "lsm.selinux-device-denied"),
        ("SELinux status: enabled\nCurrent mode: enforcing\n", "lsm.selinux-device-denied"),
        ("container_use_devices --> on\n", "lsm.selinux-device-denied"),
        # /dev/shm sized generously, or a 64 MB default mentioned as fine
        ("/dev/shm is 16G in this pod, large enough\n", "shm.too-small"),
        ("shm_size: 64m is the default\n", "shm.too-small"),
        # rocminfo with kmod installed (a Dockerfile line) and a healthy driver
        ("RUN apt-get update && apt-get install -y kmod\nROCk module is loaded\n", "rocm.lsmod-missing"),
        # the usual healthy device list
        ("docker run --device=/dev/kfd --device=/dev/dri --group-add video --group-add render rocm/pytorch\n",
         "device.kfd-missing"),
        ("docker run --device=/dev/kfd --device=/dev/dri --group-add video --group-add render rocm/pytorch\n",
         "device.group-denied"),
        # rootless Podman that works
        ("Rootless podman with --group-add keep-groups uses the GPU fine.\n", "userns.gid-unmapped"),
        # a render-node subset under Docker (the device cgroup hides the others) with a healthy start
        ("docker run --device=/dev/kfd --device=/dev/dri/renderD128 rocm/rocm-terminal rocminfo\nROCk module is loaded\n",
         "device.render-node-missing"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found


def test_rock_not_loaded_alone_still_names_kfd(tmp_path: Path) -> None:
    # without a word about kmod/lsmod, the bare rocminfo line keeps its prior
    found = _findings(tmp_path, ROCK)
    assert found and found[0][0] == "device.kfd-missing", found


def test_no_cuda_gpus_alone_keeps_the_mask_prior(tmp_path: Path) -> None:
    found = _findings(tmp_path, NO_CUDA)
    assert found and found[0][0] == "cuda.visible-devices-mismatch", found


# Linux drm_sysfs.c: the class 'drm' carries a `version` attribute; each bound GPU adds card*/renderD* links
SYS_DRM = "root@node:~# ls -la /sys/class/drm/\ntotal 0\ndrwxr-xr-x  2 root root    0 Mar  3 10:00 .\n" \
    "drwxr-xr-x 60 root root    0 Mar  3 10:00 ..\n"
VERSION_ROW = "-r--r--r--  1 root root 4096 Mar  3 10:00 version\n"


def test_sys_class_drm_with_only_version_is_no_driver(tmp_path: Path) -> None:
    found = _findings(tmp_path, SYS_DRM + VERSION_ROW)
    assert found and found[0] == ("device.no-driver", "suggests"), found


def test_sys_class_drm_with_a_card_is_clean(tmp_path: Path) -> None:
    card = ("lrwxrwxrwx  1 root root    0 Mar  3 10:00 card0 -> ../../devices/pci0000:00/0000:00:02.0/drm/card0\n"
            "lrwxrwxrwx  1 root root    0 Mar  3 10:00 renderD128 -> ../../devices/pci0000:00/0000:00:02.0/drm/renderD128\n")
    assert "device.no-driver" not in [c for c, _ in _findings(tmp_path, SYS_DRM + card + VERSION_ROW)]


def test_a_version_row_of_another_listing_is_clean(tmp_path: Path) -> None:
    text = "$ ls -l /sys/module/nvidia/\n" + VERSION_ROW
    assert _findings(tmp_path, text) == []
