"""Issue 13, heldout15 lessons (glearn15a): the Intel families behind its misses.

Positive lines are written from the code or the docs that print or state them (not copied from the
heldout15 logs): the kernel's PCI peer-to-peer DMA check (drivers/pci/p2pdma.c, ACS redirect and the host
bridge whitelist) and its retellings, SYCL's ONEAPI_DEVICE_SELECTOR "Too many colons" retold, vLLM's IPEX
import probe (vllm/utils.py is_xpu, vllm/platforms xpu_platform_plugin) with a oneAPI library missing,
oneAPI's setvars.sh named as the fix, a request to drop --privileged, and a hang whose only IOMMU/ACS words
say ACS redirect or the IOMMU is already off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

SELECTOR = "export ONEAPI_DEVICE_SELECTOR=level_zero:gpu:1\n"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        # drivers/pci/p2pdma.c, v5.2+ and v4.20-v5.1 forms
        ("[    3.120000] xe 0000:0e:00.0: ACS redirect is set between the client and provider (0000:12:00.0)\n"
         "[    3.120001] xe 0000:0e:00.0: to disable ACS redirect for this path, add the kernel parameter: "
         "pci=disable_acs_redir=0000:0c:01.0;0000:0d:00.0\n", "nccl.p2p-unsupported"),
        ("pci 0000:41:00.0: cannot be used for peer-to-peer DMA as ACS redirect is set between the client and "
         "provider (0000:42:00.0)\n", "nccl.p2p-unsupported"),
        ("nvme 0000:03:00.0: cannot be used for peer-to-peer DMA as the client and provider (0000:04:00.0) do not "
         "share an upstream bridge or whitelisted host bridge\n", "nccl.p2p-unsupported"),
        ("pci_p2pdma_map_type() -> PCI_P2PDMA_MAP_NOT_SUPPORTED for the two GPUs\n", "nccl.p2p-unsupported"),
        # the same retold
        ("On this board ACS redirect is enabled on every switch downstream port, and ze_peer fails.\n",
         "nccl.p2p-unsupported"),
        ("Peer-to-peer traffic is routed back through the root complex between the two B580s.\n",
         "nccl.p2p-unsupported"),
        # intel/llvm device_filter.cpp "Too many colons (:)" retold, with the selector in the log
        (SELECTOR + "Running that throws a too many colons error and only the iGPU shows up.\n", "env.invalid-value"),
        # the value itself: an entry with two colons (device_filter.cpp: Pair.size() > 2)
        ("docker run -e ONEAPI_DEVICE_SELECTOR=level_zero:gpu:1 intel/llm-scaler-vllm\n", "env.invalid-value"),
        ("environment:\n  - ONEAPI_DEVICE_SELECTOR=opencl:cpu;level_zero:gpu:0\n", "env.invalid-value"),
        # vLLM's IPEX probe, both generations
        ("WARNING 01-02 10:00:00 utils.py:218] Import Error for IPEX: libmkl_core.so.2: cannot open shared object "
         "file: No such file or directory\n", "oneccl.setvars-not-sourced"),
        ("DEBUG 01-02 10:00:00 [__init__.py:146] XPU platform is not available because: libsvml.so: cannot open "
         "shared object file: No such file or directory\n", "oneccl.setvars-not-sourced"),
        # setvars.sh named as the fix
        ("You have to source /opt/intel/oneapi/setvars.sh in the entrypoint, otherwise torch cannot find oneMKL.\n",
         "oneccl.setvars-not-sourced"),
        ("It works again after sourcing setvars.sh in the container.\n", "oneccl.setvars-not-sourced"),
        # a request to drop --privileged
        ("Please get rid of the remaining privileged containers in the examples.\n", "security.privileged"),
        ("On Linux --device=/dev/dri --group-add render can replace --device=/dev/dri --privileged.\n",
         "security.privileged"),
        ("The --privileged flag is not needed for the XPU image.\n", "security.privileged"),
    ],
)
def test_a_heldout15_family_form_is_named(tmp_path: Path, text: str, cause: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, "suggests"), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # P2P DMA possible, ACS redirect off or only a how-to
        ("map_type = PCI_P2PDMA_MAP_BUS_ADDR\nDirect PCIe P2P is possible: no ACS redirection on the path.\n",
         "nccl.p2p-unsupported"),
        ("ACS redirect is disabled on all switch ports.\n", "nccl.p2p-unsupported"),
        ("Check whether ACS redirect is enabled with lspci -vvv.\n", "nccl.p2p-unsupported"),
        # Go's net.SplitHostPort, and "too many colons" without the selector in the log
        ("dial tcp: address fe80::1:8080: too many colons in address\n", "env.invalid-value"),
        ("Error response from daemon: invalid volume spec: too many colons\n", "env.invalid-value"),
        # valid selectors, the old SYCL_DEVICE_FILTER three-part form, and sycl-ls's own device names
        ("export ONEAPI_DEVICE_SELECTOR=level_zero:0\n", "env.invalid-value"),
        ("export ONEAPI_DEVICE_SELECTOR='level_zero:0.1;!opencl:*'\n", "env.invalid-value"),
        ("SYCL_DEVICE_FILTER=level_zero:gpu:0\n", "env.invalid-value"),
        ("[ext_oneapi_level_zero:gpu:0] Intel(R) Level-Zero, Intel(R) Arc(TM) A770 Graphics 1.6 [1.3.31294]\n",
         "env.invalid-value"),
        # IPEX probe for a module that is simply not installed (a CUDA host), and plain sourcing of setvars.sh
        ("DEBUG 01-02 10:00:00 [__init__.py:146] XPU platform is not available because: No module named "
         "'intel_extension_for_pytorch'\n", "oneccl.setvars-not-sourced"),
        ("$ source /opt/intel/oneapi/setvars.sh\n:: oneAPI environment initialized ::\n",
         "oneccl.setvars-not-sourced"),
        # --privileged in a command, as a workaround, or removed by the user themselves
        ("docker run --privileged --device=/dev/dri intel/vllm:latest\n", "security.privileged"),
        ("Running the app in privileged mode fixes this.\n", "security.privileged"),
        ("I removed the privileged flag and now the GPU is gone.\n", "security.privileged"),
    ],
)
def test_a_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    found = [c for c, _ in _findings(tmp_path, text)]
    assert not_cause not in found, found


# oneCCL 2022.x on Arc Pro: the first all-reduce hangs and Level Zero loses the device (uxlfoundation/oneCCL#215)
DEVICE_LOST = "RuntimeError: level_zero backend failed with error: 20 (UR_RESULT_ERROR_DEVICE_LOST)\n"


@pytest.mark.parametrize(
    "setup",
    [
        "GPUs: 4x Arc Pro B60, P2P via pci=disable_acs_redir= on the switch ports\n",
        "kernel cmdline: quiet splash amd_iommu=off\n",
        "ACS override patch applied (pcie_acs_override=downstream,multifunction)\n",
    ],
)
def test_acs_or_iommu_turned_off_is_no_p2p_evidence_for_a_hang(tmp_path: Path, setup: str) -> None:
    text = setup + "The all_reduce hangs and then every rank aborts.\n" + DEVICE_LOST
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "xpu.device-lost", found
    assert "nccl.p2p-unsupported" not in [c for c, _ in found], found


def test_iommu_named_on_a_hang_still_points_at_p2p(tmp_path: Path) -> None:
    # the rule the exclusion narrows: IOMMU on (not off) plus a hang still selects P2P
    text = "DMAR: IOMMU enabled\nThe vLLM all-reduce hangs at tp=2.\n"
    found = _findings(tmp_path, text)
    assert found and found[0][0] == "nccl.p2p-unsupported", found
