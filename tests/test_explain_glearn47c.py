"""Issue 13, heldout47 lessons (glearn47c): host drivers and kernel.

Lines are written from the code that prints them (not copied from the heldout47 logs): NVIDIA's kernel module naming
the in-tree driver that owns the GPU (kernel-open/nvidia/nv-pci.c check_for_bound_driver, "NVRM: GPU %04x:%02x:%02x.%x
is already bound to %s.", since 550), with nouveau and its Rust successor nova-core (PCI driver "NovaCore", module
nova_core) as lspci -k and lsmod print them; nvidia-installer's generic "Unable to load the kernel module" read with
Secure Boot on (mokutil --sb-state); amdkfd's "skipped device %x:%x, PCI rejects atomics" ranked above the ROCr
hsa_init status it causes; CUDA's 35 from CatBoost's CUDA_SAFE_CALL ("<file>:<line>: CUDA error %d: %s") on a host,
and from a native Windows build whose __FILE__ uses forward slashes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from tpdoctor.explain import explain

_INSTALLER = (
    "ERROR: Unable to load the kernel module 'nvidia.ko'.  This happens most frequently when this kernel module was "
    "built against the wrong or improperly configured kernel sources, with a version of gcc that differs from the one "
    "used to build the target kernel, or if another driver, such as nouveau, is present and prevents the NVIDIA kernel "
    "module from obtaining ownership of the NVIDIA device(s), or no NVIDIA device installed in this system is "
    "supported by this NVIDIA Linux graphics driver release.\n"
)
_SHORT_INSTALLER = "ERROR: Unable to load the kernel module 'nvidia.ko'.\n"
_CUDA35 = "CUDA driver version is insufficient for CUDA runtime version"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # NVRM names the in-tree driver that owns the GPU: nova-core's PCI driver name, nouveau, the journal form
        (_SHORT_INSTALLER + "-> Kernel module load error: No such device\n"
         "[   88.120001] NVRM: GPU 0000:41:00.0 is already bound to NovaCore.\n"
         "[   88.120457] NVRM: No NVIDIA devices probed.\n", "host.nouveau-loaded"),
        ("Jan 05 09:00:01 gpu01 kernel: NVRM: GPU 0000:65:00.0 is already bound to nouveau.\n"
         "Jan 05 09:00:01 gpu01 kernel: NVRM: No NVIDIA devices probed.\n", "host.nouveau-loaded"),
        (_INSTALLER + "[   12.000002] NVRM: GPU 0000:02:00.0 is already bound to nouveau.\n", "host.nouveau-loaded"),
        # the installer's failure with lspci -k / lsmod showing the in-tree driver on the GPU
        (_INSTALLER + "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102 [GeForce RTX 4090] "
         "[10de:2684] (rev a1)\n\tKernel driver in use: NovaCore\n\tKernel modules: nova_core, nouveau, nvidia\n",
         "host.nouveau-loaded"),
        (_INSTALLER + "$ lsmod | grep nouveau\nnouveau              3096576  2\nmxm_wmi                12288  1 nouveau\n",
         "host.nouveau-loaded"),
        # Secure Boot on and the installer's generic load failure with no other reason in the log
        ("$ mokutil --sb-state\nSecureBoot enabled\n" + _INSTALLER, "host.secure-boot-unsigned-module"),
        (_INSTALLER + "bootctl status:\n  Secure Boot: enabled (user)\n", "host.secure-boot-unsigned-module"),
        # amdkfd's skip (both forms) is why ROCr's hsa_init failed
        ("hsa api call failure at line 1000, file: /src/rocminfo/rocminfo.cc. Call returned 4104\n"
         "[    3.118801] kfd kfd: skipped device 1002:67df, PCI rejects atomics\n", "rocm.pcie-atomics-unsupported"),
        ("hsa api call failure at: /src/rocminfo/rocminfo.cc:1207\n"
         "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed to allocate the necessary resources.\n"
         "[   77.250601] kfd kfd: amdgpu: skipped device 1002:67ff, PCI rejects atomics 730<0\n",
         "rocm.pcie-atomics-unsupported"),
        # CatBoost's CUDA_SAFE_CALL with 35 on a host: Python, R, a Windows wheel built on GitHub Actions
        ("_catboost.CatBoostError: /src/catboost/catboost/cuda/cuda_lib/cuda_base.h:281: CUDA error 35: "
         f"{_CUDA35}\n", "cuda.driver-too-old"),
        ("Error in catboost.train(pool, NULL, params = params) :\n  catboost/cuda/cuda_lib/cuda_base.h:283: CUDA error "
         f"35: {_CUDA35}\n", "cuda.driver-too-old"),
        (f"CatBoostError: D:/a/catboost/catboost/catboost/cuda/cuda_lib/cuda_base.h:281: CUDA error 35: {_CUDA35}\n",
         "cuda.driver-too-old"),
        # a native Windows build whose __FILE__ has forward slashes (CMake + Ninja)
        (f"C:/Users/dev/src/denoise/kernels.cu(88): CUDA error 35: {_CUDA35}\n", "cuda.driver-too-old"),
    ],
)
def test_a_heldout47c_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (cause, "suggests"), got


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # a GPU reserved for VMs (vfio-pci) or a nameless driver is not the in-tree driver to blacklist
        (_SHORT_INSTALLER + "NVRM: GPU 0000:41:00.0 is already bound to vfio-pci.\n", "host.nouveau-loaded"),
        (_SHORT_INSTALLER + "NVRM: GPU 0000:41:00.0 is already bound to another driver.\n", "host.nouveau-loaded"),
        # lspci's list of modules that could drive it is no owner; the nvidia driver in use is fine
        (_INSTALLER + "\tKernel driver in use: nvidia\n\tKernel modules: nouveau, nova_core, nvidia_drm, nvidia\n",
         "host.nouveau-loaded"),
        # a healthy desktop on nouveau: nothing failed
        ("01:00.0 VGA compatible controller: NVIDIA Corporation TU117 [GeForce GTX 1650] (rev a1)\n"
         "\tKernel driver in use: nouveau\n", "host.nouveau-loaded"),
        # Secure Boot on, but the log says why otherwise: no device (ENODEV), no kernel source, nouveau
        ("SecureBoot enabled\n" + _SHORT_INSTALLER + "-> Kernel module load error: No such device\n",
         "host.secure-boot-unsigned-module"),
        ("SecureBoot enabled\nERROR: Unable to find the kernel source tree for the currently running kernel.  Please "
         "make sure you have installed the kernel source files for your kernel.\n", "host.secure-boot-unsigned-module"),
        ("SecureBoot enabled\n" + _INSTALLER + "\tKernel driver in use: nouveau\n", "host.secure-boot-unsigned-module"),
        ("SecureBoot disabled\n" + _INSTALLER, "host.secure-boot-unsigned-module"),
        # CatBoost in a container started without a GPU: the 35 is the missing driver library, not an old driver
        ("$ docker run --rm -it my/catboost-gpu python train.py\n_catboost.CatBoostError: "
         f"/src/catboost/catboost/cuda/cuda_lib/cuda_base.h:281: CUDA error 35: {_CUDA35}\n", "cuda.driver-too-old"),
        # another CatBoost CUDA error is not a driver-version problem
        ("_catboost.CatBoostError: /src/catboost/catboost/cuda/cuda_lib/cuda_base.h:281: CUDA error 2: out of memory\n",
         "cuda.driver-too-old"),
        # a Linux path with forward slashes is not a Windows build
        (f"/home/dev/src/denoise/kernels.cu(88): CUDA error 35: {_CUDA35}\n", "cuda.driver-too-old"),
    ],
)
def test_a_heldout47c_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    got = _causes(tmp_path, text)
    assert not got or got[0] != not_cause, got


def test_the_kfd_skip_drops_the_missing_kfd_reading(tmp_path: Path) -> None:
    text = (
        "hsa api call failure at line 1000, file: /src/rocminfo/rocminfo.cc. Call returned 4104\n"
        "[    3.118801] kfd kfd: skipped device 1002:67df, PCI rejects atomics\n"
    )
    assert "device.kfd-missing" not in _causes(tmp_path, text)
    # without the skip, the status still reads as a missing /dev/kfd
    assert _causes(tmp_path, text.splitlines(keepends=True)[0])[0] == "device.kfd-missing"


def test_the_in_tree_driver_owns_the_gpu_so_no_driver_is_its_consequence(tmp_path: Path) -> None:
    text = _SHORT_INSTALLER + "[   88.120001] NVRM: GPU 0000:41:00.0 is already bound to NovaCore.\n"
    assert _causes(tmp_path, text) == ["host.nouveau-loaded"]


def test_nvidia_smi_without_driver_and_nouveau_relates_nouveau(tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    log.write_text(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA "
        "driver is installed and running.\n\tKernel driver in use: nouveau\n",
        encoding="utf-8",
    )
    related = {r for f in explain([str(log)]).findings for r in [f.cause, *f.related]}
    assert "host.nouveau-loaded" in related
