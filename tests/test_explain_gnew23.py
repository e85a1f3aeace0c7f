"""Issue 13, new cause ids from heldout22/heldout23's uncovered lists (gnew23).

Lines are written from the format strings that print them (not copied from the collectors' threads):
- cuda.too-many-peers: CUDA 711 (cudaErrorTooManyPeers / CUDA_ERROR_TOO_MANY_PEERS, cudaGetErrorString "peer
  mapping resources exhausted"; CUDA <= 10 numbering 60). cudaDeviceEnablePeerAccess documents "a system-wide
  maximum of eight peer connections" per device. Read through the error-code tables in the forms llama.cpp/ggml
  (`CUDA error: %s` + "current device: %d, in function %s", older `CUDA error %d at %s:%d: %s`), NCCL
  (`Cuda failure %d '%s'`), THC (`cuda runtime error (%d) : %s at %s:%d`) and torch (`CUDA error: %s`) print it.
- host.nouveau-loaded: nvidia-installer misc.c check_for_nouveau ("The Nouveau kernel driver is currently in use by
  your system...", "One or more modprobe configuration files to disable Nouveau are already present at: %s"), the
  NVIDIA kernel module's nv.c nvidia_init_module ("NVRM: The NVIDIA probe routine was not called for %d
  device(s).", suggests: vfio-pci gives it too).
- host.secure-boot-unsigned-module: nvidia-installer kernel.c ignore_load_error ("The kernel module failed to load%s
  because it was not signed by a key that is trusted by the kernel", "The signed kernel module failed to load%s
  because the kernel does not trust any key which is capable of verifying the module signature"); kmod modprobe
  ("could not insert '%s': %s") and insmod ("could not insert module %s: %s"), systemd-modules-load ("Failed to
  insert module '%s': %m") with strerror(EKEYREJECTED)/strerror(ENOKEY); Linux kernel/module/signing.c ("Loading of
  %s is rejected"), security/lockdown ("Lockdown: %s: unsigned module loading is restricted; see man
  kernel_lockdown.7").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings

# --- cuda.too-many-peers ---------------------------------------------------------------------------------------------

GGML = "  current device: {dev}, in function ggml_cuda_init at ggml/src/ggml-cuda/ggml-cuda.cu:{line}\n  cudaDeviceEnablePeerAccess(id_other, 0)"


@pytest.mark.parametrize(
    "text",
    [
        # ggml-cuda.cu ggml_cuda_error: "CUDA error: %s" then the device and function
        "CUDA error: peer mapping resources exhausted\n" + GGML.format(dev=3, line=281),
        # older ggml-cuda.cu CUDA_CHECK: "CUDA error %d at %s:%d: %s"
        "CUDA error 711 at /opt/llama.cpp/ggml-cuda.cu:6012: peer mapping resources exhausted",
        # NCCL CUDACHECK
        "node7:4410:4410 [2] NCCL INFO init.cc:1142 -> 1\nnode7:4410:4410 [2] transport/p2p.cc:275 NCCL WARN Cuda failure 711 'peer mapping resources exhausted'",
        # THC (CUDA <= 10.0 numbering: 60) and a torch of CUDA >= 10.1 (711)
        "RuntimeError: cuda runtime error (60) : peer mapping resources exhausted at /pytorch/aten/src/THC/THCGeneral.cpp:224",
        "RuntimeError: cuda runtime error (711) : peer mapping resources exhausted at /pytorch/aten/src/THC/THCGeneral.cpp:141",
        # torch c10 CUDA check
        "Traceback (most recent call last):\n  File \"train.py\", line 40, in <module>\n    model = nn.DataParallel(model).cuda()\nRuntimeError: CUDA error: peer mapping resources exhausted",
        # the enum names
        "cudaDeviceEnablePeerAccess(8, 0) returned cudaErrorTooManyPeers",
        "cuCtxEnablePeerAccess failed: CUDA_ERROR_TOO_MANY_PEERS",
    ],
)
def test_too_many_peers_is_named(tmp_path: Path, text: str) -> None:
    assert causes(tmp_path, text + "\n")[:1] == ["cuda.too-many-peers"]


@pytest.mark.parametrize(
    "text",
    [
        # a pair CUDA refuses is P2P unsupported, not too many peers
        "node7:4410:4410 [0] NCCL WARN Cuda failure 217 'peer access is not supported between these two devices'",
        "cudaDeviceEnablePeerAccess returned cudaErrorPeerAccessAlreadyEnabled",
        # a healthy NCCL run that sets up peer access
        "node7:4410:4462 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read\nnode7:4410:4410 [0] NCCL INFO Connected all rings",
    ],
)
def test_other_peer_lines_are_not_too_many_peers(tmp_path: Path, text: str) -> None:
    assert "cuda.too-many-peers" not in causes(tmp_path, text + "\n")


# --- host.nouveau-loaded ---------------------------------------------------------------------------------------------

NOUVEAU = (
    "The Nouveau kernel driver is currently in use by your system.  This driver is incompatible with the NVIDIA "
    "driver, and must be disabled before proceeding."
)


@pytest.mark.parametrize(
    "text",
    [
        "ERROR: " + NOUVEAU + "  Please consult the NVIDIA driver README and your Linux distribution's documentation.",
        "WARNING: " + NOUVEAU,
        # the GPU Operator's driver container runs the same installer
        "========== NVIDIA Software Installer ==========\nStarting installation of NVIDIA driver version 550.90.07 "
        "for Linux kernel version 5.15.0-105-generic\nWARNING: " + NOUVEAU,
        "WARNING: One or more modprobe configuration files to disable Nouveau are already present at: "
        "/etc/modprobe.d/nvidia-installer-disable-nouveau.conf.  Please be sure you have rebooted your system since "
        "these files were written.",
    ],
)
def test_installer_finds_nouveau(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text + "\n")[:1] == [("host.nouveau-loaded", "proves")]


@pytest.mark.parametrize(
    "text",
    [
        "[  412.220175] NVRM: The NVIDIA probe routine was not called for 2 device(s).\n"
        "[  412.220183] NVRM: This can occur when a driver such as: \n"
        "               NVRM: nouveau, rivafb, nvidiafb or rivatv \n"
        "               NVRM: was loaded and obtained ownership of the NVIDIA device(s).",
        # open-gpu-kernel-modules' wording
        "Jan 09 10:01:02 gpu7 kernel: NVRM: The NVIDIA probe routine was not called for 1 device(s).\n"
        "Jan 09 10:01:02 gpu7 kernel: NVRM: This can occur when another driver was loaded and \n"
        "Jan 09 10:01:02 gpu7 kernel: NVRM: No NVIDIA devices probed.",
    ],
)
def test_probe_not_called_suggests_nouveau(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text + "\n")[:1] == [("host.nouveau-loaded", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        "[    5.210000] nouveau 0000:01:00.0: DRM: VRAM: 8192 MiB",
        "[    6.100000] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.90.07  Fri May 31 09:35:42 UTC 2024",
        "echo 'blacklist nouveau' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf",
        # the generic installer failure stays the missing driver; it names nouveau only as one possibility
        "ERROR: Unable to load the kernel module 'nvidia.ko'.  This happens most frequently when this kernel module "
        "was built against the wrong or improperly configured kernel sources, with a version of gcc that differs from "
        "the one used to build the target kernel, or if another driver, such as nouveau, is present",
    ],
)
def test_nouveau_words_alone_are_not_nouveau_loaded(tmp_path: Path, text: str) -> None:
    assert "host.nouveau-loaded" not in causes(tmp_path, text + "\n")


# --- host.secure-boot-unsigned-module -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ERROR: The kernel module failed to load. Secure boot is enabled on this system, so this is likely because it "
        "was not signed by a key that is trusted by the kernel. Please try installing the driver again, and sign the "
        "kernel module when prompted to do so.",
        "ERROR: The kernel module failed to load, because it was not signed by a key that is trusted by the kernel. "
        "Please try installing the driver again, and set the --module-signing-secret-key and "
        "--module-signing-public-key options on the command line.",
        "The signed kernel module failed to load. CONFIG_MODULE_SIG_FORCE is set on the target kernel, so this is "
        "likely because the kernel does not trust any key which is capable of verifying the module signature.",
        "modprobe: ERROR: could not insert 'nvidia': Key was rejected by service",
        "modprobe: ERROR: could not insert 'nvidia_uvm': Required key not available",
        "modprobe: ERROR: could not insert 'amdgpu': Key was rejected by service",
        "insmod: ERROR: could not insert module /usr/src/nvidia-550.90.07/nvidia.ko: Key was rejected by service",
        "Apr 22 18:10:16 host systemd-modules-load[602]: Failed to insert module 'nvidia_drm': Key was rejected by service",
        "Kernel module load error: Required key not available",
        'error loading module \\"nvidia\\": load nvidia failed: key was rejected by service',
        "[  236.220175] Loading of unsigned module is rejected",
        "[   41.000002] Loading of module with unavailable key is rejected",
        "[   41.000002] nvidia: loading of unsigned module is rejected",
        "[   12.000001] Lockdown: modprobe: unsigned module loading is restricted; see man kernel_lockdown.7",
    ],
)
def test_module_signature_refusal_is_named(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text + "\n")[:1] == [("host.secure-boot-unsigned-module", "proves")]


def test_secure_boot_leads_the_installer_failure_that_follows(tmp_path: Path) -> None:
    text = (
        "ERROR: The kernel module failed to load. Secure boot is enabled on this system, so this is likely because it "
        "was not signed by a key that is trusted by the kernel.\n"
        "ERROR: Unable to load the kernel module 'nvidia.ko'.  This happens most frequently when this kernel module "
        "was built against the wrong or improperly configured kernel sources\n"
    )
    assert causes(tmp_path, text)[:1] == ["host.secure-boot-unsigned-module"]


@pytest.mark.parametrize(
    "text",
    [
        # the same strerror texts for other keys
        "mount error(126): Required key not available",
        "keyctl_read: Required key not available",
        "ecryptfs: Could not find key with description: [8fb2a]: Required key not available",
        # other module-loading failures
        "modprobe: ERROR: could not insert 'nvidia': No such device",
        "modprobe: ERROR: could not insert 'nvidia': Operation not permitted",
        "insmod: ERROR: could not insert module nvidia.ko: Invalid module format",
        # every Secure Boot machine prints this at boot
        "[    0.000000] Kernel is locked down from EFI Secure Boot mode; see man kernel_lockdown.7",
        "[    0.910000] Loaded X.509 cert 'Canonical Ltd. Secure Boot Signing: 61482aa2830d0ab2ad5af10b7250da9033ddcef0'",
    ],
)
def test_other_key_and_module_errors_are_not_secure_boot(tmp_path: Path, text: str) -> None:
    assert "host.secure-boot-unsigned-module" not in causes(tmp_path, text + "\n")
