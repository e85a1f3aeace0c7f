"""Issue 13, heldout20 lessons (glearn20b): GPU peer-to-peer broken by the platform, or forced off.

Lines are written from the code that prints them (not copied from the heldout20 logs): the Intel VT-d fault record
of drivers/iommu/intel/dmar.c dmar_fault_do_one in its v3 two-line, v4-v5.4, v5.5 PASID and v5.10+ NO_PASID forms;
AMD-Vi's IO_PAGE_FAULT without the device's driver (device= with and without the PCI segment); the IOMMU kernel
parameter told as what made the failure go away ("resolves only when booted with iommu=soft"); club-3090's
NVLINK_MODE=force_off boot line (scripts/detect_nvlink.sh) and its auditor's verdict (scripts/lib/p2p-state.sh).
Neighbours that must stay clean: faults of the chipset's own devices (bus 00, the Intel iGPU at 00:02.0),
interrupt-remapping faults, other DMAR reasons, advice and negated IOMMU prose, club-3090's auto path that found no
P2P, and a bare CUDA mask on a command line that holds the word "error" (tensorflow#57893).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes, findings, notes

P2P = "nccl.p2p-unsupported"


@pytest.mark.parametrize(
    "text",
    [
        # v4.x-v5.4: "[%s] Request device [%02x:%02x.%d] fault addr %llx [fault reason %02d] %s"
        "[ 9120.331207] DMAR: [DMA Write] Request device [3b:00.0] fault addr e8120000 [fault reason 05] PTE Write access is not set\n",
        "[ 9120.331901] DMAR: [DMA Read] Request device [d8:00.0] fault addr c4000000 [fault reason 06] PTE Read access is not set\n",
        # v5.5-v5.9: PASID %x before "fault addr"
        "kernel: DMAR: [DMA Write] Request device [af:00.0] PASID ffffffff fault addr 9c410000 [fault reason 05] PTE Write access is not set\n",
        # v5.10-v5.12: "[%s NO_PASID] Request device [0x%02x:0x%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s"
        "DMAR: [DMA Write NO_PASID] Request device [0x18:0x00.0] fault addr 0xf8139000 [fault reason 0x05] PTE Write access is not set\n",
        # v5.13+: the BDF without 0x; "[%s PASID 0x%x]" when a PASID is present
        "Dec 01 10:02:11 gpu7 kernel: DMAR: [DMA Read NO_PASID] Request device [86:00.0] fault addr 0xd0000000 [fault reason 0x06] PTE Read access is not set\n",
        "DMAR: [DMA Write PASID 0x2] Request device [5e:00.0] fault addr 0xe1000000 [fault reason 0x05] PTE Write access is not set\n",
        # v2.6/v3: the record split over two lines, the first ends at the address
        "DMAR:[DMA Write] Request device [04:00.0] fault addr fbe00000 \nDMAR:[fault reason 05] PTE Write access is not set\n",
        # AMD-Vi without the device's driver: device=%02x:%02x.%x (<=v5.15), device=%04x:%02x:%02x.%x (v5.16+)
        "AMD-Vi: Event logged [IO_PAGE_FAULT device=41:00.0 domain=0x0011 address=0x00000000fc0000c0 flags=0x0030]\n",
        "[ 2211.031874] AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:c1:00.0 domain=0x0027 address=0xd8000000 flags=0x0020]\n",
        # the host-side IOMMU fix told with the verb first
        "Copies from cuda:0 to cuda:1 come back as zeros; this resolves only when the kernel is booted with `iommu=soft` or `iommu=off`.\n",
        "The garbage in the all-reduce went away after booting with amd_iommu=off.\n",
        "Training works once the host runs with intel_iommu=off on the kernel command line.\n",
    ],
)
def test_platform_iommu_breaking_p2p_is_named(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [(P2P, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # the chipset's own devices sit on bus 00 (the Intel iGPU at 00:02.0, SATA, USB): not a GPU behind a root port
        "DMAR: [DMA Read] Request device [00:02.0] fault addr 7a3f1000 [fault reason 06] PTE Read access is not set\n",
        "DMAR: [DMA Write NO_PASID] Request device [00:17.0] fault addr 0xfe000000 [fault reason 0x05] PTE Write access is not set\n",
        "AMD-Vi: Event logged [IO_PAGE_FAULT device=00:14.0 domain=0x0000 address=0x0000000000000000 flags=0x0000]\n",
        # interrupt remapping and other reasons of the same record are not a GPU's DMA refused
        "DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 0x0 [fault reason 0x25] Blocked a compatibility format interrupt request\n",
        "DMAR: [DMA Read NO_PASID] Request device [02:00.0] fault addr 0x0 [fault reason 0x02] Present bit in context entry is clear\n",
        # the IOMMU being set up, and the fix given as advice, a conditional or negated (a hang beside a named IOMMU
        # setting is read by the hang correlation instead: ghang)
        "DMAR: IOMMU enabled\nDMAR: Intel(R) Virtualization Technology for Directed I/O\n",
        "Try booting with iommu=pt, it usually fixes it.\n",
        "It still returns zeros even when booted with iommu=soft.\n",
        "The corruption is not fixed with iommu=pt either.\n",
    ],
)
def test_iommu_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert P2P not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        # detect_nvlink.sh force_off, the first form and the later one with "(P2P off)"
        "[nvlink] NVLINK_MODE=force_off — forcing PCIe mode\n[nvlink] P2P DISABLED — NCCL_P2P_DISABLE=1, custom all-reduce OFF\n",
        "[nvlink] NVLINK_MODE=force_off - forcing PCIe mode (P2P off)\n",
        # p2p-state.sh p2p_verdict, capability present and engagement off
        "ℹ interconnect: this driver reports PCIe P2P available (patched driver / P2P-capable layout) but the serving "
        "container is running with P2P OFF. Every multi-GPU vLLM compose auto-enables P2P from its own entrypoint\n",
        "⚠ interconnect WARN: an NVLink bridge is present on this host but the serving container is running with P2P OFF "
        "— the bridge is idle.\n",
    ],
)
def test_p2p_forced_off_is_named(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [("nccl.p2p-disabled", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # the auto path that found no P2P: NCCL_P2P_DISABLE=1 is the right setting there
        "[nvlink] 4 GPUs detected — no NVLink, no P2P — using PCIe mode\n"
        "[nvlink] P2P DISABLED — NCCL_P2P_DISABLE=1, custom all-reduce OFF, expandable_segments ON\nNVLINK_MODE=auto\n",
        "[nvlink] PCIe topology (PHB), P2P not available (topo -p2p: no OK) — using PCIe mode\n",
        # the other overrides and the engaged verdict
        "[nvlink] NVLINK_MODE=force_on — enabling NVLink mode\n",
        "✓ interconnect: PCIe P2P engaged (patched driver, custom all-reduce ON)\n",
        "NVLINK_MODE=force_off\n",
    ],
)
def test_p2p_auto_off_stays_clean(tmp_path: Path, text: str) -> None:
    assert "nccl.p2p-disabled" not in causes(tmp_path, text)


def test_cuda_mask_on_a_command_line_is_not_the_all_value(tmp_path: Path) -> None:
    # the `=all` signature's loose twin read any line holding CUDA_VISIBLE_DEVICES and a failure word
    text = 'CUDA_VISIBLE_DEVICES="0,1" python check_error_rate.py\niteration=1 averaged_loss = nan\n'
    assert "cuda.visible-devices-mismatch" not in causes(tmp_path, text)
    # the value `all` itself is still read
    assert "cuda.visible-devices-mismatch" in causes(tmp_path, "CUDA_VISIBLE_DEVICES=all python3 serve.py\nRuntimeError: No CUDA GPUs are available\n")
    assert isinstance(notes(tmp_path, text), list)
