"""Expected bus bandwidth from the topology, and the healthy floor per message-size range.

The ceiling is what NCCL's ring reaches on the slowest device of the group:
    ceiling = links x per-link speed (one direction) x efficiency
Constants and where they come from (docs/verify.md repeats this table):
  NVLINK_EFFICIENCY 0.774  NCCL's practical ring/"non-allreduce" busbw on NVLink4 is ~370 GB/s of
                           18 x 26.5625 = 478.1 GB/s raw (S. Jeaugey, NVIDIA/nccl-tests#212); measured
                           ring busbw 363 (4xH200, ours and stas00/ml-engineering) and 365-367 (8xH200).
  PCIE_EFFICIENCY   0.70   inferred, not measured here: NCCL over PCIe P2P typically reaches 70-80% of
                           the per-direction line rate; lower bound taken so a healthy box is not flagged.
  PCIe line rate           GT/s x lanes x encoding / 8: 8b/10b for 2.5 and 5 GT/s, 128b/130b for 8-32 GT/s
                           (PCIe 3.0-5.0 specs), 242/256 FLIT for 64 GT/s (PCIe 6.0).
  Per-link NVLink speed    read, not assumed: NVML field NVML_FI_DEV_NVLINK_SPEED_MBPS_COMMON (90) or
                           `nvidia-smi nvlink -s` ("Link 0: 26.562 GB/s" on H100/H200).
Size ranges (floors as a fraction of the ceiling; see FLOORS):
  < 64 MiB      latency-bound: reported, not judged (2xH200 nccl-tests: 17% of ceiling at 1 MiB,
                57% at 16 MiB, so any floor there is either useless or flaky)
  64 MiB-1 GiB  floor 0.60 (lowest healthy reading: 2xH200 269 GB/s at 64 MiB = 0.73)
  >= 1 GiB      floor 0.75 (2xH200 329 GB/s at 1 GiB = 0.89, 345 at 4 GiB = 0.93)
Xe Link (Intel) and xGMI (AMD) are not modeled: there the ceiling is unknown unless the user gives
--expect-busbw. PCIe is modeled for NVIDIA devices only (Intel cards sit behind an on-board switch
whose device-side link fields do not describe the slot).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from tpdoctor.verify.results import Expectation

NVLINK_EFFICIENCY = 0.774
PCIE_EFFICIENCY = 0.70
MIB = 1 << 20
GIB = 1 << 30
# (lowest size of the range, floor as a fraction of the ceiling or None = not judged)
FLOORS: tuple[tuple[int, float | None, str], ...] = (
    (0, None, "< 64 MiB (latency-bound)"),
    (64 * MIB, 0.60, "64 MiB - 1 GiB"),
    (1 * GIB, 0.75, ">= 1 GiB"),
)

Runner = Callable[[Sequence[str]], str | None]


def size_range(nbytes: int) -> tuple[float | None, str]:
    floor, label = FLOORS[0][1], FLOORS[0][2]
    for lo, frac, name in FLOORS:
        if nbytes >= lo:
            floor, label = frac, name
    return floor, label


def _run(cmd: Sequence[str]) -> str | None:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def visible_indices(world: int, env: dict[str, str] | None = None) -> list[int] | None:
    """Physical indices of the first `world` devices under CUDA_VISIBLE_DEVICES; None if not integers."""
    env = dict(os.environ) if env is None else env
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is None or not cvd.strip():
        return list(range(world))
    parts = [p.strip() for p in cvd.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts[:world]]


# ---- NVLink -------------------------------------------------------------------------------------


def parse_nvlink_status(text: str) -> dict[int, list[float]]:
    """`nvidia-smi nvlink -s` -> {gpu index: [GB/s of each active link]}."""
    out: dict[int, list[float]] = {}
    gpu: int | None = None
    for line in text.splitlines():
        g = re.match(r"\s*GPU (\d+):", line)
        if g:
            gpu = int(g.group(1))
            out[gpu] = []
            continue
        m = re.match(r"\s*Link \d+:\s*([\d.]+)\s*GB/s", line)
        if m and gpu is not None:
            out[gpu].append(float(m.group(1)))
    return out


def parse_bus_ids(text: str) -> dict[int, str]:
    """`nvidia-smi --query-gpu=index,pci.bus_id --format=csv,noheader` -> {index: sysfs BDF}."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            out[int(parts[0])] = sysfs_bdf(parts[1])
    return out


def sysfs_bdf(bus_id: str) -> str:
    """NVML's '00000000:18:00.0' -> sysfs '0000:18:00.0'."""
    dom, _, rest = bus_id.strip().partition(":")
    try:
        return f"{int(dom, 16):04x}:{rest.lower()}"
    except ValueError:
        return bus_id.strip().lower()


def nvml_links(indices: Sequence[int], nvml: ModuleType) -> tuple[dict[int, list[float]], dict[int, str]]:
    """Active NVLinks x common speed per GPU, and bus ids, from NVML (nvidia-ml-py)."""
    links: dict[int, list[float]] = {}
    buses: dict[int, str] = {}
    nvml.nvmlInit()
    try:
        for i in indices:
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            bus: Any = nvml.nvmlDeviceGetPciInfo(h).busId
            buses[i] = sysfs_bdf(bus.decode() if isinstance(bus, bytes) else str(bus))
            active = 0
            for link in range(int(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18))):
                try:
                    if nvml.nvmlDeviceGetNvLinkState(h, link) == 1:
                        active += 1
                except Exception:  # NotSupported past the last link, or no NVLink at all
                    continue
            speed = 0.0
            if active:
                try:
                    fv = nvml.nvmlDeviceGetFieldValues(h, [90])[0]  # NVML_FI_DEV_NVLINK_SPEED_MBPS_COMMON
                    if int(fv.nvmlReturn) == 0:
                        speed = float(fv.value.uiVal) / 1000.0
                except Exception:
                    speed = 0.0
            links[i] = [speed] * active
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    return links, buses


def _import_nvml() -> ModuleType | None:
    try:
        import pynvml  # nvidia-ml-py, optional extra [nvidia]
    except Exception:
        return None
    return pynvml  # type: ignore[no-any-return]


# ---- PCIe ---------------------------------------------------------------------------------------


def pcie_encoding(gts: float) -> float:
    if gts <= 5.0:
        return 0.8
    if gts <= 32.0:
        return 128 / 130
    return 242 / 256


def pcie_gbps(sysfs_root: Path, bdf: str) -> tuple[float, str] | None:
    """Per-direction PCIe bandwidth of one device: max_link_speed (an idle link trains down) x current width."""
    dev = sysfs_root / "sys/bus/pci/devices" / bdf
    try:
        speed_text = (dev / "max_link_speed").read_text().strip()
        width_text = (dev / "current_link_width").read_text().strip()
    except OSError:
        return None
    m = re.match(r"([\d.]+)\s*GT/s", speed_text)
    if not m or not width_text.isdigit():
        return None
    gts, width = float(m.group(1)), int(width_text)
    gbps = gts * width * pcie_encoding(gts) / 8
    return gbps, f"{bdf}: PCIe {gts:g} GT/s x{width} = {gbps:.1f} GB/s per direction"


# ---- the model ----------------------------------------------------------------------------------


def expect_nvidia(
    world: int,
    *,
    env: dict[str, str] | None = None,
    run: Runner = _run,
    nvml: ModuleType | None = None,
    use_nvml: bool = True,
    sysfs_root: Path = Path("/"),
) -> Expectation:
    indices = visible_indices(world, env)
    details: list[str] = []
    if indices is None:
        details.append("CUDA_VISIBLE_DEVICES names UUIDs or MIG devices: judged on all GPUs")
    links: dict[int, list[float]] = {}
    buses: dict[int, str] = {}
    source = ""
    module = nvml if nvml is not None else (_import_nvml() if use_nvml else None)
    if module is not None:
        try:
            want = indices if indices is not None else list(range(int(module.nvmlDeviceGetCount())))
            links, buses = nvml_links(want, module)
            source = "NVML"
        except Exception as exc:
            details.append(f"NVML unavailable ({type(exc).__name__}); using nvidia-smi")
            links, buses = {}, {}
    if not links:
        text = run(["nvidia-smi", "nvlink", "-s"])
        if text is not None:
            parsed = parse_nvlink_status(text)
            links = {i: parsed.get(i, []) for i in (indices if indices is not None else sorted(parsed))}
            source = "nvidia-smi nvlink -s"
    # NVML may know the link count but not the speed: take the speed from nvidia-smi.
    if links and any(s <= 0 for v in links.values() for s in v):
        text = run(["nvidia-smi", "nvlink", "-s"])
        parsed = parse_nvlink_status(text) if text else {}
        for i, v in links.items():
            if parsed.get(i):
                links[i] = [s if s > 0 else max(parsed[i]) for s in v]
        source += " + nvidia-smi nvlink -s (speed)"
    per_gpu = {i: sum(v) for i, v in links.items() if v and all(s > 0 for s in v)}
    if links and len(per_gpu) == len(links):
        slowest = min(per_gpu, key=lambda i: per_gpu[i])
        raw = per_gpu[slowest]
        for i in sorted(links):
            details.append(
                f"GPU {i}: {len(links[i])} NVLink x {links[i][0]:.3f} GB/s = {per_gpu[i]:.1f} GB/s"
            )
        return Expectation(
            link="nvlink",
            raw_gbps=round(raw, 1),
            efficiency=NVLINK_EFFICIENCY,
            ceiling_gbps=round(raw * NVLINK_EFFICIENCY, 1),
            source=source,
            details=details,
        )
    # No NVLink: the PCIe link of the slowest GPU.
    if not buses:
        text = run(["nvidia-smi", "--query-gpu=index,pci.bus_id", "--format=csv,noheader"])
        buses = parse_bus_ids(text) if text else {}
        if indices is not None:
            buses = {i: b for i, b in buses.items() if i in indices}
    readings = [r for r in (pcie_gbps(sysfs_root, b) for b in buses.values()) if r]
    if readings and len(readings) == len(buses):
        raw = min(r[0] for r in readings)
        details.extend(r[1] for r in readings)
        return Expectation(
            link="pcie",
            raw_gbps=round(raw, 1),
            efficiency=PCIE_EFFICIENCY,
            ceiling_gbps=round(raw * PCIE_EFFICIENCY, 1),
            source="sysfs max_link_speed x current_link_width",
            details=details,
        )
    details.append("neither NVLink nor the PCIe link of every GPU could be read")
    return Expectation(link="unknown", source=source or "none", details=details)


def expect_for(vendor: str, world: int, user_gbps: float | None = None, **kw: Any) -> Expectation:
    """vendor: nvidia | amd | intel | cpu."""
    if user_gbps is not None:
        return Expectation(
            link="user", ceiling_gbps=user_gbps, source="--expect-busbw", details=["given by the user"]
        )
    if vendor == "nvidia":
        return expect_nvidia(world, **kw)
    why = {
        "amd": "xGMI / Infinity Fabric is not modeled",
        "intel": "Xe Link is not modeled",
        "cpu": "CPU (gloo) runs test the machinery, not a link",
    }.get(vendor, "unknown device")
    return Expectation(link="unknown", source="none", details=[f"{why}: pass --expect-busbw GBPS to judge"])
