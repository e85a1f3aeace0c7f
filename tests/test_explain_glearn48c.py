"""Issue 13, heldout48 lessons (glearn48c): host drivers, boot and platforms.

Lines are written from the code and texts that print them (not copied from the heldout48 logs): glibc's loader
reporting an NVML entry point the host driver lacks without naming libnvidia-ml (only in a container: on a bare host
it is a note); Hyper-V refusing a VM whose upper MMIO region lies above the CPU's physical address range (both event
forms); nvidia-fabricmanager's NVL5+ precheck refusing to start without ib_umad or nvlsm; FFmpeg's NVENC
minimum-driver line (not after a failure to load libnvidia-encode) and its version check wrapped; Secure Boot named as what blocked the GPU module; a module-signing key not enrolled in MOK (mokutil
--test-key, in words), with the missing-node reading dropped when Secure Boot is on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

DRIVER_OLD = "cuda.driver-too-old"
HYPERV = "host.hyperv-gpu-mmio-too-small"
FM = "nvidia.fabric-manager-not-running"
SB = "host.secure-boot-unsigned-module"


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # ld.so's lazy-binding error naming the caller, in a pod (CrashLoopBackOff) or a --gpus container
        ("nvidia-device-plugin-daemonset-7xk2p   0/1   CrashLoopBackOff   5   3m\n"
         "/usr/bin/nvidia-device-plugin: symbol lookup error: /usr/bin/nvidia-device-plugin: undefined symbol: "
         "nvmlDeviceGetPciInfo_v3\n", DRIVER_OLD, "suggests"),
        ("$ docker run --rm --gpus all gpumon:2.1\n"
         "ImportError: /opt/gpumon/lib/libgpumon.so: undefined symbol: nvmlDeviceGetMemoryInfo_v2\n",
         DRIVER_OLD, "suggests"),
        # retold in an issue, next to the pod
        ("With driver 375.66 the pod crashes with: \"undefined symbol: nvmlDeviceGetPciInfo_v3\"\n",
         DRIVER_OLD, "suggests"),
        # Hyper-V's two event texts for an upper MMIO region beyond the CPU's address range
        ("'gpu-vm' failed to start.\n"
         "The configuration of the virtual machine 'gpu-vm' specifies an upper MMIO region that is above the "
         "supported physical address range.\n", HYPERV, "suggests"),
        ("Virtual machine 'gpu-vm' cannot be started. The upper MMIO region (0x0000002000000000) is above the the "
         "supported physical address range. Make sure that the upper MMIO region is below 0x0000001000000000. "
         "(Virtual machine ID 11111111-2222-3333-4444-555555555555)\n", HYPERV, "suggests"),
        # nvidia-fabricmanager-start.sh --mode precheck on NVL5+, and nvlsm failing in libibumad
        ("nvidia-fabricmanager-start.sh[2211]: Detected NVL5+ system\n"
         "nvidia-fabricmanager-start.sh[2211]: Kernel module \"ib_umad\" has not been loaded, fabric manager cannot "
         "be started\n", FM, "suggests"),
        ("Kernel module ib_umad is not loaded, fabric manager cannot start\n", FM, "suggests"),
        ("\"/opt/nvidia/nvlsm/sbin/nvlsm\" does not exist. Please install \"Nvidia NVLink Subnet Manager\" (nvlsm) "
         "package\n", FM, "suggests"),
        # FFmpeg's minimum-driver line, as nvenc.c prints it and as a wrapper retells it; the check wrapped
        ("[hevc_nvenc @ 0x5581a3c0] The minimum required Nvidia driver for nvenc is 610.00 or newer\n",
         DRIVER_OLD, "suggests"),
        ("NVENC (hevc_nvenc): unavailable\nMinimum required Nvidia driver is 570.0 or newer\n", DRIVER_OLD, "suggests"),
        ("[h264_nvenc @ 0x7f10] Driver does not support the required nvenc API version.\n"
         "                     Required: 13.1 Found: 13.0\n", DRIVER_OLD, "suggests"),  # gprec48: the loaded library's
        # Secure Boot named as what kept the module from loading
        ("In the end Secure Boot was preventing the kernel from loading the nvidia module.\n", SB, "suggests"),
        ("Problem: Secure Boot blocking the loading of the amdgpu kernel module\n", SB, "suggests"),
        ("UEFI Secure Boot blocked the nvidia driver from loading after the update.\n", SB, "suggests"),
        # a signing key not enrolled: mokutil --test-key, and in words
        ("$ mokutil --test-key /var/lib/dkms/mok.pub\n/var/lib/dkms/mok.pub is not enrolled\n", SB, "suggests"),
        ("mokutil --test-key /var/lib/shim-signed/mok/MOK.der reports not enrolled\n", SB, "suggests"),
        ("The DKMS signing key was never enrolled, so nvidia.ko is rejected at boot.\n", SB, "suggests"),
    ],
)
def test_a_heldout48c_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the same loader line on a bare host (a tool against a legacy driver), and an init symbol (a link error)
        ("nomad: symbol lookup error: nomad: undefined symbol: nvmlDeviceGetPciInfo_v3\n", DRIVER_OLD),
        ("$ docker run --gpus all gpumon:2.1\n/opt/gpumon/lib/libgpumon.so: undefined symbol: nvmlInit_v2\n",
         DRIVER_OLD),
        # another library's symbol
        ("$ docker run --gpus all trainer\n"
         "ImportError: /opt/conda/lib/libtorch_cuda.so: undefined symbol: cudaGetDriverEntryPointByVersion\n",
         DRIVER_OLD),
        # Hyper-V's advice alone, and a region said to be within range
        ("Make sure that the upper MMIO region is below 0x0000001000000000.\n", HYPERV),
        ("The upper MMIO region is well within the supported physical address range here.\n", HYPERV),
        # another IB tool without ib_umad, a pre-NVL5 precheck, and another product's Fabric Manager
        ("ibacm[1796]: ibwarn: [1796] umad_init: can't read ABI version from /sys/class/infiniband_mad/abi_version "
         "(No such file or directory): is ib_umad module loaded?\n", FM),
        ("nvidia-fabricmanager-start.sh[811]: Detected Pre-NVL5 system\n", FM),
        ("@throws Exception thrown if the Fabric Manager cannot be started. See the exception detail.\n", FM),
        # the minimum-driver line after libnvidia-encode failed to load (a capability), and a README prerequisite
        ("[h264_nvenc @ 0x1] Cannot load libnvidia-encode.so.1\n"
         "[h264_nvenc @ 0x1] The minimum required Nvidia driver for nvenc is 570.0 or newer\n", DRIVER_OLD),
        ("The minimum required NVIDIA driver is `>=525.60.13`.\n", DRIVER_OLD),
        # Secure Boot denied, conditional, off, or as a general statement
        ("Secure Boot was not blocking the amdgpu module; the firmware files were missing.\n", SB),
        ("If Secure Boot is preventing the kernel from loading the nvidia module, sign it.\n", SB),
        ("Secure Boot is disabled, yet something kept blocking the nvidia module from loading.\n", SB),
        ("Secure Boot prevents loading unsigned modules by design.\n", SB),
        # a key enrolled, a key not enrolled with Secure Boot off, a device not enrolled in MDM
        ("/var/lib/dkms/mok.pub is already enrolled\n", SB),
        ("$ mokutil --sb-state\nSecureBoot disabled\n$ mokutil --test-key /var/lib/dkms/mok.pub\n"
         "/var/lib/dkms/mok.pub is not enrolled\n", SB),
        ("This device is not enrolled in Intune.\n", SB),
    ],
)
def test_a_heldout48c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text)


def test_bare_host_nvml_symbol_is_a_note(tmp_path: Path) -> None:
    text = "nomad: symbol lookup error: nomad: undefined symbol: nvmlDeviceGetPciInfo_v3\n"
    assert any("no container is named" in n for n in notes(tmp_path, text))


def test_minimum_driver_after_missing_library_names_the_library(tmp_path: Path) -> None:
    text = ("[h264_nvenc @ 0x1] Cannot load libnvidia-encode.so.1\n"
            "[h264_nvenc @ 0x1] The minimum required Nvidia driver for nvenc is 570.0 or newer\n")
    found = causes(tmp_path, text)
    assert found and found[0] != DRIVER_OLD, found
    assert any("says nothing of the driver's age" in n for n in notes(tmp_path, text))


@pytest.mark.parametrize(
    "secure_boot_on",
    [
        "$ mokutil --sb-state\nSecureBoot enabled\n",
        "[    0.000000] Kernel is locked down from EFI Secure Boot mode; see man kernel_lockdown.7\n",
        "`mokutil --sb-state` says `SecureBoot enabled` on this box.\n",
    ],
)
def test_unenrolled_key_with_secure_boot_on_is_not_a_missing_node(tmp_path: Path, secure_boot_on: str) -> None:
    text = (secure_boot_on + "/var/lib/dkms/mok.pub is not enrolled\n"
            "RuntimeError: Failed to infer device type\n")
    found = causes(tmp_path, text)
    assert found and found[0] == SB, found
    assert "device.nvidia-node-missing" not in found
    assert any("the host kernel refused the GPU module" in n for n in notes(tmp_path, text))


# review48: a README's driver prerequisite in FFmpeg's words, and a how-to's condition on the MOK, are not a failure
@pytest.mark.parametrize(
    "text,not_cause",
    [
        ("Minimum required NVIDIA driver is 535 or newer.\n", DRIVER_OLD),
        ("Requirements: the minimum required NVIDIA driver is 550.54 or newer for CUDA 12.4 images.\n", DRIVER_OLD),
        ("If the MOK key is not enrolled, the nvidia module will fail to load.\n", SB),
        ("Check whether the DKMS signing key is not enrolled yet.\n", SB),
        ("Enrol it unless the signing key is not enrolled by the installer already.\n", SB),
    ],
)
def test_review48_prose_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    assert not_cause not in causes(tmp_path, text)


def test_review48_the_forms_still_read(tmp_path: Path) -> None:
    for text in (
        "NVENC (h264_nvenc): unavailable\nRequired: NVENC API 13.0\nFound: 12.2\nMinimum required Nvidia driver is 570.0 or newer\n",
        "[hevc_nvenc @ 0x1] The minimum required Nvidia driver for nvenc is 551.76 or newer\n",
    ):
        assert DRIVER_OLD in causes(tmp_path, text), text
    for text in ("/var/lib/dkms/mok.pub is not enrolled\n", "The DKMS signing key was never enrolled, so nvidia.ko cannot load.\n"):
        assert SB in causes(tmp_path, text), text
