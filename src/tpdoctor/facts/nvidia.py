"""NVIDIA facts: driver version, GPUs, NVLink counts and P2P capability.

Under --root only files are read (proc/driver/nvidia/version, proc/driver/nvidia/gpus/*/information;
inside a container the NVIDIA toolkit shows only the assigned GPUs there). Live, NVML is tried
first (nvidia-ml-py, optional extra, imported lazily, behind a timeout because a wedged driver can
block nvmlInit), then `nvidia-smi`. A missing tool is not an error: the facts stay unknown.
"""

from __future__ import annotations

import re
import shutil
import threading
from typing import Any

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.textfiles import read_text
from tpdoctor.model import Facts
from tpdoctor.model.facts import NvidiaFacts, NvidiaGpu
from tpdoctor.units import parse_small_int

NVML_TIMEOUT_S = 8.0
SMI_TIMEOUT_S = 10.0

# NVML p2p status codes -> the letters `nvidia-smi topo -p2p r` prints.
_P2P_STATUS = {0: "OK", 1: "CNS", 2: "GNS", 3: "TNS", 4: "NS", 5: "NS", 6: "U"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def normalize_bdf(bdf: str) -> str:
    """'00000000:3B:00.0' (NVML) and '0000:3b:00.0' (sysfs) -> '0000:3b:00.0'."""
    bdf = bdf.strip().lower()
    dom, _, rest = bdf.partition(":")
    return f"{dom[-4:].rjust(4, '0')}:{rest}" if rest else bdf


def parse_driver_version(text: str | None) -> str | None:
    """proc/driver/nvidia/version: 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159 ...'."""
    if not text:
        return None
    m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+(?:\.[0-9]+)+)", text)
    return m.group(1) if m else None


def parse_gpu_information(bdf: str, text: str, index: int) -> NvidiaGpu:
    """proc/driver/nvidia/gpus/<bdf>/information ('Model:', 'GPU UUID:', 'Device Minor:')."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    minor = fields.get("device minor")
    return NvidiaGpu(
        index=index,
        name=fields.get("model"),
        uuid=fields.get("gpu uuid"),
        bdf=normalize_bdf(bdf),
        minor=parse_small_int(minor) if minor else None,  # 5000 digits: int() raised (gsafe45)
    )


def parse_gpu_matrix(text: str) -> dict[str, str]:
    """The GPU x GPU part of `nvidia-smi topo -m` or `topo -p2p r`: '0-1' -> cell ('NV18', 'OK').

    The first line that starts with GPU<n> is the header; cells never contain spaces, so the
    first len(header) tokens after a row's label are the GPU columns.
    """
    cells: dict[str, str] = {}
    header: list[str] = []
    for raw in _ANSI.sub("", text).splitlines():
        parts = raw.split()
        if not parts:
            continue
        if parts[0].startswith("Legend"):
            break
        if not re.fullmatch(r"GPU\d+", parts[0]):
            continue
        if not header:
            header = [p for p in parts if re.fullmatch(r"GPU\d+", p)]
            continue
        i = int(parts[0][3:])
        for col, value in zip(header, parts[1 : 1 + len(header)], strict=False):
            j = int(col[3:])
            if i < j:
                cells[f"{i}-{j}"] = value
    return cells


def nvlinks_from_topo(cells: dict[str, str]) -> dict[str, int]:
    return {pair: int(v[2:]) for pair, v in cells.items() if re.fullmatch(r"NV\d+", v)}


def parse_nvlink_speed(text: str) -> float | None:
    """`nvidia-smi nvlink -s`: '\t Link 0: 26.562 GB/s' -> 26.562 (the first active link)."""
    m = re.search(r"Link\s+\d+:\s+([0-9.]+)\s*GB/s", text)
    return float(m.group(1)) if m else None


def parse_smi_query(text: str) -> tuple[list[NvidiaGpu], str | None]:
    """`nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,driver_version --format=csv,noheader`."""
    gpus: list[NvidiaGpu] = []
    driver = None
    for line in text.splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) < 5 or not cols[0].isdigit():
            continue
        gpus.append(NvidiaGpu(index=int(cols[0]), name=cols[1], uuid=cols[2], bdf=normalize_bdf(cols[3])))
        driver = cols[4]
    return gpus, driver


def _read_proc(ctx: CollectContext, facts: Facts) -> NvidiaFacts:
    nv = NvidiaFacts()
    nv.driver_version = parse_driver_version(read_text(ctx, "/proc/driver/nvidia/version", facts))
    gpus_dir = ctx.path("/proc/driver/nvidia/gpus")
    if gpus_dir.is_dir():
        for i, entry in enumerate(sorted(gpus_dir.iterdir(), key=lambda p: p.name)):
            info = read_text(ctx, f"/proc/driver/nvidia/gpus/{entry.name}/information", facts)
            if info is not None:
                nv.gpus.append(parse_gpu_information(entry.name, info, i))
    if nv.driver_version or nv.gpus:
        nv.source = "proc"
    return nv


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml_read() -> NvidiaFacts:
    import pynvml  # optional extra: nvidia-ml-py

    pynvml.nvmlInit()
    try:
        nv = NvidiaFacts(source="nvml", driver_version=_text(pynvml.nvmlSystemGetDriverVersion()))
        try:
            cuda = int(pynvml.nvmlSystemGetCudaDriverVersion_v2())
            nv.cuda_version = f"{cuda // 1000}.{cuda % 1000 // 10}"
        except pynvml.NVMLError:
            pass
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        by_bdf: dict[str, int] = {}
        for i, h in enumerate(handles):
            bdf = normalize_bdf(_text(pynvml.nvmlDeviceGetPciInfo(h).busId))
            by_bdf[bdf] = i
            gpu = NvidiaGpu(
                index=i,
                name=_text(pynvml.nvmlDeviceGetName(h)),
                uuid=_text(pynvml.nvmlDeviceGetUUID(h)),
                bdf=bdf,
            )
            try:
                gpu.minor = int(pynvml.nvmlDeviceGetMinorNumber(h))
            except pynvml.NVMLError:
                pass
            nv.gpus.append(gpu)
        for i, hi in enumerate(handles):
            for j in range(i + 1, len(handles)):
                try:
                    code = pynvml.nvmlDeviceGetP2PStatus(hi, handles[j], pynvml.NVML_P2P_CAPS_INDEX_READ)
                    nv.p2p[f"{i}-{j}"] = _P2P_STATUS.get(int(code), "U")
                except pynvml.NVMLError:
                    pass
            for link in range(int(getattr(pynvml, "NVML_NVLINK_MAX_LINKS", 18))):
                try:
                    if pynvml.nvmlDeviceGetNvLinkState(hi, link) != pynvml.NVML_FEATURE_ENABLED:
                        continue
                    remote = normalize_bdf(_text(pynvml.nvmlDeviceGetNvLinkRemotePciInfo_v2(hi, link).busId))
                except pynvml.NVMLError:
                    continue
                peer = by_bdf.get(remote)
                if peer is not None and peer > i:
                    key = f"{i}-{peer}"
                    nv.nvlinks[key] = nv.nvlinks.get(key, 0) + 1
        fid = getattr(pynvml, "NVML_FI_DEV_NVLINK_SPEED_MBPS_COMMON", None)
        if handles and nv.nvlinks and fid is not None:
            try:
                value = pynvml.nvmlDeviceGetFieldValues(handles[0], [fid])[0]
                if int(value.nvmlReturn) == 0 and value.value.uiVal:
                    nv.nvlink_gbps_per_link = int(value.value.uiVal) / 1000.0
            except (pynvml.NVMLError, AttributeError, IndexError):
                pass
        return nv
    finally:
        pynvml.nvmlShutdown()


def read_nvml(timeout_s: float = NVML_TIMEOUT_S) -> tuple[NvidiaFacts | None, str | None]:
    """NVML facts, or (None, why not). Runs in a daemon thread so a hung driver cannot hang check."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["facts"] = _nvml_read()
        except ImportError:
            box["error"] = "nvidia-ml-py not installed"
        except Exception as exc:  # NVMLError and friends: reported, never raised
            box["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=target, name="tpdoctor-nvml", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return None, f"NVML did not answer within {timeout_s:.0f}s"
    return box.get("facts"), box.get("error")


def _smi(*args: str) -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    import subprocess  # here: a --root check never runs a program, and the import costs ~5 ms

    try:
        done = subprocess.run(
            [exe, *args], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def read_nvidia_smi() -> NvidiaFacts | None:
    query = _smi("--query-gpu=index,name,uuid,pci.bus_id,driver_version", "--format=csv,noheader")
    if query is None:
        return None
    gpus, driver = parse_smi_query(query)
    nv = NvidiaFacts(source="nvidia-smi", gpus=gpus, driver_version=driver)
    topo = _smi("topo", "-m")
    if topo:
        nv.topo_matrix = _ANSI.sub("", topo).strip()
        nv.nvlinks = nvlinks_from_topo(parse_gpu_matrix(topo))
    p2p = _smi("topo", "-p2p", "r")
    if p2p:
        nv.p2p = parse_gpu_matrix(p2p)
    if nv.nvlinks:
        status = _smi("nvlink", "-s")
        nv.nvlink_gbps_per_link = parse_nvlink_speed(status) if status else None
    return nv


def collect_nvidia(ctx: CollectContext, facts: Facts) -> None:
    nv = _read_proc(ctx, facts)
    if ctx.live and (nv.gpus or ctx.path("/dev/nvidiactl").exists()):
        live, error = read_nvml()
        if live is None:
            nv.nvml_error = error
            live = read_nvidia_smi()
        if live is not None:
            live.nvml_error = nv.nvml_error
            if not live.driver_version:
                live.driver_version = nv.driver_version
            # NVML has no topo text; nvidia-smi adds it when present (cheap, and readable in reports)
            if live.source == "nvml" and live.topo_matrix is None:
                topo = _smi("topo", "-m")
                live.topo_matrix = _ANSI.sub("", topo).strip() if topo else None
            nv = live
    facts.nvidia = nv


COLLECTORS.append(collect_nvidia)
