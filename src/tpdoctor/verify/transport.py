"""Read which transport the backend chose from its own INFO log.

NCCL (NCCL_DEBUG=INFO, subsystem INIT) prints one line per channel connection, e.g.
  host:12:34 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read
  host:12:34 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via SHM/direct/direct
  host:12:34 [0] NCCL INFO Channel 00/0 : 1[0] -> 0[0] [receive] via NET/Socket/0
  (older releases: "Channel 00 : 0[3000] -> 1[4000] via P2P/IPC")
(format strings in NCCL src/transport/p2p.cc, shm.cc, net.cc). RCCL prints the same lines.
oneCCL (CCL_LOG_LEVEL=info) prints its effective settings, e.g.
  ... |CCL_INFO| CCL_ZE_IPC_EXCHANGE: sockets
Kept deliberately small: the explain module owns the general log knowledge base.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from tpdoctor.verify.results import TransportInfo

_CHANNEL = re.compile(
    r"Channel\s+(?P<ch>\d+)(?:/(?P<conn>\d+))?\s*:\s*(?P<src>\d+)\[[0-9a-fA-Fx]+\]\s*->\s*"
    r"(?P<dst>\d+)\[[0-9a-fA-Fx]+\](?:\s*\[(?:send|receive)\])?\s+via\s+(?P<via>\S+)"
)
_NCCL_VERSION = re.compile(r"NCCL version (\S+)")
_CCL_IPC = re.compile(r"CCL_ZE_IPC_EXCHANGE:\s*(\w+)")
# init.cc: INFO(NCCL_INIT, "%d coll channels, %d collnet channels, %d nvls channels, ...")
_COLL_CHANNELS = re.compile(r"NCCL INFO (\d+) coll channels")
# misc/param.cc: "%s set by environment to %lld."; graph/tuning.cc: "NCCL_ALGO set by environment to %s";
# graph/paths.cc: "%s set by environment to %d" (NCCL_P2P_DISABLE...), "... to %s" (NCCL_P2P_LEVEL)
_ENV_SET = re.compile(r"NCCL INFO (NCCL_\w+) set by environment to (.+?)\.?\s*$")
# Transports that move data through host memory or the network stack instead of GPU peer access.
FALLBACK_TRANSPORTS = ("SHM", "NET", "COLLNET")


def transport_of(via: str) -> str:
    """'P2P/CUMEM/read' -> 'P2P'; 'NET/Socket/0' -> 'NET/Socket'; 'PSM_P2P/CUMEM' -> 'P2P'."""
    parts = via.split("/")
    head = parts[0].upper()
    if head.endswith("P2P"):
        return "P2P"
    if head == "NET" and len(parts) > 1:
        return f"NET/{parts[1]}"
    return head


def parse_logs(lines: Iterable[str], backend: str, keep: int = 6) -> tuple[TransportInfo, str | None]:
    """Count channels per transport; return (info, backend version if printed)."""
    counts: Counter[str] = Counter()
    samples: dict[str, list[str]] = {}
    version: str | None = None
    ipc: str | None = None
    coll_channels: int | None = None
    env_lines: dict[str, str] = {}
    for raw in lines:
        line = raw.rstrip("\n")
        if "coll channels" in line:
            cm_ = _COLL_CHANNELS.search(line)
            if cm_:
                n = int(cm_.group(1))
                coll_channels = n if coll_channels is None else min(coll_channels, n)
                continue
        if "set by environment to" in line:
            em = _ENV_SET.search(line)
            if em:
                env_lines.setdefault(em.group(1), line.strip()[:300])
                continue
        if "Channel" in line and " via " in line:
            m = _CHANNEL.search(line)
            if m:
                t = transport_of(m.group("via"))
                counts[t] += 1
                bucket = samples.setdefault(t, [])
                if len(bucket) < keep:
                    bucket.append(line.strip()[:300])
                continue
        if version is None and "NCCL version" in line:
            vm = _NCCL_VERSION.search(line)
            if vm:
                version = vm.group(1)
        if "CCL_ZE_IPC_EXCHANGE" in line:
            cm = _CCL_IPC.search(line)
            if cm:
                ipc = cm.group(1)
    ordered = [ln for t in sorted(samples) for ln in samples[t]]
    info = TransportInfo(
        backend=backend,
        transports=dict(counts),
        lines=ordered,
        ccl_ipc_exchange=ipc,
        coll_channels=coll_channels,
        env_lines=env_lines,
        readable=bool(counts) or ipc is not None,
    )
    return info, version


def fallbacks(info: TransportInfo) -> dict[str, int]:
    """Channels that went through host memory or sockets: {'SHM': 24, 'NET/Socket': 2}."""
    return {t: c for t, c in info.transports.items() if t.split("/")[0] in FALLBACK_TRANSPORTS}
