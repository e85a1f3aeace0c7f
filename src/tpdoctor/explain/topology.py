"""The GPU topology a log quotes: an `nvidia-smi topo -m` matrix.

`nvidia-smi topo -m` prints a header row of device names ending in "CPU Affinity" (and, on newer drivers,
"NUMA Affinity" / "GPU NUMA ID"), one row per device, then a legend:

            GPU0    GPU1    CPU Affinity    NUMA Affinity
    GPU0     X      PHB     0-63            0
    GPU1    PHB      X      0-63            0

    Legend:
      X    = Self
      SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes (e.g., QPI/UPI)
      NODE = Connection traversing PCIe as well as the interconnect between PCIe Host Bridges within a NUMA node
      PHB  = Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)
      PXB  = Connection traversing multiple PCIe bridges (without traversing the PCIe Host Bridge)
      PIX  = Connection traversing at most a single PCIe bridge
      NV#  = Connection traversing a bonded set of # NVLinks

(older drivers print SOC for SYS). The scanner keeps the header line and the rows under it (explain/context.py
capture, only on a line holding "CPU Affinity"), and `matrix_facts` reads the GPU-to-GPU cells: all PCIe
(PIX/PXB/PHB/NODE/SYS/SOC) or some NVLink (NV#). The legend lines are not rows (they do not start with GPU<n>).

AMD's twin is `rocm-smi --showtopo` (or --showtopotype), whose section (ROCm/rocm_smi_lib
python_smi_tools/rocm_smi.py; the matrix layout of its formatMatrixToJSON docstring, "GPU0   0   40") reads

    =============================== Link Type between two GPUs ===============================
           GPU0         GPU1
    GPU0   0            PCIE
    GPU1   PCIE         0

with XGMI for Infinity Fabric links (rsmi_topo_get_link_type; as posted in ROCm/ROCm#1503). Captured from its
banner line and read the same way: all PCIE, or some XGMI.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tpdoctor.explain.engine import Buffer

CAPTURE_LITERAL = "CPU Affinity"
ROCM_LITERAL = "Link Type between two GPUs"
MAX_ROWS = 72  # 8 GPUs, NICs and a blank line or two; a DGX with 16 GPUs and 18 NICs stays below
MAX_BYTES = 8 << 10
PCIE_CELLS = frozenset({"PIX", "PXB", "PHB", "NODE", "SYS", "SOC"})
_NVLINK = re.compile(r"NV\d+$")
_ROW = re.compile(r"^\s*(GPU\d+)\s+(.*)$")
_GPU_NAME = re.compile(r"^GPU\d+$")
_DEVICE_ROW = re.compile(rb"(?:GPU|NIC|mlx|CPU)\w*")


def capture_rocm(block: Buffer, start: int, end: int, limit: int) -> str:
    """rocm-smi's banner line and the matrix under it (the header row and the GPU rows), up to the next banner."""
    if not bytes(block[start:end]).strip().startswith(b"="):
        return ""
    return _with_rows(block, start, end, limit, lambda line: line.startswith(b"GPU"))


def _with_rows(block: Buffer, start: int, end: int, limit: int, is_row: Callable[[bytes], bool]) -> str:
    """block[start:end] and the (stripped) lines after it while `is_row` holds, at most MAX_ROWS."""
    rows = 0
    while end < limit and rows < MAX_ROWS:
        nxt = block.find(b"\n", end + 1, limit)
        stop = limit if nxt < 0 else nxt
        if not is_row(bytes(block[end + 1 : stop]).strip()):
            break
        end = stop
        rows += 1
    return bytes(block[start:end]).decode("utf-8", "replace")


def is_header(line: bytes) -> bool:
    """The header row: device names, then "CPU Affinity"."""
    head = line.split(b"CPU Affinity", 1)[0]
    return b"GPU0" in head and b"GPU1" in head


def capture(block: Buffer, start: int, end: int, limit: int) -> str:
    """The header line at block[start:end] and the lines after it while they look like matrix rows (start with a
    device name) or are blank; "" when the line is not a matrix header (prose that says "CPU Affinity")."""
    if not is_header(bytes(block[start:end])):
        return ""
    return _with_rows(block, start, end, limit, lambda line: not line or bool(_DEVICE_ROW.match(line)))


def matrix_facts(text: str) -> dict[str, str]:
    """`topo_links` (pcie / nvlink / xgmi), `topo_cells` (the GPU-to-GPU cell kinds seen) and `topo_gpus` (count)."""
    lines = text.splitlines()
    if lines and ROCM_LITERAL in lines[0]:
        return _rocm_facts(lines[1:])
    if not lines:
        return {}
    columns = [c for c in lines[0].split() if c]
    gpu_cols = [i for i, c in enumerate(columns) if _GPU_NAME.match(c)]
    if len(gpu_cols) < 2:
        return {}
    rows = _gpu_rows(lines[1:])
    cells = {values[i] for values in rows for i in gpu_cols if i < len(values) and values[i] != "X"}
    nvlink = {c for c in cells if _NVLINK.match(c)}
    if len(rows) < 2 or not (nvlink or cells & PCIE_CELLS):
        return {}
    return _facts("nvlink" if nvlink else "pcie", cells, len(rows))


def _rocm_facts(lines: list[str]) -> dict[str, str]:
    rows = _gpu_rows(lines[1:])
    cells = {c for values in rows for c in values if c != "0"}
    if len(rows) < 2 or not cells & {"PCIE", "XGMI"}:
        return {}
    return _facts("xgmi" if "XGMI" in cells else "pcie", cells, len(rows))


def _gpu_rows(lines: list[str]) -> list[list[str]]:
    """The cells of each `GPUn ...` row of a matrix (the device name left out); other lines skipped."""
    return [m.group(2).split() for m in map(_ROW.match, lines) if m]


def _facts(links: str, cells: set[str], gpus: int) -> dict[str, str]:
    return {"topo_links": links, "topo_cells": ",".join(sorted(cells)), "topo_gpus": str(gpus)}
