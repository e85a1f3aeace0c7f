"""Issue 13, gnew47: host.hyperv-gpu-mmio-too-small (a Hyper-V VM with too little MMIO space for its GPU) and
host.ldconfig-not-found (Triton's libcuda lookup cannot run ldconfig).

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- hv_pci (Discrete Device Assignment): torvalds/linux drivers/pci/host/pci-hyperv.c (021ad274) and
  drivers/pci/controller/pci-hyperv.c hv_pci_allocate_bridge_windows, dev_err(&hbus->hdev->device, "Need %#llx of low
  MMIO space. Consider reconfiguring the VM.\\n") and the same for high, behind the kernel's "[ <time>] hv_pci <instance
  GUID>: " device prefix (%#llx prints 0x + hex).
- dxgkrnl (GPU-PV): microsoft/WSL2-Linux-Kernel drivers/hv/dxgkrnl/dxgmodule.c dxgglobal_getiospace ("Unable to
  allocate mmio memory: %d", pr_err in the 5.10 drops, DXG_ERR through dev_err(DXGDEV, "%s: " fmt, __func__) later)
  and dxgglobal_init_global_channel ("getiospace failed: %d"), with vmbus_allocate_mmio's -ENXIO.
- Triton: triton-lang/triton python/triton/common/build.py libcuda_dirs (subprocess.check_output(["ldconfig", "-p"]) in
  2.1.0, ["/sbin/ldconfig", "-p"] in 2.2.0/2.3.0) and python/triton/backends/nvidia/driver.py (3.0.0, 3.1.0), read in
  the released wheels, through CPython's subprocess._execute_child (FileNotFoundError(errno, strerror, filename):
  "[Errno 2] No such file or directory: '<program>'").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_MMIO = "host.hyperv-gpu-mmio-too-small"
_LDCONFIG = "host.ldconfig-not-found"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew47)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded_with_remedies() -> None:
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.fixes import remedies

    got = _ids()
    for sid in ("hyperv.pci-mmio-space-too-small", "hyperv.dxgkrnl-mmio-alloc-failed", "triton.ldconfig-not-found"):
        assert sid in got, sid
    kb = knowledge_base()
    for cause in (_MMIO, _LDCONFIG):
        assert cause in {c for s in kb.signatures for c in s.causes}, cause
        assert remedies(cause), cause


@pytest.mark.parametrize(
    "text",
    [
        # DDA of a 48 GB GPU into a VM left at the default high MMIO gap: dmesg in the guest, then no GPU
        "[    2.401117] hv_pci 7a1c93d2-5b0e-4f61-a2c8-3e9d0b4f6a15: PCI VMBus probing: Using version 0x10004\n"
        "[    2.409530] hv_pci 7a1c93d2-5b0e-4f61-a2c8-3e9d0b4f6a15: Need 0x1002000000 of high MMIO space. "
        "Consider reconfiguring the VM.\n"
        "$ nvidia-smi\nNo devices were found\n",
        # the low gap
        "hv_pci 0f3e2d1c-4b5a-6978-8a9b-0c1d2e3f4a5b: Need 0x2000000 of low MMIO space. Consider reconfiguring the VM.\n",
        # journalctl -k form
        "Dec 01 10:00:02 gpu-vm kernel: hv_pci 11112222-3333-4444-5555-666677778888: Need 0x3004000000 of high MMIO "
        "space. Consider reconfiguring the VM.\n",
    ],
)
def test_hv_pci_asking_for_more_mmio_space_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_MMIO, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # dxgkrnl 6.x: dev_err with the function name, then its caller
        "[    3.201544] misc dxg: dxgk: dxgglobal_getiospace: Unable to allocate mmio memory: -6\n"
        "[    3.201551] misc dxg: dxgk: dxgglobal_init_global_channel: getiospace failed: -6\n"
        "$ python3 -c 'import torch; print(torch.cuda.is_available())'\nFalse\n",
        # the 5.10 drops' pr_err form
        "[    1.902211] dxgk: Unable to allocate mmio memory: -6\n",
        # the caller's line alone
        "kernel: misc dxg: dxgk: dxgglobal_init_global_channel: getiospace failed: -12\n",
    ],
)
def test_dxgkrnl_failing_to_map_its_channel_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_MMIO, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # healthy probes
        "[    2.401117] hv_pci 7a1c93d2-5b0e-4f61-a2c8-3e9d0b4f6a15: PCI VMBus probing: Using version 0x10004\n"
        "[    2.418001] hv_pci 7a1c93d2-5b0e-4f61-a2c8-3e9d0b4f6a15: PCI host bridge to bus 7a1c:00\n",
        "[    3.201544] misc dxg: dxgk: mmio allocated fe0000000  8000000 fe0000000 fe7ffffff\n",
        # another hypervisor's MMIO failure (cloud-hypervisor's BAR move), and a BIOS large-BAR note
        "Failed moving device BAR: failed allocating new MMIO range: 0xe7f00000->0x0(0x80000)\n",
        "NVRM: This PCI I/O region assigned to your NVIDIA device is invalid:\n",
        # the words in a question
        "Do I need more MMIO space for DDA? How do I reconfigure the VM for a GPU?\n",
    ],
)
def test_mmio_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("hyperv.pci-mmio-space-too-small")
    assert _MMIO not in _all(tmp_path, text)


# --- host.ldconfig-not-found ----------------------------------------------------------------------------------------


def _traceback(frame: str, call: str, program: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "/opt/venv/lib/python3.10/site-packages/triton/{frame}", line 24, in libcuda_dirs\n'
        f"    libs = subprocess.check_output({call}).decode()\n"
        '  File "/usr/lib/python3.10/subprocess.py", line 1863, in _execute_child\n'
        "    raise child_exception_type(errno_num, err_msg, err_filename)\n"
        f"FileNotFoundError: [Errno 2] No such file or directory: '{program}'\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        # Triton 2.1: a bare 'ldconfig' through a PATH without /sbin
        _traceback("common/build.py", '["ldconfig", "-p"]', "ldconfig"),
        # Triton 2.2/2.3 and 3.x: the absolute path on a system without it
        _traceback("common/build.py", '["/sbin/ldconfig", "-p"]', "/sbin/ldconfig"),
        _traceback("backends/nvidia/driver.py", '["/sbin/ldconfig", "-p"]', "/sbin/ldconfig"),
        # an inductor error wrapping it on one line
        "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised:\n"
        "FileNotFoundError: [Errno 2] No such file or directory: '/sbin/ldconfig'\n",
    ],
)
def test_ldconfig_missing_for_tritons_libcuda_lookup_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_LDCONFIG, "proves"), got


@pytest.mark.parametrize(
    "text",
    [
        # the toolkit's ldconfig.real and a shell's missing command are other programs
        "FileNotFoundError: [Errno 2] No such file or directory: '/sbin/ldconfig.real'\n",
        "bash: ldconfig: command not found\n",
        # a healthy lookup, and the message Triton prints when the cache has no libcuda (another cause)
        "libcuda.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libcuda.so.1\n",
        "AssertionError: libcuda.so cannot found!\n",
        # another file of that name in a path
        "FileNotFoundError: [Errno 2] No such file or directory: '/etc/ld.so.conf.d/ldconfig'\n",
    ],
)
def test_ldconfig_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("triton.ldconfig-not-found")
    assert _LDCONFIG not in _all(tmp_path, text)
