"""Issue 13, gnew21: causes the catalogue lacked (heldout21's collectors' uncovered threads), read in the code
that prints them. Lines are written from the format strings, not copied from a log.

- cuda.ipc-pidfd-unsupported: pytorch c10/cuda/CUDACachingAllocator.cpp, expandable-segment IPC import (v2.2-v2.9):
  TORCH_CHECK(err != ENOSYS, "The kernel on this machine does not support the pidfd_getfd syscall needed to use IPC
  for CUDA tensors when expandable_segments:True is set. ...") then TORCH_CHECK(false, "pidfd_getfd: ",
  c10::utils::str_error(err)) (v2.1: only the latter); the same for pidfd_open. TensorRT-LLM / FlashInfer ctypes
  wrappers: "pidfd_getfd(pidfd={pidfd}, fd={fd}) failed with errno {err}: {os.strerror(err)}." + " This may be due
  to kernel version (requires Linux 5.6+)." for every errno but EPERM; "pidfd_open({pid}) failed with errno {err}:
  {os.strerror(err)}". ENOSYS (38, "Function not implemented") is the kernel; EPERM stays cuda.ipc-pidfd-denied.
- runtime.rootless-device-cgroup: containers/podman pkg/specgen/generate/oci_linux.go SpecGenToOCI:
  "device cgroup rules are not supported in rootless mode or in a user namespace".
- runtime.cdi-spec-unresolved: cncf-tags/container-device-interface pkg/cdi/cache.go InjectDevices
  ("unresolvable CDI devices %s", podman wraps it as "setting up CDI devices: %w", Docker/containerd as "failed to
  inject CDI devices: %w") with the spec written (nvidia-ctk cdi generate --output=PATH) outside the default dirs
  (containers/common pkg/config/default.go DefaultCdiSpecDirs = /etc/cdi, /var/run/cdi).
- rocm.pcie-atomics-unsupported: torvalds/linux drivers/gpu/drm/amd/amdkfd/kfd_device.c: dev_info(kfd_device,
  "skipped device %x:%x, PCI rejects atomics\\n") in kgd2kfd_probe, then "skipped device %x:%x, PCI rejects atomics
  %d<%d\\n" (mec_fw_version < no_atomic_fw_version) in kgd2kfd_device_init; printed as "kfd kfd: ..." and, with
  newer kernels' drm prefix, "kfd kfd: amdgpu: ...". amdgpu's "PCIE atomic ops is not supported" alone is info.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings
from tpdoctor.model import catalog

NEW = {"cuda.ipc-pidfd-unsupported", "runtime.rootless-device-cgroup", "runtime.cdi-spec-unresolved",
       "rocm.pcie-atomics-unsupported"}


def _known() -> None:
    # the neighbours below are checked against ids this pass adds: they must exist for the check to mean anything
    assert NEW <= set(catalog()), sorted(NEW - set(catalog()))


TORCH_GETFD = ("RuntimeError: The kernel on this machine does not support the pidfd_getfd syscall needed to use IPC "
               "for CUDA tensors when expandable_segments:True is set. Consider using expandable_segments:False via "
               "torch.cuda.memory._set_allocator_settings('expandable_segments:False') for this allocation.")
TORCH_OPEN = TORCH_GETFD.replace("pidfd_getfd", "pidfd_open")
CDI_PODMAN = "Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all\n"
CDI_DOCKER = ("docker: Error response from daemon: failed to create task for container: failed to create shim task: "
              "OCI runtime create failed: could not apply required modification to OCI specification: error modifying "
              "OCI spec: failed to inject CDI devices: unresolvable CDI devices nvidia.com/gpu=0: unknown\n")


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # torch >= 2.2, the ENOSYS branch of the pidfd_getfd import (Ray/vLLM weight sync on a 5.4 kernel)
        ("(WorkerDict pid=3121) " + TORCH_GETFD + "\n", "cuda.ipc-pidfd-unsupported", "suggests"),
        # torch 2.1: the generic branch with strerror(ENOSYS)
        ("  File \"torch/multiprocessing/reductions.py\", line 181, in rebuild_cuda_tensor\n"
         "RuntimeError: pidfd_getfd: Function not implemented\n", "cuda.ipc-pidfd-unsupported", "suggests"),
        # the ctypes wrappers of TensorRT-LLM / FlashInfer (MNNVL), errno 38
        ("RuntimeError: pidfd_getfd(pidfd=57, fd=112) failed with errno 38: Function not implemented. This may be due "
         "to kernel version (requires Linux 5.6+).\n", "cuda.ipc-pidfd-unsupported", "suggests"),
        ("RuntimeError: pidfd_open(20415) failed with errno 38: Function not implemented\n",
         "cuda.ipc-pidfd-unsupported", "suggests"),
        # torch's pidfd_open ENOSYS branch inside a container (docker named): no longer a capability denial
        ("$ docker run --gpus all --ipc=host verl:latest python3 main_ppo.py\n" + TORCH_OPEN + "\n",
         "cuda.ipc-pidfd-unsupported", "suggests"),
        # rootless Podman refusing --device-cgroup-rule
        ("$ podman run --rm --device-cgroup-rule='c 226:* rwm' -v /dev/dri:/dev/dri ghcr.io/games-on-whales/steam\n"
         "Error: device cgroup rules are not supported in rootless mode or in a user namespace\n",
         "runtime.rootless-device-cgroup", "proves"),
        # the API path (podman's docker-compatible socket, compose): the same text after the daemon's prefix
        ("Error response from daemon: device cgroup rules are not supported in rootless mode or in a user namespace\n",
         "runtime.rootless-device-cgroup", "proves"),
        # the spec generated into a home directory, podman unresolvable
        ("$ sudo nvidia-ctk cdi generate --output=/home/ai/cdi/nvidia.yaml\nINFO[0000] Generated CDI spec with version "
         "0.8.0\n$ podman run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi -L\n" + CDI_PODMAN,
         "runtime.cdi-spec-unresolved", "suggests"),
        # Docker's wording (failed to inject CDI devices), the spec under /opt
        ("sudo nvidia-ctk cdi generate --output /opt/cdi/nvidia.json\n" + CDI_DOCKER, "runtime.cdi-spec-unresolved",
         "suggests"),
        # amdkfd's older form (kgd2kfd_probe), a GPU passed through to an ESXi guest, then rocminfo finds no agent
        ("[    0.000000] Hypervisor detected: VMware\n[    1.092210] kfd kfd: skipped device 1002:687f, PCI rejects "
         "atomics\n"
         "hsa api call failure at: /src/rocminfo/rocminfo.cc:1140\nCall returned HSA_STATUS_ERROR_OUT_OF_RESOURCES\n",
         "rocm.pcie-atomics-unsupported", "suggests"),
        # the newer form with the MEC firmware check (journalctl -k, drm's amdgpu prefix)
        ("Mar 02 10:11:09 vm kernel: Hypervisor detected: KVM\n"
         "Mar 02 10:11:12 vm kernel: kfd kfd: amdgpu: skipped device 1002:7341, PCI rejects atomics 123<145\n",
         "rocm.pcie-atomics-unsupported", "suggests"),
    ],
)
def test_a_new_cause_is_named_first(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    "text",
    [
        # EPERM forms stay a denial (seccomp / Yama / no CAP_SYS_PTRACE)
        "RuntimeError: pidfd_getfd: Operation not permitted\n",
        "RuntimeError: pidfd_getfd(pidfd=57, fd=112) failed with errno 1: Operation not permitted. Permission denied. "
        "If running in a container, try adding --cap-add=SYS_PTRACE to your docker run command.\n",
        # another errno gets the wrappers' kernel suffix too: a peer that closed the fd is no old kernel
        "RuntimeError: pidfd_getfd(pidfd=57, fd=112) failed with errno 9: Bad file descriptor. This may be due to "
        "kernel version (requires Linux 5.6+).\n",
        "RuntimeError: pidfd_open(20415) failed with errno 3: No such process\n",
        # a healthy expandable-segments start and other ENOSYS lines
        "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True\nINFO use posix fd to import expandable segments.\n",
        "io_uring_setup: Function not implemented\n",
        # podman's option docs and a rootful run with a device cgroup rule
        "--device-cgroup-rule=\"type major:minor mode\"  Add a rule to the cgroup allowed devices list\n",
        "$ sudo podman run --device-cgroup-rule='c 226:* rwm' rocm/pytorch rocminfo\nROCk module is loaded\n",
        # a spec generated into a default directory, then the engine works
        "$ sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml\nINFO[0000] Generated CDI spec with version 0.8.0\n"
        "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-0d3c0f7e-1e2a-4c55-9d1b-3f0e5a1b2c3d)\n",
        # generated elsewhere, but nothing failed
        "$ nvidia-ctk cdi generate --output=/tmp/nvidia.yaml\nINFO[0000] Generated CDI spec with version 0.8.0\n",
        # amdgpu's info line on a platform without atomics, and kfd adding the device (newer MEC firmware): works
        "[    3.201122] [drm] PCIE atomic ops is not supported\n[    3.512004] kfd kfd: amdgpu: added device 1002:744c\n",
        # kfd adding a device normally
        "[    2.100000] kfd kfd: amdgpu: added device 1002:74a1\n",
    ],
)
def test_neighbours_stay_clear_of_the_new_causes(tmp_path: Path, text: str) -> None:
    _known()
    found = findings(tmp_path, text)
    assert not {c for c, _ in found} & NEW, found


def test_eperm_stays_the_denial(tmp_path: Path) -> None:
    _known()
    found = causes(tmp_path, "RuntimeError: pidfd_getfd: Operation not permitted\n")
    assert found and found[0] == "cuda.ipc-pidfd-denied", found


def test_cdi_spec_in_default_dir_is_not_the_dir(tmp_path: Path) -> None:
    _known()
    # the spec is where the engine looks: unresolvable is the toolkit/spec reading, not the directory
    text = "$ sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml\n" + CDI_PODMAN
    found = causes(tmp_path, text)
    assert "runtime.cdi-spec-unresolved" not in found
    assert found and found[0] == "runtime.nvidia-toolkit-missing", found


def test_cdi_spec_elsewhere_drops_the_missing_toolkit(tmp_path: Path) -> None:
    _known()
    found = causes(tmp_path, "nvidia-ctk cdi generate --output=/srv/cdi/nvidia.yaml\n" + CDI_PODMAN)
    assert "runtime.nvidia-toolkit-missing" not in found, found


def test_cdi_version_reading_is_kept_apart(tmp_path: Path) -> None:
    _known()
    # nvidia-ctk lists the devices (same default dirs) and the engine drops the spec: the version reading
    text = "$ nvidia-ctk cdi list\nINFO[0000] Found 2 CDI devices\nnvidia.com/gpu=0\nnvidia.com/gpu=all\n" + CDI_PODMAN
    found = causes(tmp_path, text)
    assert "runtime.cdi-spec-unresolved" not in found
    assert found and found[0] == "runtime.cdi-spec-version-unsupported", found


def test_atomics_on_bare_metal_names_the_platform(tmp_path: Path) -> None:
    _known()
    # no hypervisor in the log: an old CPU/chipset without atomics (X58 + RX 580) is the host platform the cause's
    # summary names (relabelled in heldout23: rocm-1214, rocm-558), still only suggested
    text = "[    7.026427] kfd kfd: amdgpu: skipped device 1002:67df, PCI rejects atomics\n"
    assert findings(tmp_path, text)[:1] == [("rocm.pcie-atomics-unsupported", "suggests")]
