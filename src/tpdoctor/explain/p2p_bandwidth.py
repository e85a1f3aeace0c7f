"""CUDA's P2P bandwidth probe as a log quotes it: peer writes far slower than copies through the host.

NVIDIA/cuda-samples Samples/5_Domain_Specific/p2pBandwidthLatencyTest/p2pBandwidthLatencyTest.cu (v10.x-v12.x, and
the CUDA toolkit's extras/demo_suite build) prints, after its "P2P Connectivity Matrix":

    Unidirectional P2P=Disabled Bandwidth Matrix (GB/s)
       D\\D     0      1
         0 673.20  13.15
         1  12.99 673.20
    Unidirectional P2P=Enabled Bandwidth (P2P Writes) Matrix (GB/s)     (older: "...Enabled Bandwidth Matrix (GB/s)")
       D\\D     0      1
         0 673.49   2.60
         1   2.12 672.33

(outputBandwidthMatrix: printf("   D\\\\D"), "%6d " per column, then per row "%6d " and "%6.02f " per cell). With
P2P disabled the copy is staged through host memory; with P2P enabled between GPUs that cannot really do it
(cudaDeviceCanAccessPeer == 0) the sample falls back to the same staged copy, so the two matrices agree. A peer
write that is several times *slower* than the staged copy means peer access was granted but the PCIe path breaks
it: an IOMMU (AMD-Vi / VT-d in translated mode) or PCIe ACS sends every peer TLP up to the root complex (NCCL's
troubleshooting page: "PCI Access Control Services (ACS)", "IOMMU"; the sample's own note: "lesser Bandwidth").
NCCL then uses the same broken P2P path (hangs or a collapse of all-reduce bandwidth): NCCL_P2P_DISABLE=1, or ACS
off / iommu=pt on the host.

The scanner keeps the "P2P=Disabled" header and the matrix lines after it (explain/context.py capture);
`collapse_facts` compares each off-diagonal cell of the two unidirectional matrices.
"""

from __future__ import annotations

import re

from tpdoctor.explain.engine import Buffer

CAPTURE_LITERAL = "Unidirectional P2P=Disabled Bandwidth Matrix"
_ENABLED = re.compile(r"Unidirectional P2P=Enabled Bandwidth (?:\(P2P Writes\) )?Matrix")
_HEADER = re.compile(r"^\s*D\\D(?:\s+\d+)+\s*$")
_ROW = re.compile(r"^\s*(\d+)((?:\s+\d+(?:\.\d+)?)+)\s*$")
MAX_LINES = 2 * (1 + 1 + 32) + 1  # two headers and two captions, 32 GPUs each
MAX_BYTES = 16 << 10
# a peer write below this share of the staged copy is a collapse, not noise (healthy PCIe P2P is about equal or
# faster; through NVLink it is 5-20x faster)
COLLAPSE_RATIO = 0.5


def capture(block: Buffer, start: int, end: int, limit: int) -> str:
    """The P2P=Disabled caption at block[start:end] and the matrix lines after it (captions, headers, rows)."""
    limit = min(limit, start + MAX_BYTES)
    lines = 0
    while end < limit and lines < MAX_LINES:
        nxt = block.find(b"\n", end + 1, limit)
        stop = limit if nxt < 0 else nxt
        line = bytes(block[end + 1 : stop]).decode("utf-8", "replace").rstrip("\r")
        if not (_ROW.match(line) or _HEADER.match(line) or _ENABLED.search(line)):
            break
        end = stop
        lines += 1
    return bytes(block[start:end]).decode("utf-8", "replace")


def _matrix(lines: list[str]) -> dict[tuple[int, int], float]:
    """The cells of the rows at the top of `lines` (after a D\\D header), keyed (row, column)."""
    cells: dict[tuple[int, int], float] = {}
    for line in lines:
        if _HEADER.match(line):
            continue
        m = _ROW.match(line)
        if not m:
            break
        row = int(m.group(1))
        for col, value in enumerate(m.group(2).split()):
            cells[(row, col)] = float(value)
    return cells


def collapse_facts(text: str) -> dict[str, str]:
    """`p2p_write_collapse`: the worst GPU pair whose P2P write bandwidth is below COLLAPSE_RATIO of the staged
    copy ("0->2 1.58 GB/s with P2P, 13.15 GB/s without"); {} when the two matrices are not both there."""
    lines = text.splitlines()
    if not lines or CAPTURE_LITERAL not in lines[0]:
        return {}
    enabled_at = next((i for i, line in enumerate(lines) if _ENABLED.search(line)), None)
    if enabled_at is None:
        return {}
    disabled = _matrix(lines[1:enabled_at])
    enabled = _matrix(lines[enabled_at + 1 :])
    worst: tuple[float, int, int] | None = None
    for (row, col), off in disabled.items():
        on = enabled.get((row, col))
        if row == col or on is None or off <= 0:
            continue
        ratio = on / off
        if ratio < COLLAPSE_RATIO and (worst is None or ratio < worst[0]):
            worst = (ratio, row, col)
    if worst is None:
        return {}
    _, row, col = worst
    return {
        "p2p_write_collapse": f"{row}->{col} {enabled[(row, col)]:.2f} GB/s with P2P, "
        f"{disabled[(row, col)]:.2f} GB/s without"
    }
